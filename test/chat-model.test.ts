/**
 * The OAuth2 LLM Chat Model sub-node against the sandbox provider (real oidc-provider token endpoint,
 * token-verifying OpenAI-compatible chat API), driven the way n8n drives it: supplyData() hands out
 * a LangChain chat model (n8n's adapter over our SDK model), and agents call invoke / bindTools on it.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, HumanMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import { DynamicTool } from '@langchain/core/tools';
import { NodeApiError, NodeOperationError, type INode, type ISupplyDataFunctions } from 'n8n-workflow';

import { OAuth2LlmChatModel } from '../nodes/OAuth2LlmChatModel/OAuth2LlmChatModel.node.js'; // with .js: the bare path resolves to the .node.json codex
import { buildChatCompletionRequest, fromChatCompletion } from '../nodes/OAuth2LlmChatModel/openai-chat';
import { replaceSharedTokenCache } from '../nodes/shared/auth/token-cache';
import { FakeClock } from './helpers/fake-clock';
import { startSandbox, type RecordedRequest, type Sandbox } from './sandbox/sandbox';

let sandbox: Sandbox;
before(async () => {
	sandbox = await startSandbox({ inProcess: true });
});
after(async () => {
	replaceSharedTokenCache();
	await sandbox.stop();
});
beforeEach(async () => {
	await sandbox.reset();
	await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
	replaceSharedTokenCache();
});

const NODE: INode = {
	id: 'model-node',
	name: 'OAuth2 LLM Chat Model',
	type: 'CUSTOM.oAuth2LlmChatModel',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
	credentials: { llmProviderOAuth2Api: { id: 'cred-1', name: 'Sandbox' } },
};

interface ContextOptions {
	model?: unknown;
	options?: Record<string, unknown>;
	credentials?: Record<string, unknown>;
}

/** The part of n8n's ISupplyDataFunctions that the node and n8n's model adapter use. */
function supplyContext({ model = { __rl: true, mode: 'list', value: 'sandbox-echo' }, options = {}, credentials }: ContextOptions = {}) {
	const outputs: unknown[] = [];
	let runIndex = 0;
	const context = {
		getNode: () => NODE,
		getCredentials: async () =>
			credentials ?? {
				baseUrl: sandbox.baseUrl,
				tokenUrl: sandbox.tokenUrl,
				clientId: sandbox.clients.post.id,
				clientSecret: sandbox.clients.post.secret,
			},
		getNodeParameter: (name: string, _itemIndex: number, fallback?: unknown, extra?: { extractValue?: boolean }) => {
			if (name === 'model') {
				const value = model as { value?: unknown } | string;
				return extra?.extractValue && typeof value === 'object' ? value.value : value;
			}
			if (name === 'options') return options;
			return fallback;
		},
		getExecutionCancelSignal: () => undefined,
		logger: { debug() {}, info() {}, warn() {}, error() {} },
		addInputData: () => ({ index: runIndex++ }),
		addOutputData: (_type: unknown, _index: number, data: unknown) => outputs.push(data),
		getNextRunIndex: () => runIndex,
		logAiEvent: () => {},
		setMetadata: () => {},
	};
	return { context: context as unknown as ISupplyDataFunctions, outputs };
}

async function supplyModel(options: ContextOptions = {}): Promise<BaseChatModel> {
	const { context } = supplyContext(options);
	const supplied = await new OAuth2LlmChatModel().supplyData.call(context, 0);
	return supplied.response as BaseChatModel;
}

/** n8n's Calculator tool is a LangChain `Tool` (one string argument `input`) named after its node. */
function calculatorTool(name = 'Calculator') {
	return new DynamicTool({
		name,
		description: 'Useful for getting the result of a math expression.',
		// A tiny evaluator for the test: products and sums of integers only.
		func: async (input: string) =>
			String(
				input
					.split('+')
					.map((term) => term.split('*').reduce((product, factor) => product * Number(factor.trim()), 1))
					.reduce((sum, value) => sum + value, 0),
			),
	});
}

async function chatRequests(): Promise<RecordedRequest[]> {
	return (await sandbox.requests()).filter((request) => request.kind === 'chat');
}

async function counters() {
	return (await sandbox.stats()).clients[sandbox.clients.post.id];
}

describe('OAuth2 LLM Chat Model against the sandbox provider', () => {
	it('supplies a LangChain chat model that answers a plain call', async () => {
		const model = await supplyModel();
		const answer = await model.invoke([new HumanMessage('hello there')]);
		assert.equal(answer.text, 'Echo from sandbox-echo: hello there');
		assert.equal((answer as AIMessage).usage_metadata?.input_tokens, 2);
		const stats = await counters();
		assert.equal(stats.tokensIssued, 1);
		assert.equal(stats.chatRequests, 1);
	});

	it('sends the node options as OpenAI parameters, and JSON response format', async () => {
		const model = await supplyModel({
			model: { __rl: true, mode: 'id', value: 'sandbox-echo' },
			options: { temperature: 0.2, maxTokens: 50, topP: 0.9, responseFormat: 'json_object' },
		});
		const answer = await model.invoke('give me JSON');
		assert.deepEqual(JSON.parse(answer.text), { echo: 'give me JSON', model: 'sandbox-echo' });
		const [request] = await chatRequests();
		const body = request.body as Record<string, unknown>;
		assert.equal(body.model, 'sandbox-echo');
		assert.equal(body.temperature, 0.2);
		assert.equal(body.max_tokens, 50);
		assert.equal(body.top_p, 0.9);
		assert.deepEqual(body.response_format, { type: 'json_object' });
		assert.equal(body.tools, undefined);
		assert.match(String(request.headers.authorization), /^Bearer ey/);
	});

	it("passes Allow Remote Image URLs from the node's options: off, an agent's https:// image is refused before any call; on, it reaches the gateway", async () => {
		const message = () => new HumanMessage({ content: [{ type: 'text', text: 'what is it?' }, { type: 'image_url', image_url: { url: 'https://img.example/cat.png' } }] });
		await assert.rejects((await supplyModel()).invoke([message()]), /remote image URLs are off/);
		assert.equal((await chatRequests()).length, 0);
		await (await supplyModel({ options: { allowRemoteImageUrls: true } })).invoke([message()]);
		const [request] = await chatRequests();
		assert.ok(JSON.stringify(request.body).includes('https://img.example/cat.png'));
	});

	it('round-trips a tool call through bindTools: tool_calls out, tool result in, final answer', async () => {
		const model = await supplyModel();
		const calculator = calculatorTool();
		assert.ok(model.bindTools, 'the supplied model supports bindTools');
		const withTools = model.bindTools([calculator]);

		const question = new HumanMessage('What is 12*34?');
		const first = (await withTools.invoke([question])) as AIMessage;
		assert.equal(first.tool_calls?.length, 1);
		const call = first.tool_calls![0];
		assert.equal(call.name, 'Calculator');
		assert.deepEqual(call.args, { input: '12*34' });
		assert.ok(call.id);

		const output = String(await calculator.invoke(String(call.args.input)));
		assert.equal(output, '408');
		const history: BaseMessage[] = [question, first, new ToolMessage({ content: output, tool_call_id: call.id! })];
		const final = await withTools.invoke(history);
		assert.equal(final.text, 'The result is 408');

		const [firstRequest, secondRequest] = (await chatRequests()).map((request) => request.body as Record<string, any>);
		assert.equal(firstRequest.tools[0].type, 'function');
		assert.equal(firstRequest.tools[0].function.name, 'Calculator');
		assert.equal(firstRequest.tools[0].function.parameters.properties.input.type, 'string');
		assert.deepEqual(secondRequest.messages[1], {
			role: 'assistant',
			content: null,
			tool_calls: [{ id: call.id, type: 'function', function: { name: 'Calculator', arguments: '{"input":"12*34"}' } }],
		});
		assert.deepEqual(secondRequest.messages[2], { role: 'tool', tool_call_id: call.id, content: '408' });
	});

	it('streams (one call, the finished answer replayed as chunks)', async () => {
		const model = await supplyModel();
		let text = '';
		for await (const chunk of await model.stream('stream me')) text += chunk.text;
		assert.equal(text, 'Echo from sandbox-echo: stream me');
		assert.equal((await counters()).chatRequests, 1);
	});

	it('streams a tool call too: the chunks add up to the same tool_calls as invoke', async () => {
		const withTools = (await supplyModel()).bindTools!([calculatorTool()]);
		let merged: AIMessageChunk | undefined;
		for await (const chunk of await withTools.stream('calculate 6*7')) merged = merged ? merged.concat(chunk) : chunk;
		assert.equal(merged?.tool_calls?.length, 1);
		assert.equal(merged?.tool_calls?.[0].name, 'Calculator');
		assert.deepEqual(merged?.tool_calls?.[0].args, { input: '6*7' });
		assert.match(String(merged?.tool_calls?.[0].id), /^call_sandbox_/);
	});

	it('takes the token at call time: one model instance, clock moved past the token\'s life, a second token', async () => {
		const clock = new FakeClock(Date.now());
		replaceSharedTokenCache({ clock });
		await sandbox.configure({ tokenTtlSeconds: 120 });
		const model = (await supplyModel()).bindTools!([calculatorTool()]);

		const first = await model.invoke('first call');
		assert.equal((await counters()).tokensIssued, 1);
		clock.advance(10 * 60 * 1000);
		const second = await model.invoke('second call');

		assert.equal(first.text, 'Echo from sandbox-echo: first call');
		assert.equal(second.text, 'Echo from sandbox-echo: second call');
		const stats = await counters();
		assert.equal(stats.tokensIssued, 2);
		assert.equal(stats.chatRejected401, 0);
		const [a, b] = await chatRequests();
		assert.notEqual(a.headers.authorization, b.headers.authorization);
	});

	it('a 401 drops the token and replays once with a new one', async () => {
		const model = await supplyModel();
		await model.invoke('warm up');
		await sandbox.configure({ chatFaults: [{ status: 401, count: 1 }] });
		const answer = await model.invoke('after 401');
		assert.equal(answer.text, 'Echo from sandbox-echo: after 401');
		const stats = await counters();
		assert.equal(stats.tokensIssued, 2);
		assert.equal(stats.chatRejected401, 1);
		assert.equal(stats.chatRequests, 3);
	});

	it('a 429 with Retry-After: 1 is retried by the shared transport, then succeeds', async () => {
		const model = await supplyModel({ options: { maxRetries: 2 } });
		await sandbox.configure({ chatFaults: [{ status: 429, retryAfterSeconds: 1 }] });
		const started = Date.now();
		const answer = await model.invoke('rate limited');
		assert.equal(answer.text, 'Echo from sandbox-echo: rate limited');
		assert.ok(Date.now() - started >= 900, 'waited for Retry-After');
		const requests = await chatRequests();
		assert.deepEqual(
			requests.map((request) => request.status),
			[429, 200],
		);
	});

	it('failures reach the agent as n8n errors worded by the package, without retrying in LangChain', async () => {
		const model = await supplyModel({ options: { maxRetries: 1 } });
		await sandbox.configure({ chatFaults: [{ status: 503, count: 5 }] });
		await assert.rejects(model.invoke('fails'), (error: unknown) => {
			assert.ok(error instanceof NodeApiError, `got ${String(error)}`);
			assert.equal(error.httpCode, '503');
			assert.match(error.message, /The LLM API of Sandbox answered HTTP 503/);
			return true;
		});
		assert.equal((await counters()).chatRequests, 2);
	});

	it('a credential that cannot get a token fails with the provider\'s OAuth error', async () => {
		const model = await supplyModel({
			credentials: { baseUrl: sandbox.baseUrl, tokenUrl: sandbox.tokenUrl, clientId: sandbox.clients.post.id, clientSecret: 'wrong' },
		});
		await assert.rejects(model.invoke('no token'), (error: unknown) => {
			assert.ok(error instanceof NodeApiError, `got ${String(error)}`);
			assert.match(error.message, /invalid_client/);
			assert.doesNotMatch(JSON.stringify(error), /wrong/);
			return true;
		});
	});

	it('refuses to supply a model without a model name', async () => {
		const { context } = supplyContext({ model: { __rl: true, mode: 'id', value: '  ' } });
		await assert.rejects(new OAuth2LlmChatModel().supplyData.call(context, 0), (error: unknown) => {
			assert.ok(error instanceof NodeOperationError);
			assert.match(error.message, /No model is selected/);
			return true;
		});
	});

	it('lists models from /models for the model picker', async () => {
		const { context } = supplyContext();
		const listed = await new OAuth2LlmChatModel().methods.listSearch.searchModels.call(context as never, 'json');
		assert.deepEqual(listed.results, [{ name: 'sandbox-json', value: 'sandbox-json' }]);
	});
});

describe('translation between n8n\'s AI SDK types and OpenAI chat completions (pure)', () => {
	it('turns parallel tool calls into one assistant message, and gives id-less calls an id', () => {
		const result = fromChatCompletion(
			{
				id: 'c1',
				model: 'm',
				choices: [
					{
						message: {
							role: 'assistant',
							content: null,
							tool_calls: [
								{ id: 'a', type: 'function', function: { name: 'Calculator', arguments: '{"input":"1+1"}' } },
								{ type: 'function', function: { name: 'Calculator', arguments: '{"input":"2+2"}' } },
							],
						},
						finish_reason: 'tool_calls',
					},
				],
				usage: { prompt_tokens: 3, completion_tokens: 4 },
			},
			'Sandbox',
		);
		assert.equal(result.finishReason, 'tool-calls');
		assert.deepEqual(result.usage, { promptTokens: 3, completionTokens: 4, totalTokens: 7 });
		assert.deepEqual(result.message.content, [
			{ type: 'tool-call', toolCallId: 'a', toolName: 'Calculator', input: '{"input":"1+1"}' },
			{ type: 'tool-call', toolCallId: 'call_1', toolName: 'Calculator', input: '{"input":"2+2"}' },
		]);
	});

	it('builds the request: system, user with an image, assistant tool calls, one tool message per result', () => {
		const request = buildChatCompletionRequest(
			{ model: 'm', temperature: 0, stopSequences: ['END'] },
			[
				{ role: 'system', content: [{ type: 'text', text: 'be brief' }] },
				{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'file', mediaType: 'image/png', data: 'iVBORw0' }] },
				{
					role: 'assistant',
					content: [
						{ type: 'tool-call', toolCallId: 'a', toolName: 't', input: '{}' },
						{ type: 'tool-call', toolCallId: 'b', toolName: 't', input: '{"x":1}' },
					],
				},
				{
					role: 'tool',
					content: [
						{ type: 'tool-result', toolCallId: 'a', result: 'one' },
						{ type: 'tool-result', toolCallId: 'b', result: { value: 2 } },
					],
				},
			],
			[],
		);
		assert.deepEqual(request, {
			model: 'm',
			temperature: 0,
			stop: ['END'],
			messages: [
				{ role: 'system', content: 'be brief' },
				{
					role: 'user',
					content: [
						{ type: 'text', text: 'what is this?' },
						{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0' } },
					],
				},
				{
					role: 'assistant',
					content: null,
					tool_calls: [
						{ id: 'a', type: 'function', function: { name: 't', arguments: '{}' } },
						{ id: 'b', type: 'function', function: { name: 't', arguments: '{"x":1}' } },
					],
				},
				{ role: 'tool', tool_call_id: 'a', content: 'one' },
				{ role: 'tool', tool_call_id: 'b', content: '{"value":2}' },
			],
		});
	});
});
