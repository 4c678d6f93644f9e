/**
 * The wire formats (issue 22): each module's body for one conversation, its answers and events read back
 * into the package's shape, and the call rules of chat-client.ts in every format against hostile servers
 * that speak it: an error event mid-stream, an event that never ends, oversized tool arguments, and a
 * server that echoes the access token. Run: node --import tsx --test test/formats.test.ts
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';

import type { StreamChunk } from '@n8n/ai-node-sdk';

import { TokenCache } from '../nodes/shared/auth/token-cache';
import { parseProviderConfig, type ApiFormat, type ApiSettings, type ProviderConfig } from '../nodes/shared/config/provider-config';
import { OAuth2Error } from '../nodes/shared/core/errors';
import { DEFAULT_ANTHROPIC_MAX_TOKENS } from '../nodes/shared/wire/anthropic-wire';
import { completeChat, listModels, streamChat } from '../nodes/shared/wire/chat-client';
import { StreamedAnswer, type ChatDelta, type OpenAiMessage } from '../nodes/shared/wire/openai-wire';
import { callApiSettings, wireFormatOf, type ChatRequest } from '../nodes/shared/wire/wire-format';
import { toOutputJson } from '../nodes/OAuth2LlmChat/response';
import { OAuth2ChatModel } from '../nodes/OAuth2LlmChatModel/model';
import { embedTexts } from '../nodes/OAuth2LlmEmbeddings/embeddings';
import { hostileServer } from './helpers/hostile-server';
import { vertexBaseUrl } from './sandbox/formats';
import { startSandboxServer, type SandboxServer } from './sandbox/server';

const FORMATS: ApiFormat[] = ['chatCompletions', 'responses', 'anthropicMessages', 'anthropicVertex'];
const api = (format: ApiFormat, extra: Partial<ApiSettings> = {}): ApiSettings => ({ format, anthropicVersion: '2023-06-01', storeResponses: false, ...extra });
const PNG = 'data:image/png;base64,iVBORw0KGgo=';

/** One conversation with everything a format must carry: system, an image, a tool call and its result, a tool. */
const conversation: ChatRequest = {
	settings: {
		model: 'claude-x@2025',
		temperature: 0.2,
		maxTokens: 300,
		tools: [{ type: 'function', function: { name: 'Calculator', description: 'Does sums', parameters: { type: 'object', properties: { input: { type: 'string' } } } } }],
	},
	messages: [
		{ role: 'system', content: 'Be brief.' },
		{ role: 'user', content: [{ type: 'text', text: 'What is 2+2? And this?' }, { type: 'image_url', image_url: { url: PNG } }] },
		{ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'Calculator', arguments: '{"input":"2+2"}' } }] },
		{ role: 'tool', tool_call_id: 'call_1', content: '4' },
		{ role: 'user', content: 'Thanks' },
	] as OpenAiMessage[],
};

describe('each module puts one conversation on the wire in its own shape', () => {
	it('Responses: instructions, input items, function tools (not strict unless asked), max_output_tokens, store false', () => {
		const body = wireFormatOf('responses').chatBody(conversation, api('responses'), false);
		assert.deepEqual(body, {
			model: 'claude-x@2025',
			instructions: 'Be brief.',
			input: [
				{ role: 'user', content: [{ type: 'input_text', text: 'What is 2+2? And this?' }, { type: 'input_image', image_url: PNG, detail: 'auto' }] },
				{ type: 'function_call', call_id: 'call_1', name: 'Calculator', arguments: '{"input":"2+2"}' },
				{ type: 'function_call_output', call_id: 'call_1', output: '4' },
				{ role: 'user', content: 'Thanks' },
			],
			store: false,
			temperature: 0.2,
			max_output_tokens: 300,
			tools: [{ type: 'function', name: 'Calculator', description: 'Does sums', parameters: { type: 'object', properties: { input: { type: 'string' } } }, strict: false }],
		});
		const stored = wireFormatOf('responses').chatBody({ ...conversation, settings: { ...conversation.settings, reasoningEffort: 'high', responseFormat: 'json_object' } }, api('responses', { storeResponses: true }), true);
		assert.equal(stored.store, true);
		assert.deepEqual(stored.reasoning, { effort: 'high' });
		assert.deepEqual(stored.text, { format: { type: 'json_object' } });
		assert.equal(stored.stream, true);
	});

	it('Anthropic Messages: system apart, max_tokens always, tool_use and tool_result blocks, base64 images; the version header', () => {
		const wire = wireFormatOf('anthropicMessages');
		const body = wire.chatBody(conversation, api('anthropicMessages'), false);
		assert.deepEqual(body, {
			model: 'claude-x@2025',
			system: 'Be brief.',
			max_tokens: 300,
			temperature: 0.2,
			messages: [
				{ role: 'user', content: [{ type: 'text', text: 'What is 2+2? And this?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] },
				{ role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'Calculator', input: { input: '2+2' } }] },
				// The tool result first in the user turn, what the user said next after it.
				{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '4' }, { type: 'text', text: 'Thanks' }] },
			],
			tools: [{ name: 'Calculator', description: 'Does sums', input_schema: { type: 'object', properties: { input: { type: 'string' } } } }],
		});
		const plain = wire.chatBody({ settings: { model: 'm' }, messages: [{ role: 'user', content: 'hi' }] }, api('anthropicMessages'), true);
		assert.deepEqual(plain, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS, stream: true });
		assert.deepEqual(wire.headers(api('anthropicMessages', { anthropicVersion: '2024-01-01' })), { 'anthropic-version': '2024-01-01' });
		assert.throws(() => wire.headers(api('anthropicMessages', { anthropicVersion: '2023-06-01\r\nX-Evil: 1' })), /Anthropic Version must be a version/);
	});

	it('Claude on Vertex AI: no model in the body, anthropic_version in it, the model in the path; a model that would move the path is refused', () => {
		const wire = wireFormatOf('anthropicVertex');
		const body = wire.chatBody(conversation, api('anthropicVertex'), true);
		assert.equal(body.model, undefined);
		assert.equal(body.anthropic_version, 'vertex-2023-10-16');
		assert.equal(body.stream, true);
		assert.deepEqual(wire.headers(api('anthropicVertex')), {});
		assert.equal(wire.chatPath('claude-sonnet-4@20250514', false), 'claude-sonnet-4@20250514:rawPredict');
		assert.equal(wire.chatPath('claude-sonnet-4@20250514', true), 'claude-sonnet-4@20250514:streamRawPredict');
		for (const model of ['../../other/x', 'a/b', '.hidden', 'm:predict', 'm?x=1', 'm#x', '']) {
			assert.throws(() => wire.chatPath(model, false), /not a Vertex AI model id/, model);
		}
		assert.equal(wireFormatOf('anthropicVertex').modelsPath, undefined);
		assert.equal(wireFormatOf('anthropicVertex').embeddingsPath, undefined);
	});

	it('options a format has no field for are refused by name, not dropped', () => {
		const withSettings = (settings: Partial<ChatRequest['settings']>) => ({ settings: { model: 'm', ...settings }, messages: [{ role: 'user', content: 'x' }] as OpenAiMessage[] });
		assert.throws(() => wireFormatOf('responses').chatBody(withSettings({ stop: 'END' }), api('responses'), false), (error: Error & { parameter?: string }) => /Stop Sequences is not part of the OpenAI Responses format/.test(error.message) && error.parameter === 'options.stop');
		assert.throws(() => wireFormatOf('responses').chatBody(withSettings({ presencePenalty: 1 }), api('responses'), false), /Presence Penalty/);
		assert.throws(() => wireFormatOf('anthropicMessages').chatBody(withSettings({ reasoningEffort: 'low' }), api('anthropicMessages'), false), /Reasoning Effort is not part of the Anthropic Messages format/);
		assert.throws(() => wireFormatOf('anthropicVertex').chatBody(withSettings({ frequencyPenalty: 1 }), api('anthropicVertex'), false), /Frequency Penalty is not part of the Claude on Vertex AI format/);
		assert.deepEqual(wireFormatOf('anthropicMessages').chatBody(withSettings({ stop: ['A', 'B'] }), api('anthropicMessages'), false).stop_sequences, ['A', 'B']);
	});

	it('answers come back in the package shape: text, tool calls with their ids, finish reason, usage as prompt/completion/total', () => {
		const responses = wireFormatOf('responses').completionOf({
			id: 'resp_1',
			model: 'gpt-x',
			status: 'completed',
			output: [
				{ type: 'reasoning', summary: [] },
				{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hi' }] },
				{ type: 'function_call', id: 'fc_1', call_id: 'call_9', name: 'Calculator', arguments: '{"input":"1+1"}' },
			],
			usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15, input_tokens_details: { cached_tokens: 2 } },
		});
		assert.deepEqual(responses, {
			id: 'resp_1',
			object: 'chat.completion',
			model: 'gpt-x',
			choices: [{ index: 0, message: { role: 'assistant', content: 'Hi', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'Calculator', arguments: '{"input":"1+1"}' } }] }, finish_reason: 'tool_calls' }],
			usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
		});
		const anthropic = wireFormatOf('anthropicMessages').completionOf({
			id: 'msg_1',
			type: 'message',
			model: 'claude',
			content: [{ type: 'text', text: 'Sure' }, { type: 'tool_use', id: 'toolu_1', name: 'Calculator', input: { input: '3*3' } }],
			stop_reason: 'tool_use',
			usage: { input_tokens: 7, cache_read_input_tokens: 3, output_tokens: 4 },
		});
		assert.deepEqual(anthropic, {
			id: 'msg_1',
			object: 'chat.completion',
			model: 'claude',
			choices: [{ index: 0, message: { role: 'assistant', content: 'Sure', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'Calculator', arguments: '{"input":"3*3"}' } }] }, finish_reason: 'tool_calls' }],
			usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 },
		});
		assert.equal((wireFormatOf('anthropicMessages').completionOf({ type: 'message', content: [{ type: 'text', text: 'cut' }], stop_reason: 'max_tokens' }) as { choices: Array<{ finish_reason: string }> }).choices[0].finish_reason, 'length');
		assert.equal((wireFormatOf('responses').completionOf({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, output: [] }) as { choices: Array<{ finish_reason: string }> }).choices[0].finish_reason, 'length');
		assert.deepEqual(wireFormatOf('anthropicMessages').completionOf({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }), { error: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
	});
});

describe('values that could carry more than they say', () => {
	it('Store Responses from an expression: only a real boolean counts; null keeps the credential\'s (not the provider\'s default, which stores)', () => {
		const body = (storeResponses: unknown, credential = false) =>
			wireFormatOf('responses').chatBody(hello, callApiSettings(api('responses', { storeResponses: credential }), { storeResponses: storeResponses as boolean }), false).store;
		assert.equal(body(null), false);
		assert.equal(body(undefined), false);
		assert.equal(body(''), false);
		assert.equal(body(true), true);
		assert.equal(body(false, true), false);
		assert.equal(body(null, true), true);
		assert.throws(() => body('false'), /Store Responses must be true or false/);
		assert.throws(() => callApiSettings(api('anthropicMessages'), { anthropicVersion: 5 as unknown as string }), /Anthropic Version must be a version/);
	});

	it('Anthropic: an image data URL that is not base64 is refused, not sent as a URL source', () => {
		const request = (url: string): ChatRequest => ({ settings: { model: 'm' }, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }] });
		assert.throws(() => wireFormatOf('anthropicMessages').chatBody(request('data:image/png,abc'), api('anthropicMessages'), false), /not base64/);
		assert.throws(() => wireFormatOf('anthropicMessages').chatBody(request('data:image/png;foo=bar;base64,abc'), api('anthropicMessages'), false), /not base64/);
		const remote = wireFormatOf('anthropicMessages').chatBody(request('https://img.example/a.png'), api('anthropicMessages'), false);
		assert.deepEqual((remote.messages as Array<{ content: unknown[] }>)[0].content, [{ type: 'image', source: { type: 'url', url: 'https://img.example/a.png' } }]);
	});

	it('a pasted endpoint is cut from the path only: the query and a one-label host stay as they are', () => {
		const client = { tokenUrl: 'https://auth.example/token', clientId: 'c', clientSecret: 's' };
		assert.equal(parseProviderConfig({ ...client, baseUrl: 'https://llm.example/v1/messages?x=/a:rawPredict', apiFormat: 'anthropicMessages' }).baseUrl, 'https://llm.example/v1?x=/a:rawPredict');
		assert.equal(parseProviderConfig({ ...client, baseUrl: 'http://responses?key=abc', apiFormat: 'responses' }).baseUrl, 'http://responses?key=abc');
		assert.equal(parseProviderConfig({ ...client, baseUrl: 'https://h.example/v1/chat/completions?api-version=1' }).baseUrl, 'https://h.example/v1?api-version=1');
	});

	it('bridges that send things whole: a Responses function call only in the completed response, a refusal streamed, an Anthropic tool input at its block\'s start; a null count keeps the earlier one', () => {
		const responses = wireFormatOf('responses').streamReader();
		const steps = [
			responses({ data: JSON.stringify({ type: 'response.refusal.delta', output_index: 0, delta: 'I cannot' }) }),
			responses({ data: JSON.stringify({ type: 'response.completed', response: { status: 'completed', output: [{ type: 'message', content: [] }, { type: 'function_call', call_id: 'call_w', name: 'f', arguments: '{"a":1}' }, { type: 'function_call', call_id: 'call_v', name: 'g', arguments: '{"b":2}' }] } }) }),
		].flatMap((step) => (step as { deltas: ChatDelta[] }).deltas);
		assert.deepEqual(steps.filter((delta) => delta.kind !== 'meta'), [
			{ kind: 'text', text: 'I cannot' },
			{ kind: 'tool', index: 0, id: 'call_w', name: 'f', arguments: '{"a":1}' },
			{ kind: 'tool', index: 1, id: 'call_v', name: 'g', arguments: '{"b":2}' },
			{ kind: 'finish', reason: 'tool_calls' },
		]);
		const anthropic = wireFormatOf('anthropicMessages').streamReader();
		const events = [
			{ type: 'message_start', message: { id: 'm', usage: { input_tokens: 9, output_tokens: 1 } } },
			{ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } } },
			{ type: 'content_block_stop', index: 0 },
			{ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_2', name: 'g', input: {} } },
			{ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"b":2}' } },
			{ type: 'content_block_stop', index: 1 },
			{ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 0, cache_read_input_tokens: null, output_tokens: 12 } },
		];
		const deltas = events.flatMap((event) => (anthropic({ data: JSON.stringify(event) }) as { deltas: ChatDelta[] }).deltas);
		const answer = new StreamedAnswer();
		deltas.forEach((delta) => answer.add(delta));
		assert.deepEqual(answer.toolCalls.map((call) => [call.id, call.function.name, call.function.arguments]), [['toolu_1', 'f', '{"a":1}'], ['toolu_2', 'g', '{"b":2}']]);
		assert.deepEqual([answer.usage?.promptTokens, answer.usage?.completionTokens], [9, 12]);
		assert.equal(answer.finishReason, 'tool_calls');
	});

	it('Responses: a completed output in other positions than the stream\'s (LiteLLM\'s bridge) adds no second call; arguments that came whole are not added to', () => {
		const read = wireFormatOf('responses').streamReader();
		const events = [
			{ type: 'response.output_item.added', output_index: 1, item: { type: 'function_call', id: 'fc_1', call_id: 'call_a', name: 'f', arguments: '' } },
			{ type: 'response.function_call_arguments.delta', output_index: 1, item_id: 'fc_1', delta: '{"x":1}' },
			{ type: 'response.output_item.added', output_index: 2, item: { type: 'function_call', id: 'fc_2', call_id: 'call_b', name: 'g', arguments: '{"y":2}' } },
			{ type: 'response.function_call_arguments.delta', output_index: 2, item_id: 'fc_2', delta: '{"y":2}' },
			{ type: 'response.completed', response: { status: 'completed', output: [{ type: 'reasoning' }, { type: 'message', content: [] }, { type: 'function_call', id: 'fc_1', call_id: 'call_a', name: 'f', arguments: '{"x":1}' }, { type: 'function_call', id: 'fc_2', call_id: 'call_b', name: 'g', arguments: '{"y":2}' }] } },
		];
		const answer = new StreamedAnswer();
		for (const event of events) (read({ data: JSON.stringify(event) }) as { deltas: ChatDelta[] }).deltas.forEach((delta) => answer.add(delta));
		assert.deepEqual(answer.toolCalls.map((call) => [call.id, call.function.arguments]), [['call_a', '{"x":1}'], ['call_b', '{"y":2}']]);
	});

	it('Anthropic: a whole tool input whose block never stops is sent before the message ends; counts given only in message_start reach the end', () => {
		const read = wireFormatOf('anthropicMessages').streamReader();
		const events = [
			{ type: 'message_start', message: { id: 'm', usage: { input_tokens: 4, output_tokens: 6 } } },
			{ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } } },
			{ type: 'message_stop' },
		];
		const answer = new StreamedAnswer();
		for (const event of events) (read({ data: JSON.stringify(event) }) as { deltas: ChatDelta[] }).deltas.forEach((delta) => answer.add(delta));
		assert.deepEqual(answer.toolCalls.map((call) => call.function.arguments), ['{"a":1}']);
		assert.deepEqual([answer.usage?.promptTokens, answer.usage?.completionTokens], [4, 6]);
	});

	it('Anthropic: blank texts are left out, image/jpg goes as image/jpeg', () => {
		const body = wireFormatOf('anthropicMessages').chatBody(
			{ settings: { model: 'm' }, messages: [{ role: 'user', content: [{ type: 'text', text: '  ' }, { type: 'image_url', image_url: { url: 'data:image/jpg;base64,AAAA' } }] }, { role: 'assistant', content: ' ', tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] }] },
			api('anthropicMessages'),
			false,
		);
		assert.deepEqual(body.messages, [
			{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } }] },
			{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
		]);
	});

	it('Chat Completions: an error key beside the choices (some servers send "error": null) is no error; an error without choices is one', () => {
		const wire = wireFormatOf('chatCompletions');
		const fine = { choices: [{ message: { role: 'assistant', content: 'ok' } }], error: null };
		assert.deepEqual(wire.completionOf(fine), fine);
		assert.deepEqual(wire.completionOf({ error: { message: 'quota', code: 'insufficient_quota' } }), { error: { error: { message: 'quota', code: 'insufficient_quota' } } });
	});

	it('Anthropic usage keeps only its four counts, however much a server puts into it', () => {
		const read = wireFormatOf('anthropicMessages').streamReader();
		const junk = Object.fromEntries(Array.from({ length: 1000 }, (_, index) => [`k${index}`, index]));
		read({ data: JSON.stringify({ type: 'message_start', message: { id: 'm', usage: { input_tokens: 5, ...junk } } }) });
		const step = read({ data: JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 7, ...junk } }) }) as { deltas: ChatDelta[] };
		const usage = step.deltas.find((delta) => delta.kind === 'usage') as { usage: { promptTokens: number; completionTokens: number }; raw: Record<string, unknown> };
		assert.deepEqual(usage.raw, { input_tokens: 5, output_tokens: 7 });
		assert.deepEqual([usage.usage.promptTokens, usage.usage.completionTokens], [5, 7]);
	});
});

// ---------------------------------------------------------------------------------------------
// Hostile servers, each speaking one format's stream grammar
// ---------------------------------------------------------------------------------------------

/** A format's events, as a real server of it sends them. */
interface Grammar {
	/** Everything before the first text. */
	start: string[];
	text(text: string): string;
	error(message: string): string;
	toolStart(id: string, name: string): string;
	toolArguments(piece: string): string;
	end: string[];
	/** An error answer in the format's shape. */
	errorBody(message: string, code: string): unknown;
}

const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
const openAiError = (message: string, code: string) => ({ error: { message, type: 'invalid_request_error', code } });
const anthropicError = (message: string, type: string) => ({ type: 'error', error: { type, message } });
const anthropicGrammar: Grammar = {
	start: [sse({ type: 'message_start', message: { id: 'msg_h', model: 'claude', content: [], usage: { input_tokens: 3, output_tokens: 1 } } }, 'message_start'), sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start')],
	text: (text) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }, 'content_block_delta'),
	error: (message) => sse(anthropicError(message, 'overloaded_error'), 'error'),
	toolStart: (id, name) => sse({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id, name, input: {} } }, 'content_block_start'),
	toolArguments: (piece) => sse({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: piece } }, 'content_block_delta'),
	end: [sse({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } }, 'message_delta'), sse({ type: 'message_stop' }, 'message_stop')],
	errorBody: anthropicError,
};
const GRAMMARS: Record<ApiFormat, Grammar> = {
	chatCompletions: {
		start: [sse({ id: 'c1', model: 'm', choices: [{ delta: { role: 'assistant', content: '' } }] })],
		text: (text) => sse({ choices: [{ delta: { content: text } }] }),
		error: (message) => sse({ error: { message, type: 'server_error' } }),
		toolStart: (id, name) => sse({ choices: [{ delta: { tool_calls: [{ index: 0, id, function: { name, arguments: '' } }] } }] }),
		toolArguments: (piece) => sse({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: piece } }] } }] }),
		end: [sse({ choices: [{ delta: {}, finish_reason: 'stop' }] }), 'data: [DONE]\n\n'],
		errorBody: openAiError,
	},
	responses: {
		start: [sse({ type: 'response.created', response: { id: 'resp_h', model: 'm', status: 'in_progress', output: [] } }, 'response.created')],
		text: (text) => sse({ type: 'response.output_text.delta', item_id: 'msg_h', output_index: 0, content_index: 0, delta: text }, 'response.output_text.delta'),
		error: (message) => sse({ type: 'error', code: 'server_error', message, param: null }, 'error'),
		toolStart: (id, name) => sse({ type: 'response.output_item.added', output_index: 1, item: { type: 'function_call', id: 'fc_h', call_id: id, name, arguments: '' } }, 'response.output_item.added'),
		toolArguments: (piece) => sse({ type: 'response.function_call_arguments.delta', item_id: 'fc_h', output_index: 1, delta: piece }, 'response.function_call_arguments.delta'),
		end: [sse({ type: 'response.completed', response: { id: 'resp_h', model: 'm', status: 'completed', output: [], usage: { input_tokens: 3, output_tokens: 5, total_tokens: 8 } } }, 'response.completed')],
		errorBody: openAiError,
	},
	anthropicMessages: anthropicGrammar,
	anthropicVertex: anthropicGrammar,
};

let sandbox: SandboxServer;
before(async () => {
	sandbox = await startSandboxServer({ streamChunkIntervalMs: 0 });
});
after(async () => await sandbox?.close());

function providerAt(origin: string, format: ApiFormat): ProviderConfig {
	const client = sandbox.info.clients.post;
	const path = format === 'anthropicVertex' ? '/v1/projects/p/locations/us-east5/publishers/anthropic/models' : '/v1';
	return parseProviderConfig({ baseUrl: `${origin}${path}`, tokenUrl: sandbox.info.tokenUrl, clientId: client.id, clientSecret: client.secret, apiFormat: format }, `Hostile ${format}`);
}

const hello: ChatRequest = { settings: { model: 'claude-h' }, messages: [{ role: 'user', content: 'hi' }] };

async function failure(promise: Promise<unknown>): Promise<OAuth2Error> {
	try {
		await promise;
	} catch (error) {
		assert.ok(error instanceof OAuth2Error, `an OAuth2Error, not ${String(error)}`);
		return error;
	}
	assert.fail('expected a failure');
}

async function drain(stream: AsyncIterable<ChatDelta>, seen: ChatDelta[] = []): Promise<ChatDelta[]> {
	for await (const delta of stream) seen.push(delta);
	return seen;
}

/** Everything an error holds, as n8n would store or print it. */
const everything = (error: OAuth2Error) => JSON.stringify({ ...error, message: error.message, hint: error.hint, stack: error.stack });

const bearerOf = (authorization: string | string[] | undefined) => String(authorization ?? '').replace(/^Bearer /, '');

for (const format of FORMATS) {
	const grammar = GRAMMARS[format];
	const open = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });

	describe(`hostile servers speaking ${format}`, () => {
		it('an error event after the first words ends the stream in the provider\'s words, echoing the access token, and is not retried', async () => {
			let token = '';
			const server = await hostileServer((request, res) => {
				token = bearerOf(request.headers.authorization);
				open(res);
				res.write(grammar.start.join(''));
				res.write(grammar.text('Hello '));
				res.end(grammar.error(`Overloaded; your token was ${token}`));
			});
			const seen: ChatDelta[] = [];
			const error = await failure(drain(streamChat(hello, { provider: providerAt(server.origin, format), tokens: new TokenCache(), maxRetries: 3 }), seen));
			assert.match(error.message, /ended the stream with an error: .*Overloaded; your token was \*\*hidden\*\*/);
			assert.ok(token.length > 20);
			assert.ok(!everything(error).includes(token), 'the echoed token is in no field of the error');
			assert.deepEqual(seen.filter((delta) => delta.kind === 'text'), [{ kind: 'text', text: 'Hello ' }]);
			assert.equal(server.received.length, 1, 'not retried after the first words');
		});

		it('an error answer echoing the access token is worded in the provider\'s words without it; a 529 is retried like a 503', async () => {
			let token = '';
			let calls = 0;
			const server = await hostileServer((request, res) => {
				token = bearerOf(request.headers.authorization);
				calls += 1;
				if (calls === 1) {
					res.writeHead(529, { 'content-type': 'application/json' }).end(JSON.stringify(grammar.errorBody('Overloaded', 'overloaded_error')));
					return;
				}
				res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(grammar.errorBody(`bad request from ${token}`, 'invalid_request_error')));
			});
			const error = await failure(completeChat(hello, { provider: providerAt(server.origin, format), tokens: new TokenCache(), maxRetries: 2, clock: instantClock }));
			assert.match(error.message, /answered HTTP 400: .*bad request from \*\*hidden\*\*/);
			assert.ok(!everything(error).includes(token));
			assert.equal(calls, 2, 'the 529 was retried once, the 400 not');
		});

		it('an event that never ends is cut off at 4 MiB', { timeout: 30_000 }, async () => {
			const server = await hostileServer((_request, res) => {
				open(res);
				res.write(grammar.start.join(''));
				res.write(grammar.text('Hi'));
				res.write('data: {"text": "');
				const piece = 'x'.repeat(256 * 1024);
				const pump = () => {
					while (!res.destroyed && res.write(piece)) if (res.writableLength > 8 * 1024 * 1024) break;
					if (!res.destroyed) res.once('drain', pump);
				};
				pump();
			});
			const error = await failure(drain(streamChat(hello, { provider: providerAt(server.origin, format), tokens: new TokenCache(), maxRetries: 0 })));
			assert.match(error.message, /a server-sent event is longer than 4194304 characters/);
		});

		it('tool-call arguments of more than 1 MiB in one answer are refused', async () => {
			const server = await hostileServer((_request, res) => {
				open(res);
				res.write(grammar.start.join(''));
				res.write(grammar.toolStart('call_h', 'f'));
				for (let i = 0; i < 20; i++) res.write(grammar.toolArguments('x'.repeat(64 * 1024)));
				res.end(grammar.end.join(''));
			});
			const error = await failure(drain(streamChat(hello, { provider: providerAt(server.origin, format), tokens: new TokenCache(), maxRetries: 0 })));
			assert.match(error.message, /streamed tool-call arguments of more than 1048576 characters in one answer/);
		});

		it('a stream cut before its end event fails (Responses and Anthropic end with one; Chat Completions is read to its last chunk)', async () => {
			const server = await hostileServer((_request, res) => {
				open(res);
				res.write(grammar.start.join(''));
				res.write(grammar.text('Hello ') + grammar.toolStart('call_c', 'f') + grammar.toolArguments('{"input":'));
				res.end();
			});
			const seen: ChatDelta[] = [];
			const stream = drain(streamChat(hello, { provider: providerAt(server.origin, format), tokens: new TokenCache(), maxRetries: 0 }), seen);
			if (format === 'chatCompletions') {
				await stream;
				return;
			}
			const error = await failure(stream);
			assert.match(error.message, /ended the stream before its end \((response\.completed|message_stop)\): the answer may be cut short/);
			assert.ok(seen.some((delta) => delta.kind === 'text'), 'the first words were handed on');
		});

		it('a streamed call answered with no events at all fails once, not retried, and says to turn off Streaming', async () => {
			const server = await hostileServer((_request, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('{"not": "a stream"}'));
			const stream = drain(streamChat(hello, { provider: providerAt(server.origin, format), tokens: new TokenCache(), maxRetries: 2, clock: instantClock }));
			if (format === 'chatCompletions') {
				await stream;
				return;
			}
			const error = await failure(stream);
			assert.match(error.message, /answered a streamed call with no server-sent events/);
			assert.equal(server.received.length, 1);
		});

		it('a whole stream reads back as text, a tool call and usage; nothing after the end is read', async () => {
			const server = await hostileServer((_request, res) => {
				open(res);
				res.write(grammar.start.join(''));
				res.write(grammar.text('Hello ') + grammar.text('world'));
				res.write(grammar.toolStart('call_z', 'Calculator') + grammar.toolArguments('{"input":') + grammar.toolArguments('"1+1"}'));
				res.write(grammar.end.join(''));
				// A server that goes on after the end: the client stops reading at the format's end event.
				if (format !== 'chatCompletions') res.write(grammar.text(' MORE'));
			});
			const deltas = await drain(streamChat(hello, { provider: providerAt(server.origin, format), tokens: new TokenCache(), maxRetries: 0, idleTimeoutMs: 60_000 }));
			assert.equal(deltas.filter((delta) => delta.kind === 'text').map((delta) => (delta as { text: string }).text).join(''), 'Hello world');
			const tool = deltas.filter((delta) => delta.kind === 'tool') as Array<{ id?: string; name?: string; arguments?: string }>;
			assert.equal(tool[0].id, 'call_z');
			assert.equal(tool[0].name, 'Calculator');
			assert.equal(tool.map((delta) => delta.arguments ?? '').join(''), '{"input":"1+1"}');
			if (format !== 'chatCompletions') assert.ok(deltas.some((delta) => delta.kind === 'usage'), 'usage');
		});
	});
}

describe('the model list and embeddings per format', () => {
	it('Claude on Vertex AI has no model list: a clear error, and no request', async () => {
		const server = await hostileServer((_request, res) => res.writeHead(500).end());
		const error = await failure(listModels({ provider: providerAt(server.origin, 'anthropicVertex'), tokens: new TokenCache() }));
		assert.match(error.message, /The Claude on Vertex AI format of .* has no model list/);
		assert.match(error.hint ?? '', /By Name/);
		assert.equal(server.received.length, 0);
	});

	it('Anthropic Messages lists models with its version header', async () => {
		const server = await hostileServer((request, res) => {
			res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [{ type: 'model', id: 'claude-b' }, { type: 'model', id: 'claude-a' }], has_more: false }));
			void request;
		});
		assert.deepEqual(await listModels({ provider: providerAt(server.origin, 'anthropicMessages'), tokens: new TokenCache() }), ['claude-a', 'claude-b']);
		assert.equal(server.received[0].url, '/v1/models');
		assert.equal(server.received[0].headers['anthropic-version'], '2023-06-01');
	});
});

// ---------------------------------------------------------------------------------------------
// The sandbox, which checks every request's shape in each format and answers in it
// ---------------------------------------------------------------------------------------------

const node = { id: 'n', name: 'Model', type: 'x', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };
const PIXEL = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const PIXEL_DIGEST = createHash('sha256').update(PIXEL).digest('hex');

function sandboxProvider(format: ApiFormat, extra: Record<string, unknown> = {}): ProviderConfig {
	const client = sandbox.info.clients.post;
	const baseUrl = format === 'anthropicVertex' ? vertexBaseUrl(sandbox.info.baseUrl) : sandbox.info.baseUrl;
	return parseProviderConfig({ baseUrl, tokenUrl: sandbox.info.tokenUrl, clientId: client.id, clientSecret: client.secret, apiFormat: format, ...extra }, `Sandbox ${format}`);
}
const sandboxChats = () => sandbox.state.requests().filter((entry) => entry.kind === 'chat');
const textOf = (deltas: ChatDelta[]) => deltas.filter((delta) => delta.kind === 'text').map((delta) => (delta as { text: string }).text).join('');

for (const format of FORMATS) {
	describe(`${format} against the sandbox`, () => {
		beforeEach(() => {
			sandbox.state.reset();
			sandbox.state.configure({ streamChunkIntervalMs: 0 });
		});

		it('a plain call and a streamed one give the same text; Simplify Output\'s keys and usage; the request in the format\'s shape', async () => {
			const provider = sandboxProvider(format);
			const request: ChatRequest = { settings: { model: 'sandbox-echo' }, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'one two three four' }] };
			const whole = await completeChat(request, { provider, tokens: new TokenCache() });
			const wire = wireFormatOf(format);
			const json = toOutputJson(whole, { simplify: true, jsonOutput: false, providerName: provider.providerName, wire });
			assert.equal(json.content, 'Echo from sandbox-echo: one two three four');
			assert.equal(json.role, 'assistant');
			assert.equal(json.finishReason, 'stop');
			assert.deepEqual(Object.keys(json.usage as object), ['prompt_tokens', 'completion_tokens', 'total_tokens']);
			assert.ok(((json.usage as { total_tokens: number }).total_tokens ?? 0) > 0);
			// Simplify Output off: the provider's own answer.
			const raw = toOutputJson(whole, { simplify: false, jsonOutput: false, providerName: provider.providerName, wire });
			assert.deepEqual(raw, whole.raw);
			// Streamed with Simplify Output off: put back together in the provider's own shape.
			const streamedAnswer = new StreamedAnswer();
			for (const delta of await drain(streamChat(request, { provider, tokens: new TokenCache() }))) streamedAnswer.add(delta);
			const rebuilt = wire.answerOfStream(streamedAnswer) as Record<string, any>;
			const rawWhole = whole.raw as Record<string, any>;
			if (format === 'chatCompletions') assert.equal(rebuilt.choices[0].message.content, rawWhole.choices[0].message.content);
			else if (format === 'responses') {
				assert.equal(rebuilt.object, 'response');
				assert.equal(rebuilt.output[0].content[0].text, rawWhole.output[0].content[0].text);
				assert.deepEqual(Object.keys(rebuilt.usage).sort(), Object.keys(rawWhole.usage).sort());
			} else {
				assert.equal(rebuilt.type, 'message');
				assert.deepEqual(rebuilt.content, rawWhole.content);
				assert.equal(rebuilt.stop_reason, 'end_turn');
				assert.deepEqual(rebuilt.usage, rawWhole.usage);
			}

			const deltas = await drain(streamChat(request, { provider, tokens: new TokenCache() }));
			assert.equal(textOf(deltas), 'Echo from sandbox-echo: one two three four');
			assert.ok(deltas.filter((delta) => delta.kind === 'text').length >= 4, 'word by word');
			assert.ok(deltas.some((delta) => delta.kind === 'usage'), 'usage in the stream');
			const plain = sandboxChats()[0];
			const streamed = sandboxChats().at(-1)!;
			assert.deepEqual([plain.status, streamed.status], [200, 200]);
			const body = streamed.body as Record<string, unknown>;
			if (format === 'responses') {
				assert.equal(plain.path, '/v1/responses');
				assert.equal(body.instructions, 'Be brief.');
				assert.equal(body.store, false, 'store: false unless asked');
			} else if (format === 'chatCompletions') {
				assert.equal(plain.path, '/v1/chat/completions');
			} else {
				assert.equal(body.system, 'Be brief.');
				assert.equal(body.max_tokens, DEFAULT_ANTHROPIC_MAX_TOKENS);
				if (format === 'anthropicMessages') {
					assert.equal(plain.path, '/v1/messages');
					assert.equal(streamed.headers['anthropic-version'], '2023-06-01');
				} else {
					assert.match(plain.path, /\/publishers\/anthropic\/models\/sandbox-echo:rawPredict$/);
					assert.match(streamed.path, /\/publishers\/anthropic\/models\/sandbox-echo:streamRawPredict$/);
					assert.equal(body.model, undefined);
					assert.equal(streamed.headers['anthropic-version'], undefined);
				}
			}
		});

		it('the Chat Model: a streamed tool call, then the tool\'s result, then the answer with its usage', async () => {
			const model = new OAuth2ChatModel('sandbox-echo', { provider: sandboxProvider(format), node });
			const calculator = { type: 'function' as const, name: 'Calculator', description: 'math', inputSchema: { type: 'object', properties: { input: { type: 'string' } } } };
			const withTool = model.withTools([calculator as never]);
			const question = { role: 'user' as const, content: [{ type: 'text' as const, text: 'What is 12*34?' }] };
			const first: StreamChunk[] = [];
			for await (const chunk of withTool.stream([question])) first.push(chunk);
			const calls = first.filter((chunk) => chunk.type === 'tool-call-delta') as Array<{ id?: string; name?: string; argumentsDelta?: string }>;
			assert.equal(calls.length, 1, JSON.stringify(first));
			assert.equal(calls[0].name, 'Calculator');
			assert.deepEqual(JSON.parse(calls[0].argumentsDelta ?? ''), { input: '12*34' });
			assert.equal((first.at(-1) as { finishReason?: string }).finishReason, 'tool-calls');
			const second: StreamChunk[] = [];
			const history = [
				question,
				{ role: 'assistant' as const, content: [{ type: 'tool-call' as const, toolCallId: calls[0].id!, toolName: 'Calculator', input: calls[0].argumentsDelta! }] },
				{ role: 'tool' as const, content: [{ type: 'tool-result' as const, toolCallId: calls[0].id!, toolName: 'Calculator', result: '408' }] },
			];
			for await (const chunk of withTool.stream(history as never)) second.push(chunk);
			assert.equal(second.filter((chunk) => chunk.type === 'text-delta').map((chunk) => (chunk as { delta: string }).delta).join(''), 'The result is 408');
			const finish = second.at(-1) as { type: string; usage?: { promptTokens: number; completionTokens: number } };
			assert.ok((finish.usage?.promptTokens ?? 0) > 0 && (finish.usage?.completionTokens ?? 0) > 0, JSON.stringify(finish));
			const generated = await withTool.generate(history as never);
			assert.equal(generated.message.content[0].type === 'text' && generated.message.content[0].text, 'The result is 408');
		});

		it('an image reaches the API; an option the format has no field for fails by its name and sends nothing', async () => {
			const provider = sandboxProvider(format);
			const image = { type: 'image_url' as const, image_url: { url: `data:image/png;base64,${PIXEL.toString('base64')}` } };
			const answer = await completeChat({ settings: { model: 'sandbox-echo' }, messages: [{ role: 'user', content: [{ type: 'text', text: 'What is it?' }, image] }] }, { provider, tokens: new TokenCache() });
			assert.match(String(answer.completion.choices?.[0].message?.content), new RegExp(`Saw 1 image: image/png sha256:${PIXEL_DIGEST} \\(${PIXEL.length} bytes\\)`));
			if (format === 'chatCompletions') return;
			const refused = format === 'responses' ? { stop: 'END' } : { reasoningEffort: 'low' as const };
			await assert.rejects(completeChat({ settings: { model: 'sandbox-echo', ...refused }, messages: [{ role: 'user', content: 'x' }] }, { provider, tokens: new TokenCache() }), /is not part of the/);
			assert.equal(sandboxChats().length, 1);
		});
	});
}

describe('formats: the rest of the contract', () => {
	beforeEach(() => sandbox.state.reset());

	it("Anthropic's 529 overloaded_error is retried like a 503, and its words reach the message when it persists", async () => {
		sandbox.state.configure({ chatFaults: [{ status: 529 }] });
		const provider = sandboxProvider('anthropicMessages');
		const answer = await completeChat(hello, { provider, tokens: new TokenCache(), clock: instantClock });
		assert.match(String(answer.completion.choices?.[0].message?.content), /Echo from claude-h/);
		assert.deepEqual(sandboxChats().map((entry) => entry.status), [529, 200]);
		sandbox.state.configure({ chatFaults: [{ status: 529, count: 3 }] });
		const error = await failure(completeChat(hello, { provider, tokens: new TokenCache(), clock: instantClock, maxRetries: 2 }));
		assert.match(error.message, /answered HTTP 529: Overloaded/);
		assert.equal((error as OAuth2Error & { code?: string }).code, 'overloaded_error');
		assert.match(error.hint ?? '', /overloaded/);
	});

	it('an overloaded error event before the first word is retried like a 503 (Anthropic sends it after HTTP 200); Responses\' server_error too', async () => {
		for (const format of ['anthropicMessages', 'responses'] as const) {
			sandbox.state.reset();
			sandbox.state.configure({ streamChunkIntervalMs: 0, chatFaults: [{ kind: 'stream-error' }] });
			const deltas = await drain(streamChat(hello, { provider: sandboxProvider(format), tokens: new TokenCache(), clock: instantClock }));
			assert.match(textOf(deltas), /^Echo from claude-h: hi/, format);
			assert.equal(sandboxChats().length, 2, `${format}: one stream broke off before any word, the second answered`);
		}
	});

	it('Output Content as JSON in every format: Simplify Output parses it; off, the provider\'s answer (Chat Completions with its content parsed, as before)', async () => {
		for (const format of FORMATS) {
			const provider = sandboxProvider(format);
			const answer = await completeChat({ settings: { model: 'sandbox-json', responseFormat: 'json_object' }, messages: [{ role: 'user', content: 'Answer in JSON' }] }, { provider, tokens: new TokenCache() });
			const wire = wireFormatOf(format);
			const simple = toOutputJson(answer, { simplify: true, jsonOutput: true, providerName: provider.providerName, wire });
			assert.deepEqual(simple.content, { echo: 'Answer in JSON', model: 'sandbox-json' }, format);
			const raw = toOutputJson(answer, { simplify: false, jsonOutput: true, providerName: provider.providerName, wire }) as Record<string, any>;
			if (format === 'chatCompletions') assert.deepEqual(raw.choices[0].message.content, { echo: 'Answer in JSON', model: 'sandbox-json' });
			else assert.deepEqual(raw, answer.raw);
		}
		const bodies = sandboxChats().map((entry) => entry.body as Record<string, unknown>);
		assert.deepEqual(bodies[0].response_format, { type: 'json_object' });
		assert.deepEqual(bodies[1].text, { format: { type: 'json_object' } });
		assert.equal(bodies[2].response_format, undefined, 'Anthropic has no JSON mode: nothing is sent');
	});

	it('Claude on Vertex AI takes no image URL: refused by name before anything is sent', async () => {
		const request: ChatRequest = { settings: { model: 'sandbox-echo' }, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://img.example/a.png' } }] }] };
		await assert.rejects(completeChat(request, { provider: sandboxProvider('anthropicVertex'), tokens: new TokenCache() }), (error: Error & { parameter?: string }) => /https:\/\/ URL, which Claude on Vertex AI does not take/.test(error.message) && error.parameter === 'options.allowRemoteImageUrls');
		assert.equal(sandboxChats().length, 0);
	});

	it('Store Responses and Anthropic Version: the credential\'s value, and a node option over it', async () => {
		const responses = sandboxProvider('responses', { storeResponses: true });
		await completeChat(hello, { provider: responses, tokens: new TokenCache() });
		await completeChat({ ...hello, settings: { ...hello.settings, storeResponses: false } }, { provider: responses, tokens: new TokenCache() });
		assert.deepEqual(sandboxChats().map((entry) => (entry.body as { store?: unknown }).store), [true, false]);
		sandbox.state.reset();
		const anthropic = sandboxProvider('anthropicMessages', { anthropicVersion: '2023-01-01' });
		await completeChat(hello, { provider: anthropic, tokens: new TokenCache() });
		await completeChat({ ...hello, settings: { ...hello.settings, anthropicVersion: '2023-06-01' } }, { provider: anthropic, tokens: new TokenCache() });
		assert.deepEqual(sandboxChats().map((entry) => entry.headers['anthropic-version']), ['2023-01-01', '2023-06-01']);
	});

	it('a saved credential without API Format speaks Chat Completions; a pasted endpoint URL keeps its base', () => {
		const client = { tokenUrl: 'https://auth.example/token', clientId: 'c', clientSecret: 's' };
		assert.equal(parseProviderConfig({ ...client, baseUrl: 'https://llm.example/v1' }).api.format, 'chatCompletions');
		assert.equal(parseProviderConfig({ ...client, baseUrl: 'https://llm.example/v1/responses', apiFormat: 'responses' }).baseUrl, 'https://llm.example/v1');
		assert.equal(parseProviderConfig({ ...client, baseUrl: 'https://llm.example/v1/messages', apiFormat: 'anthropicMessages' }).baseUrl, 'https://llm.example/v1');
		const vertex = 'https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5/publishers/anthropic/models';
		assert.equal(parseProviderConfig({ ...client, baseUrl: `${vertex}/claude-sonnet-4@20250514:streamRawPredict`, apiFormat: 'anthropicVertex' }).baseUrl, vertex);
		assert.throws(() => parseProviderConfig({ ...client, baseUrl: 'https://llm.example/v1', apiFormat: 'bedrock' }), /API Format: must be "chatCompletions", "responses", "anthropicMessages" or "anthropicVertex"/);
		assert.throws(() => parseProviderConfig({ ...client, baseUrl: 'https://llm.example/v1', apiFormat: 'anthropicMessages', anthropicVersion: '2023-06-01\nx: y' }), /Anthropic Version: must be a version/);
	});

	it('embeddings: both OpenAI formats call /embeddings; an Anthropic credential gets a clear error and sends nothing', async () => {
		for (const format of ['chatCompletions', 'responses'] as const) {
			const vectors = await embedTexts(['a b', 'c d'], { model: 'sandbox-embed', batchSize: 8 }, { provider: sandboxProvider(format), node });
			assert.equal(vectors.length, 2);
		}
		assert.equal(sandbox.state.requests().filter((entry) => entry.kind === 'embeddings').length, 2);
		for (const format of ['anthropicMessages', 'anthropicVertex'] as const) {
			await assert.rejects(embedTexts(['a'], { model: 'm', batchSize: 8 }, { provider: sandboxProvider(format), node }), (error: Error & { description?: string }) => {
				assert.match(error.message, /speaks (Anthropic Messages|Claude on Vertex AI), which has no embeddings API: embeddings need an OpenAI-format endpoint/);
				assert.match(error.description ?? '', /OpenAI Chat Completions or OpenAI Responses/);
				return true;
			});
		}
		assert.equal(sandbox.state.requests().filter((entry) => entry.kind === 'embeddings').length, 2);
	});
});

const instantClock = { nowMs: () => performance.now(), wallNowMs: () => Date.now(), sleep: async () => undefined, random: () => 0 };
