/**
 * Issue 13 below n8n: the SSE parser, streamed chat completions against the sandbox (token per call,
 * 401 replay and retries before the first delta only, stream_options fallback, errors mid-stream,
 * idle timeout, abort, size limit), the Chat Model's stream chunks, images, and embeddings in batches.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';

import { callLlmApi, streamChatCompletion } from '../nodes/shared/wire/chat-client';
import { OAuth2Error } from '../nodes/shared/core/errors';
import { chatCompletionsWire, chatDeltasOf, SseDecoder, StreamedAnswer, type ChatDelta } from '../nodes/shared/wire/openai-wire';
import { parseProviderConfig, type ProviderConfig } from '../nodes/shared/config/provider-config';
import { TokenCache } from '../nodes/shared/auth/token-cache';
import { imageParts } from '../nodes/OAuth2LlmChat/images';
import { buildChatRequest } from '../nodes/OAuth2LlmChat/request';
import { imageMediaType, withStandardImageBlocks } from '../nodes/OAuth2LlmChatModel/adapter';
import { OAuth2ChatModel } from '../nodes/OAuth2LlmChatModel/model';
import { buildChatCompletionRequest } from '../nodes/OAuth2LlmChatModel/openai-chat';
import { embedTexts } from '../nodes/OAuth2LlmEmbeddings/embeddings';
import { hostileServer } from './helpers/hostile-server';
import { startSandboxServer, type SandboxServer } from './sandbox/server';

let sandbox: SandboxServer;
let provider: ProviderConfig;
const node = { id: 'n', name: 'Model', type: 'x', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };

before(async () => {
	sandbox = await startSandboxServer({ streamChunkIntervalMs: 0 });
	const client = sandbox.info.clients.post;
	provider = parseProviderConfig({ baseUrl: sandbox.info.baseUrl, tokenUrl: sandbox.info.tokenUrl, clientId: client.id, clientSecret: client.secret }, 'Sandbox');
});
after(async () => await sandbox?.close());
beforeEach(() => {
	sandbox.state.reset();
	sandbox.state.configure({ streamChunkIntervalMs: 0, rejectStreamOptions: false });
});

const question = (text: string) => ({ model: 'sandbox-echo', messages: [{ role: 'user', content: text }] });
const chats = () => sandbox.state.requests().filter((request) => request.kind === 'chat');

async function collect(stream: AsyncIterable<ChatDelta>): Promise<ChatDelta[]> {
	const deltas: ChatDelta[] = [];
	for await (const delta of stream) deltas.push(delta);
	return deltas;
}

async function failure(promise: Promise<unknown>): Promise<OAuth2Error> {
	try {
		await promise;
	} catch (error) {
		if (error instanceof OAuth2Error) return error;
		const cause = (error as { cause?: unknown }).cause;
		// The Chat Model wraps into n8n's errors; their message is ours.
		return Object.assign(new OAuth2Error((error as Error).message), { hint: (error as { description?: string }).description, cause });
	}
	assert.fail('expected a failure');
}

describe('SSE decoding (WHATWG event stream)', () => {
	it('events split anywhere, CRLF and CR line ends, multi-line data, comments, a last event without its blank line', () => {
		const decoder = new SseDecoder();
		const text = ': keep-alive\r\ndata: {"a":1}\r\n\r\nevent: error\rdata: line one\rdata: line two\r\rdata: tail';
		const events = [...text].flatMap((character) => decoder.push(character));
		events.push(...decoder.end());
		assert.deepEqual(events, [{ data: '{"a":1}' }, { event: 'error', data: 'line one\nline two' }, { data: 'tail' }]);
	});

	it('an event that never ends is refused past 4 MiB instead of filling memory', () => {
		const decoder = new SseDecoder();
		assert.throws(() => {
			for (let i = 0; i < 5; i++) decoder.push(`data: ${'x'.repeat(1024 * 1024)}`);
		}, /longer than/);
	});

	it('chat chunks become deltas: text, tool fragments with their index, finish, usage, [DONE], error events', () => {
		assert.deepEqual(chatDeltasOf({ data: '{"choices":[{"delta":{"content":"Hi"}}]}' }), [{ kind: 'text', text: 'Hi' }]);
		assert.deepEqual(chatDeltasOf({ data: '{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"c1","function":{"name":"calc","arguments":""}}]}}]}' }), [
			{ kind: 'tool', index: 1, id: 'c1', name: 'calc' },
		]);
		assert.deepEqual(chatDeltasOf({ data: '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}' }), [
			{ kind: 'usage', usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 }, raw: { prompt_tokens: 3, completion_tokens: 4 } },
		]);
		assert.equal(chatDeltasOf({ data: '[DONE]' }), 'done');
		assert.deepEqual(chatDeltasOf({ data: '{"error":{"message":"overloaded"}}' }), { body: { error: { message: 'overloaded' } } });
	});
});

describe('streamed chat completions (stream: true) against the sandbox', () => {
	it('text arrives in several deltas, and put together equals the answer without streaming; usage comes last', async () => {
		const deltas = await collect(streamChatCompletion({ ...question('Stream these words one by one please'), stream_options: { include_usage: true } }, { provider, tokens: new TokenCache() }));
		const texts = deltas.filter((delta) => delta.kind === 'text');
		assert.ok(texts.length >= 5, `${texts.length} text deltas`);
		const whole = await callLlmApi<{ choices: Array<{ message: { content: string } }> }>('POST', 'chat/completions', question('Stream these words one by one please'), { provider, tokens: new TokenCache() });
		assert.equal(texts.map((delta) => (delta as { text: string }).text).join(''), whole.choices[0].message.content);
		assert.equal(deltas.at(-1)?.kind, 'usage');
		assert.equal(chats()[0].body && (chats()[0].body as { stream?: boolean }).stream, true);
	});

	it('tool calls stream as fragments keyed by index; StreamedAnswer puts the call back together', async () => {
		const tools = [{ type: 'function', function: { name: 'calculator', parameters: { type: 'object', properties: { input: { type: 'string' } } } } }];
		const deltas = await collect(streamChatCompletion({ ...question('What is 12*34?'), tools }, { provider, tokens: new TokenCache() }));
		const fragments = deltas.filter((delta) => delta.kind === 'tool');
		assert.ok(fragments.length >= 2, 'several fragments');
		const answer = new StreamedAnswer();
		deltas.forEach((delta) => answer.add(delta));
		assert.deepEqual(answer.toolCalls.map((call) => [call.function.name, JSON.parse(call.function.arguments)]), [['calculator', { input: '12*34' }]]);
		assert.equal(answer.finishReason, 'tool_calls');
	});

	it('a gateway that refuses stream_options is asked again without it, and from then on not at all', async () => {
		sandbox.state.configure({ rejectStreamOptions: true });
		const isolated = parseProviderConfig({ ...providerFields(), baseUrl: `${sandbox.info.baseUrl}?gateway=old-azure` }, 'Old Azure');
		const body = { ...question('hello there'), stream_options: { include_usage: true } };
		const first = await collect(streamChatCompletion(body, { provider: isolated, tokens: new TokenCache() }));
		assert.ok(first.some((delta) => delta.kind === 'text'));
		assert.deepEqual(chats().map((request) => request.status), [400, 200]);
		await collect(streamChatCompletion(body, { provider: isolated, tokens: new TokenCache() }));
		assert.equal(chats().length, 3, 'the second call went out once, without stream_options');
		assert.equal((chats()[2].body as Record<string, unknown>).stream_options, undefined);
	});

	it('before the first delta: a 401 gets a new token and one replay, a 503 is retried', async () => {
		sandbox.state.configure({ chatFaults: [{ status: 401 }, { status: 503 }] });
		const tokens = new TokenCache({ retryPolicy: { maxRetries: 0, baseDelayMs: 1, jitterRatio: 0, maxRetryAfterMs: 1 } });
		const deltas = await collect(streamChatCompletion(question('retry me'), { provider, tokens, maxRetries: 1, clock: instantClock }));
		assert.ok(deltas.some((delta) => delta.kind === 'text'));
		assert.deepEqual(chats().map((request) => request.status), [401, 503, 200]);
	});

	it('an error event after the first words ends the stream with the provider\'s words, and is not retried', async () => {
		sandbox.state.configure({ chatFaults: [{ kind: 'stream-error', body: { message: 'The model is overloaded', type: 'server_error' } }] });
		const seen: ChatDelta[] = [];
		const error = await failure(
			(async () => {
				for await (const delta of streamChatCompletion(question('one two three four five'), { provider, tokens: new TokenCache(), maxRetries: 3, clock: instantClock })) seen.push(delta);
			})(),
		);
		assert.match(error.message, /ended the stream with an error: The model is overloaded/);
		assert.ok(seen.some((delta) => delta.kind === 'text'), 'the first words were handed on');
		assert.equal(chats().length, 1);
	});

	it('a stream that stalls fails after the idle timeout; a stream larger than Max Response Size is cut off', async () => {
		const stalling = await hostileServer((_request, res) => {
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			res.write('data: {"choices":[{"delta":{"content":"Hello"}}]}\n\n');
		});
		const stalled = parseProviderConfig({ ...providerFields(), baseUrl: `${stalling.origin}/v1` }, 'Staller');
		const tokens = new TokenCache();
		const deltas: ChatDelta[] = [];
		const error = await failure(
			(async () => {
				for await (const delta of streamChatCompletion(question('hi'), { provider: stalled, tokens, idleTimeoutMs: 150, maxRetries: 0 })) deltas.push(delta);
			})(),
		);
		assert.match(error.message, /sent nothing for 150 ms/);
		assert.deepEqual(deltas.filter((delta) => delta.kind === 'text'), [{ kind: 'text', text: 'Hello' }]);

		const flooding = await hostileServer((_request, res) => {
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			const piece = `data: {"choices":[{"delta":{"content":"${'x'.repeat(60_000)}"}}]}\n\n`;
			const pump = () => {
				while (res.write(piece)) if (res.writableLength > 8 * 1024 * 1024) break;
				if (!res.destroyed) res.once('drain', pump);
			};
			pump();
			res.on('close', () => undefined);
		});
		const flooded = parseProviderConfig({ ...providerFields(), baseUrl: `${flooding.origin}/v1` }, 'Flood');
		const tooLarge = await failure(collect(streamChatCompletion(question('hi'), { provider: flooded, tokens, maxResponseSizeMb: 1, maxRetries: 0 })));
		assert.match(tooLarge.message, /larger than 1048576 bytes/);
	});

	it('a cancelled execution ends the stream at once', async () => {
		const stalling = await hostileServer((_request, res) => {
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			res.write('data: {"choices":[{"delta":{"content":"Hello"}}]}\n\n');
		});
		const stalled = parseProviderConfig({ ...providerFields(), baseUrl: `${stalling.origin}/v1` }, 'Staller');
		const controller = new AbortController();
		const error = await failure(
			(async () => {
				for await (const delta of streamChatCompletion(question('hi'), { provider: stalled, tokens: new TokenCache(), signal: controller.signal })) {
					if (delta.kind === 'text') controller.abort();
				}
			})(),
		);
		assert.match(error.message, /cancelled/);
	});

	it('a stream of more than 128 tool calls is refused (each would cost the agent a merge over all before it)', async () => {
		const flood = await hostileServer((_request, res) => {
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			for (let index = 0; index < 200; index++) {
				res.write(`data: ${JSON.stringify({ choices: [{ delta: { tool_calls: [{ index, id: `c${index}`, function: { name: 'f', arguments: '{}' } }] } }] })}\n\n`);
			}
			res.end('data: [DONE]\n\n');
		});
		const config = parseProviderConfig({ ...providerFields(), baseUrl: `${flood.origin}/v1` }, 'Flood');
		const error = await failure(collect(streamChatCompletion(question('hi'), { provider: config, tokens: new TokenCache(), maxRetries: 0 })));
		assert.match(error.message, /streamed more than 128 tool calls in one answer/);
	});

	it('tool-call arguments of more than 1 MiB in one answer are refused', async () => {
		const flood = await hostileServer((_request, res) => {
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			res.write(`data: ${JSON.stringify({ choices: [{ delta: { tool_calls: [{ index: 0, id: 'c0', function: { name: 'f', arguments: '' } }] } }] })}\n\n`);
			const piece = `data: ${JSON.stringify({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: 'x'.repeat(64 * 1024) } }] } }] })}\n\n`;
			for (let i = 0; i < 20; i++) res.write(piece);
			res.end('data: [DONE]\n\n');
		});
		const config = parseProviderConfig({ ...providerFields(), baseUrl: `${flood.origin}/v1` }, 'Flood');
		const error = await failure(collect(streamChatCompletion(question('hi'), { provider: config, tokens: new TokenCache(), maxRetries: 0 })));
		assert.match(error.message, /streamed tool-call arguments of more than 1048576 characters in one answer/);
	});

	it('a consumer that stops after the first delta closes the connection at once', async () => {
		let closed = false;
		const stalling = await hostileServer((_request, res) => {
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			res.write('data: {"choices":[{"delta":{"content":"Hello"}}]}\n\n');
			res.on('close', () => (closed = true));
		});
		const config = parseProviderConfig({ ...providerFields(), baseUrl: `${stalling.origin}/v1` }, 'Staller');
		for await (const delta of streamChatCompletion(question('hi'), { provider: config, tokens: new TokenCache(), idleTimeoutMs: 60_000 })) {
			if (delta.kind === 'text') break;
		}
		await new Promise((resolve) => setTimeout(resolve, 100));
		assert.equal(closed, true, 'the server saw the connection close');
	});

	it('a gateway that answers plain JSON to stream: true is read as one answer', async () => {
		const plain = await hostileServer((_request, res) => {
			res.writeHead(200, { 'content-type': 'application/json' }).end(
				JSON.stringify({ id: 'x', choices: [{ message: { role: 'assistant', content: 'whole answer' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 2 } }),
			);
		});
		const config = parseProviderConfig({ ...providerFields(), baseUrl: `${plain.origin}/v1` }, 'Plain');
		const answer = new StreamedAnswer();
		for (const delta of await collect(streamChatCompletion(question('hi'), { provider: config, tokens: new TokenCache() }))) answer.add(delta);
		assert.equal(answer.text, 'whole answer');
		assert.equal(answer.usage?.totalTokens, 3);
	});
});

const instantClock = { nowMs: () => performance.now(), wallNowMs: () => Date.now(), sleep: async () => undefined, random: () => 0 };

function providerFields() {
	const client = sandbox.info.clients.post;
	return { baseUrl: sandbox.info.baseUrl, tokenUrl: sandbox.info.tokenUrl, clientId: client.id, clientSecret: client.secret };
}

describe('the Chat Model streams token by token', () => {
	it('text deltas as they arrive, one finish with the usage; each tool call as one delta with its id, name and whole arguments', async () => {
		const model = new OAuth2ChatModel('sandbox-echo', { provider, node });
		const chunks = [];
		for await (const chunk of model.stream([{ role: 'user', content: [{ type: 'text', text: 'alpha beta gamma delta' }] }])) chunks.push(chunk);
		assert.ok(chunks.filter((chunk) => chunk.type === 'text-delta').length >= 4);
		const finish = chunks.at(-1) as { type: string; usage?: { totalTokens: number } };
		assert.equal(finish.type, 'finish');
		assert.ok((finish.usage?.totalTokens ?? 0) > 0, 'usage from stream_options');
		assert.deepEqual((chats()[0].body as Record<string, unknown>).stream_options, { include_usage: true });

		const calculator = { type: 'function' as const, name: 'calculator', description: 'math', inputSchema: { type: 'object', properties: { input: { type: 'string' } } } };
		const withTool = model.withTools([calculator as never]);
		const toolChunks = [];
		for await (const chunk of withTool.stream([{ role: 'user', content: [{ type: 'text', text: 'What is 6*7?' }] }])) toolChunks.push(chunk);
		const fragments = toolChunks.filter((chunk) => chunk.type === 'tool-call-delta') as Array<{ id?: string; name?: string; argumentsDelta?: string }>;
		// The sandbox streamed the call in three fragments; n8n gets it once, complete.
		assert.equal(fragments.length, 1);
		assert.match(fragments[0].id ?? '', /^call_/);
		assert.equal(fragments[0].name, 'calculator');
		assert.deepEqual(JSON.parse(fragments[0].argumentsDelta ?? ''), { input: '6*7' });
		assert.equal((toolChunks.at(-1) as { finishReason?: string }).finishReason, 'tool-calls');
	});

	it('with Streaming off, one plain call handed over as chunks', async () => {
		const model = new OAuth2ChatModel('sandbox-echo', { provider, node }, { streaming: false });
		const chunks = [];
		for await (const chunk of model.stream([{ role: 'user', content: [{ type: 'text', text: 'no stream' }] }])) chunks.push(chunk);
		assert.deepEqual(chunks.filter((chunk) => chunk.type === 'text-delta').length, 1);
		assert.equal((chats()[0].body as Record<string, unknown>).stream, undefined);
	});
});

describe('images', () => {
	const pngBytes = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
	const dataUrl = `data:image/png;base64,${pngBytes.toString('base64')}`;
	const digest = createHash('sha256').update(pngBytes).digest('hex');

	it("the Chat Model: n8n's image_url blocks become standard image blocks, then OpenAI image_url parts; the bytes arrive", async () => {
		const humanLike = Object.assign(Object.create({ kind: 'human' }) as object, { content: [{ type: 'image_url', image_url: { url: dataUrl } }, { type: 'image_url', image_url: 'https://img.example/cat.webp?x=1' }] });
		const converted = withStandardImageBlocks(humanLike) as { content: unknown[] };
		assert.equal(Object.getPrototypeOf(converted), Object.getPrototypeOf(humanLike), 'same message kind');
		assert.deepEqual(converted.content, [
			{ type: 'image', url: dataUrl, mimeType: 'image/png' },
			{ type: 'image', url: 'https://img.example/cat.webp?x=1', mimeType: 'image/webp' },
		]);
		assert.equal(imageMediaType('data:;base64,AAAA'), 'image/*');

		// What n8n's adapter makes of a standard image block: a file part with the URL in providerMetadata.
		const body = buildChatCompletionRequest({ model: 'sandbox-echo' }, [
			{ role: 'user', content: [{ type: 'text', text: 'What is this?' }] },
			{ role: 'user', content: [{ type: 'file', mediaType: 'image/png', providerMetadata: { url: dataUrl } } as never] },
		], []);
		const answer = await callLlmApi<{ choices: Array<{ message: { content: string } }> }>('POST', 'chat/completions', body, { provider, tokens: new TokenCache() });
		assert.match(answer.choices[0].message.content, new RegExp(`image/png sha256:${digest} \\(${pngBytes.length} bytes\\)`));
	});

	it('the chat node: images go to the last user message; a content given as JSON parts is sent as parts', () => {
		const body = buildChatRequest({
			model: 'm',
			messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'Describe it' }],
			jsonOutput: false,
			options: {},
			images: [{ type: 'image_url', image_url: { url: dataUrl } }],
		});
		assert.deepEqual((body.messages as unknown[])[1], { role: 'user', content: [{ type: 'text', text: 'Describe it' }, { type: 'image_url', image_url: { url: dataUrl } }] });
		const parts = buildChatRequest({ model: 'm', messages: [{ role: 'user', content: JSON.stringify([{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: dataUrl } }]) }], jsonOutput: false, options: {} });
		assert.equal(((parts.messages as Array<{ content: unknown[] }>)[0].content).length, 2);
		// An https image URL only from a real array (text may come from whoever called a webhook), and only with Allow Remote Image URLs on.
		const fromArray = buildChatRequest({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.example/a.png' } }] }], jsonOutput: false, options: { allowRemoteImageUrls: true } });
		assert.equal(((fromArray.messages as Array<{ content: Array<{ image_url: { url: string } }> }>)[0].content)[0].image_url.url, 'https://x.example/a.png');
		assert.throws(
			() => buildChatRequest({ model: 'm', messages: [{ role: 'user', content: '[{"type": "image_url", "image_url": {"url": "http://10.0.0.5/admin"}}]' }], jsonOutput: false, options: {} }),
			/part 1 is not a text or image part/,
		);
		assert.equal((buildChatRequest({ model: 'm', messages: [{ role: 'user', content: '[{"type": "order", "id": 7}]' }], jsonOutput: false, options: {} }).messages as Array<{ content: unknown }>)[0].content, '[{"type": "order", "id": 7}]');
		assert.throws(
			() => buildChatRequest({ model: 'm', messages: [{ role: 'user', content: '[{"type": "image_url", "image_url": {}}]' }], jsonOutput: false, options: {} }),
			/part 1 is not a text or image part/,
		);
		assert.equal((buildChatRequest({ model: 'm', messages: [{ role: 'user', content: '[1, 2, 3] are numbers' }], jsonOutput: false, options: {} }).messages as Array<{ content: unknown }>)[0].content, '[1, 2, 3] are numbers');
	});
});

describe('image URLs: inline only unless Allow Remote Image URLs is on, https:// only, the same caps on every path (issue 19 §5)', () => {
	const png = `data:image/png;base64,${Buffer.from('89504e470d0a1a0a', 'hex').toString('base64')}`;
	const remote = 'https://images.example/cat.png';
	const chatNode = (url: string, allowRemoteImageUrls?: boolean) => () =>
		buildChatRequest({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'what is it?' }, { type: 'image_url', image_url: { url } }] }], jsonOutput: false, options: { allowRemoteImageUrls } });
	const chatModel = (url: string, allowRemoteImageUrls?: boolean) => async () => {
		const model = new OAuth2ChatModel('sandbox-echo', { provider, node }, { streaming: false, allowRemoteImageUrls });
		return await model.generate([{ role: 'user', content: [{ type: 'text', text: 'what is it?' }, { type: 'file', mediaType: 'image/png', providerMetadata: { url } } as never] }]);
	};
	const refusedRemote = /remote image URLs are off|Allow Remote Image URLs/;

	it('the chat node: off by default, a data URL goes and an https:// URL is refused; on, https:// goes; http:// and other schemes never', () => {
		assert.doesNotThrow(chatNode(png));
		assert.throws(chatNode(remote), refusedRemote);
		assert.throws(chatNode(remote, false), refusedRemote);
		assert.doesNotThrow(chatNode(remote, true));
		for (const [url, scheme] of [['http://10.0.0.5/admin.png', 'an http'], ['file:///etc/passwd', 'a file'], ['gopher://internal/x', 'a gopher'], ['HTTP://metadata/x.png', 'an http']]) {
			assert.throws(chatNode(url, true), new RegExp(`Image 1 \\(message 1\\) is ${scheme}: URL; images go inline`), url);
		}
		// Inline, the raster types only: an SVG may name URLs of its own, which a rendering gateway would fetch.
		assert.throws(chatNode('data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=', true), /a data URL of another type than PNG, JPEG, GIF or WebP/);
		assert.throws(chatNode(remote), (error: unknown) => /Image Binary Properties/.test(String((error as { hint?: string }).hint)));
	});

	it('the Chat Model: off by default, the agent\'s https:// image is refused before any call; on, it reaches the gateway; http:// never', async () => {
		const before = chats().length;
		await assert.rejects(chatModel(remote)(), refusedRemote);
		await assert.rejects(chatModel('http://169.254.169.254/latest/meta-data/x.png', true)(), /is an http: URL/);
		// The hint speaks of the agent's and the chain's own ways to send an image inline.
		await assert.rejects(chatModel(remote)(), (error: unknown) => /Basic LLM Chain's Image \(Binary\)/.test(JSON.stringify(error)));
		assert.equal(chats().length, before, 'nothing was sent');
		await chatModel(png)();
		await chatModel(remote, true)();
		const sent = chats().slice(before).map((chat) => JSON.stringify(chat.body));
		assert.equal(sent.length, 2);
		assert.ok(sent[1].includes(remote), 'with the option on, the https:// URL reached the gateway');
	});

	it('the same caps on every path: 20 MiB per image, 16 images and 50 MiB per call, for content parts and for the Chat Model alike', async () => {
		const big = (mebibytes: number) => `data:image/png;base64,${'A'.repeat(Math.ceil((mebibytes * 1024 * 1024 * 4) / 3))}`;
		assert.throws(chatNode(big(21)), /at most 20 MiB per image/);
		await assert.rejects(chatModel(big(21))(), /at most 20 MiB per image/);
		const parts = (count: number, url: string) => Array.from({ length: count }, () => ({ type: 'image_url', image_url: { url } }));
		assert.throws(() => buildChatRequest({ model: 'm', messages: [{ role: 'user', content: parts(17, png) }], jsonOutput: false, options: {} }), /holds 17 images; at most 16 are sent per call/);
		assert.throws(() => buildChatRequest({ model: 'm', messages: [{ role: 'user', content: parts(3, big(19)) }], jsonOutput: false, options: {} }), /at most 50 MiB per call/);
		const model = new OAuth2ChatModel('sandbox-echo', { provider, node }, { streaming: false });
		const many = Array.from({ length: 17 }, () => ({ type: 'file', mediaType: 'image/png', providerMetadata: { url: png } }) as never);
		await assert.rejects(model.generate([{ role: 'user', content: many }]), /holds 17 images; at most 16 are sent per call/);
	});
});

describe('the chat node\'s image limits (Image Binary Properties)', () => {
	/** Just what imageParts reads of n8n's context: the item's binary entries and the helper that loads one. */
	const contextWith = (binary: Record<string, { mimeType: string; bytes?: number; data?: string }>, load: (name: string) => Buffer) =>
		({
			getInputData: () => [{ json: {}, binary }],
			helpers: { getBinaryDataBuffer: async (_itemIndex: number, name: string) => load(name) },
		}) as never;

	it('too many images, an image over 20 MiB (refused before it is read, where n8n knows its size), more than 50 MiB together, a missing property, a file that is no image', async () => {
		let reads = 0;
		const read = (size: number) => () => {
			reads += 1;
			return Buffer.alloc(size);
		};
		const names = Array.from({ length: 17 }, (_, i) => `img${i}`);
		await assert.rejects(imageParts(contextWith({}, read(1)), 0, names), /names 17 properties; at most 16 images/);
		await assert.rejects(imageParts(contextWith({ big: { mimeType: 'image/png', bytes: 21 * 1024 * 1024 } }, read(1)), 0, ['big']), /is 21\.0 MiB; at most 20 MiB per image/);
		assert.equal(reads, 0, 'the oversized file was not read');
		const three = { a: { mimeType: 'image/png' }, b: { mimeType: 'image/png' }, c: { mimeType: 'image/png' } };
		await assert.rejects(imageParts(contextWith(three, read(19 * 1024 * 1024)), 0, ['a', 'b', 'c']), /are 57\.0 MiB together; at most 50 MiB per item/);
		await assert.rejects(imageParts(contextWith({ photo: { mimeType: 'image/png' } }, read(1)), 0, ['data']), /has no binary property "data".*\n?/);
		await assert.rejects(imageParts(contextWith({ doc: { mimeType: 'application/pdf' } }, read(1)), 0, ['doc']), /is application\/pdf, not an image/);
		const [part] = await imageParts(contextWith({ ok: { mimeType: 'image/png' } }, () => Buffer.from('png-bytes')), 0, ['ok']);
		assert.deepEqual(part, { type: 'image_url', image_url: { url: `data:image/png;base64,${Buffer.from('png-bytes').toString('base64')}` } });
	});
});

describe('options both chat nodes share', () => {
	it('Max Completion Tokens and Reasoning Effort become max_completion_tokens and reasoning_effort', () => {
		const request = buildChatRequest({ model: 'o4', messages: [{ role: 'user', content: 'x' }], jsonOutput: false, options: { maxCompletionTokens: 500, reasoningEffort: 'low' } });
		const node = chatCompletionsWire.chatBody(request, { format: 'chatCompletions', anthropicVersion: '2023-06-01', storeResponses: false }, false);
		const model = buildChatCompletionRequest({ model: 'o4', maxCompletionTokens: 500, reasoningEffort: 'low' }, [{ role: 'user', content: [{ type: 'text', text: 'x' }] }], []);
		for (const body of [node, model]) {
			assert.equal(body.max_completion_tokens, 500);
			assert.equal(body.reasoning_effort, 'low');
			assert.equal(body.max_tokens, undefined);
		}
	});
});

describe('embeddings', () => {
	const docs = ['Cats purr and sleep on warm sofas', 'Refresh tokens renew access tokens', 'Invoices are paid within thirty days', 'The token endpoint issues access tokens', 'Dogs bark at the mail carrier'];

	it('batches of Batch Size, in input order, each batch on its own request; similar texts are near each other', async () => {
		const vectors = await embedTexts(docs, { model: 'sandbox-embed', batchSize: 2 }, { provider, node });
		assert.equal(vectors.length, 5);
		const requests = sandbox.state.requests().filter((request) => request.kind === 'embeddings');
		assert.deepEqual(requests.map((request) => (request.body as { input: string[] }).input.length).sort(), [1, 2, 2]);
		const [query] = await embedTexts(['Which endpoint issues tokens?'], { model: 'sandbox-embed', batchSize: 2 }, { provider, node });
		const score = (vector: number[]) => vector.reduce((sum, value, index) => sum + value * query[index], 0);
		const best = vectors.map((vector, index) => [score(vector), index] as const).sort((a, b) => b[0] - a[0])[0][1];
		assert.equal(docs[best], 'The token endpoint issues access tokens');
	});

	it('a batch that gets a 429 is retried as one; dimensions are sent', async () => {
		sandbox.state.configure({ chatFaults: [{ status: 429, match: '/embeddings' }] });
		const vectors = await embedTexts(docs.slice(0, 3), { model: 'sandbox-embed', batchSize: 3, dimensions: 16 }, { provider, node });
		assert.equal(vectors[0].length, 16);
		const requests = sandbox.state.requests().filter((request) => request.kind === 'embeddings');
		assert.deepEqual(requests.map((request) => request.status), [429, 200]);
		assert.equal((requests[1].body as { dimensions: number }).dimensions, 16);
	});

	it('an answer with the wrong number of vectors is a clear error', async () => {
		const wrong = await hostileServer((_request, res) => {
			res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [{ index: 0, embedding: [0.1] }] }));
		});
		const config = parseProviderConfig({ ...providerFields(), baseUrl: `${wrong.origin}/v1` }, 'Wrong');
		const error = await failure(embedTexts(['a', 'b'], { model: 'x', batchSize: 10 }, { provider: config, node }));
		assert.match(error.message, /answered, but the answer has 1 embeddings for 2 texts/);
	});
});
