/**
 * Tests of the sandbox provider itself, over real HTTP with plain fetch.
 * Run: node --import tsx --test test/sandbox/sandbox.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';

import { answerChat } from './chat-server';
import { basicAuthorization, type Sandbox, startSandbox, vertexBaseUrl } from './sandbox';

interface ChatJson {
	id: string;
	object: string;
	choices: Array<{ message: { content: string | null }; delta?: { content?: string }; finish_reason: string | null }>;
	usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
	error: { message: string; type: string; code: string | null };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function tokenRequest(sb: Sandbox, form: Record<string, string>, authorization?: string) {
	const res = await fetch(sb.tokenUrl, {
		method: 'POST',
		headers: {
			'content-type': 'application/x-www-form-urlencoded',
			...(authorization ? { authorization } : {}),
		},
		body: new URLSearchParams({ grant_type: 'client_credentials', ...form }),
	});
	return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function chat(sb: Sandbox, token: string | undefined, body: Record<string, unknown>, headers: Record<string, string> = {}) {
	const res = await fetch(`${sb.baseUrl}/chat/completions`, {
		method: 'POST',
		headers: {
			'content-type': 'application/json',
			...(token ? { authorization: `Bearer ${token}` } : {}),
			...headers,
		},
		body: JSON.stringify(body),
	});
	const text = await res.text();
	return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as ChatJson };
}

/** As n8n 2.41 offers its Calculator tool (a LangChain Tool named after its node "Calculator"). */
const calculatorTool = {
	type: 'function',
	function: {
		name: 'Calculator',
		description: 'Useful for getting the result of a math expression.',
		parameters: { type: 'object', properties: { input: { type: 'string' } }, additionalProperties: false },
	},
};

const hello = { model: 'sandbox-echo', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello sandbox world' }] };

describe('sandbox provider (in-process)', () => {
	let sb: Sandbox;

	before(async () => {
		sb = await startSandbox({ inProcess: true, tokenTtlSeconds: 300 });
	});
	after(async () => {
		await sb?.stop();
	});

	it('exposes clean URLs and the default clients', () => {
		assert.match(sb.baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
		assert.equal(sb.tokenUrl, `${sb.issuer}/token`);
		assert.equal(sb.issuer, `${sb.origin}/oauth`);
		assert.deepEqual(sb.clients.post, { id: 'sandbox-client', secret: 'sandbox-secret', authMethod: 'client_secret_post' });
		assert.equal(sb.clients.basic.authMethod, 'client_secret_basic');
		assert.equal(sb.clients.xsuaa.id, 'sb-abc!a1|aicore!b2');
	});

	it('issues an RFC 9068 JWT with client_secret_post, accepted by the chat API', async () => {
		const t = await tokenRequest(sb, { client_id: 'sandbox-client', client_secret: 'sandbox-secret' });
		assert.equal(t.status, 200);
		assert.equal(t.body.token_type, 'Bearer');
		assert.equal(t.body.expires_in, 300);
		assert.equal(t.body.scope, 'llm.chat llm.models');
		const token = t.body.access_token as string;
		assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
		const claims = decodeJwt(token);
		assert.equal(claims.iss, sb.issuer);
		assert.equal(claims.aud, sb.resource);
		assert.equal(claims.client_id, 'sandbox-client');
		assert.equal(claims.sub, 'sandbox-client');

		const r = await chat(sb, token, hello, { 'AI-Resource-Group': 'rg-42' });
		assert.equal(r.status, 200, r.text);
		const body = r.json();
		assert.equal(body.object, 'chat.completion');
		assert.equal(body.choices[0].message.content, 'Echo from sandbox-echo: hello sandbox world');
		assert.equal(body.choices[0].finish_reason, 'stop');
		assert.deepEqual(body.usage, { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 });
		const again = await chat(sb, token, hello);
		assert.equal(again.json().id, body.id, 'same request, same id');

		const models = await fetch(`${sb.baseUrl}/models`, { headers: { authorization: `Bearer ${token}` } });
		assert.equal(models.status, 200);
		const list = (await models.json()) as { object: string; data: Array<{ id: string; object: string; owned_by: string }> };
		assert.equal(list.object, 'list');
		assert.deepEqual(list.data.map((m) => [m.id, m.object, m.owned_by]), [
			['sandbox-echo', 'model', 'sandbox'],
			['sandbox-json', 'model', 'sandbox'],
			['sandbox-embed', 'model', 'sandbox'],
		]);

		const recorded = (await sb.requests()).filter((q) => q.kind === 'chat');
		assert.equal(recorded.at(0)?.headers['ai-resource-group'], 'rg-42');
		assert.equal(recorded.at(0)?.clientId, 'sandbox-client');
	});

	it('answers json_object requests with a JSON string, and streams when asked', async () => {
		const { access_token } = await sb.fetchToken('post');
		const r = await chat(sb, access_token, { ...hello, model: 'm1', response_format: { type: 'json_object' } });
		assert.equal(r.status, 200);
		assert.deepEqual(JSON.parse(r.json().choices[0].message.content ?? ''), { echo: 'hello sandbox world', model: 'm1' });

		const s = await chat(sb, access_token, { ...hello, stream: true, stream_options: { include_usage: true } });
		assert.equal(s.status, 200);
		assert.match(s.headers.get('content-type') ?? '', /text\/event-stream/);
		const events = s.text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
		assert.equal(events.at(-1), '[DONE]');
		const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as Partial<ChatJson>);
		const text = chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
		assert.equal(text, 'Echo from sandbox-echo: hello sandbox world');
		assert.equal(chunks.at(-1)?.usage?.total_tokens, 11);
	});

	it('answers a calculation with a tool_calls entry for the offered calculator, and a tool result with it', async () => {
		const { access_token } = await sb.fetchToken('post');
		const tools = [calculatorTool];
		const question = { role: 'user', content: 'calculate (3+4)*5' };
		const r = await chat(sb, access_token, { model: 'sandbox-echo', messages: [question], tools });
		assert.equal(r.status, 200);
		const choice = (r.json() as any).choices[0];
		assert.equal(choice.finish_reason, 'tool_calls');
		assert.equal(choice.message.content, null);
		const [call] = choice.message.tool_calls;
		assert.equal(call.type, 'function');
		assert.equal(call.function.name, 'Calculator');
		assert.deepEqual(JSON.parse(call.function.arguments), { input: '(3+4)*5' });

		const followUp = [question, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '35' }];
		const f = await chat(sb, access_token, { model: 'sandbox-echo', messages: followUp, tools });
		assert.equal(f.json().choices[0].message.content, 'The result is 35');

		const s = await chat(sb, access_token, { model: 'sandbox-echo', messages: [question], tools, stream: true });
		const chunks = s.text
			.split('\n\n')
			.filter((e) => e && e !== 'data: [DONE]')
			.map((e) => JSON.parse(e.replace(/^data: /, '')) as any);
		// As OpenAI streams it: id, type and name first, then the arguments in pieces.
		const streamed = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
		assert.ok(streamed.length >= 2);
		assert.deepEqual(streamed[0], { index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } });
		assert.ok(streamed.slice(1).every((fragment: { index: number; id?: string }) => fragment.index === 0 && fragment.id === undefined));
		assert.equal(streamed.map((fragment: { function: { arguments: string } }) => fragment.function.arguments).join(''), call.function.arguments);
		assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
	});

	it('client_secret_basic: form-encoded credentials work, raw "%" is refused (oidc-provider form-decodes)', async () => {
		const { id, secret } = sb.clients.basic;
		const ok = await tokenRequest(sb, {}, basicAuthorization(id, secret));
		assert.equal(ok.status, 200, JSON.stringify(ok.body));
		assert.equal(decodeJwt(ok.body.access_token as string).client_id, id);

		const raw = await tokenRequest(sb, {}, `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`);
		assert.equal(raw.status, 400);
		assert.equal(raw.body.error, 'invalid_request');

		const wrong = await tokenRequest(sb, {}, basicAuthorization(id, 'nope'));
		assert.equal(wrong.status, 401);
		assert.equal(wrong.body.error, 'invalid_client');
		assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic /);
	});

	it('client_secret_basic with an XSUAA-style client id, encoded and raw', async () => {
		const { id, secret } = sb.clients.xsuaa;
		const encoded = await tokenRequest(sb, {}, basicAuthorization(id, secret));
		assert.equal(encoded.status, 200, JSON.stringify(encoded.body));
		assert.ok(basicAuthorization(id, secret) !== `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`);
		// '!' and '|' survive decodeURIComponent, so the raw form is accepted too.
		const raw = await tokenRequest(sb, {}, `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`);
		assert.equal(raw.status, 200);
		const r = await chat(sb, encoded.body.access_token as string, hello);
		assert.equal(r.status, 200);
		assert.equal((await sb.stats()).clients[id].chatRequests, 1);
	});

	it('gives real RFC 6749 errors: invalid_client, invalid_scope, unsupported_grant_type', async () => {
		const wrong = await tokenRequest(sb, { client_id: 'sandbox-client', client_secret: 'wrong' });
		assert.equal(wrong.status, 401);
		assert.equal(wrong.body.error, 'invalid_client');
		const unknown = await tokenRequest(sb, { client_id: 'nobody', client_secret: 'x' });
		assert.equal(unknown.body.error, 'invalid_client');
		const notAllowed = await tokenRequest(sb, { client_id: 'sandbox-client', client_secret: 'sandbox-secret', scope: 'llm.admin' });
		assert.equal(notAllowed.status, 400);
		assert.equal(notAllowed.body.error, 'invalid_scope');
		const unrecognized = await tokenRequest(sb, { client_id: 'sandbox-client', client_secret: 'sandbox-secret', scope: 'llm.chat bogus' });
		assert.equal(unrecognized.body.error, 'invalid_scope');
		const grant = await tokenRequest(sb, { client_id: 'sandbox-client', client_secret: 'sandbox-secret', grant_type: 'password' });
		assert.equal(grant.body.error, 'unsupported_grant_type');
	});

	it('rejects missing, forged, wrong-scope and expired tokens with an OpenAI-style 401', async () => {
		const missing = await chat(sb, undefined, hello);
		assert.equal(missing.status, 401);
		assert.deepEqual(missing.json().error.code, 'invalid_token');
		assert.equal(missing.json().error.type, 'invalid_request_error');
		assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);

		const { access_token } = await sb.fetchToken('post');
		const [h, p] = access_token.split('.');
		const forged = await chat(sb, `${h}.${p}.${Buffer.from('x'.repeat(256)).toString('base64url')}`, hello);
		assert.equal(forged.status, 401);

		const modelsOnly = await sb.fetchToken('post', { scope: 'llm.models' });
		assert.equal(modelsOnly.scope, 'llm.models');
		assert.equal((await chat(sb, modelsOnly.access_token, hello)).status, 401);

		await sb.configure({ tokenTtlSeconds: 2 });
		try {
			const short = await sb.fetchToken('basic');
			assert.equal(short.expires_in, 2);
			assert.equal((await chat(sb, short.access_token, hello)).status, 200);
			const exp = decodeJwt(short.access_token).exp ?? 0;
			await sleep(Math.max(0, exp * 1000 - Date.now()) + 50);
			const expired = await chat(sb, short.access_token, hello);
			assert.equal(expired.status, 401);
			assert.match(expired.json().error.message, /expired/);
		} finally {
			await sb.configure({ tokenTtlSeconds: 300 });
		}
	});

	it('counts per client and resets', async () => {
		await sb.reset();
		const { access_token } = await sb.fetchToken('post');
		await sb.fetchToken('post');
		await tokenRequest(sb, { client_id: 'sandbox-client', client_secret: 'bad' });
		await chat(sb, access_token, hello);
		await chat(sb, `${access_token}x`, hello);
		const stats = await sb.stats();
		assert.deepEqual(stats.clients['sandbox-client'], { tokenRequests: 3, tokensIssued: 2, tokenErrors: 1, chatRequests: 2, chatRejected401: 1 });
		assert.equal(stats.totals.tokenRequests, 3);
		await sb.reset();
		const zero = await sb.stats();
		assert.deepEqual(zero.clients, {});
		assert.equal(zero.recordedRequests, 0);
	});

	it('injects token faults (status with Retry-After, drop) and then clears them', async () => {
		await sb.reset();
		await sb.configure({ tokenFaults: [{ status: 503, retryAfterSeconds: 2, count: 2 }, { kind: 'drop' }] });
		const form = { client_id: 'sandbox-client', client_secret: 'sandbox-secret' };
		for (let i = 0; i < 2; i++) {
			const r = await tokenRequest(sb, form);
			assert.equal(r.status, 503);
			assert.equal(r.headers.get('retry-after'), '2');
			assert.equal(r.body.error, 'temporarily_unavailable');
		}
		await assert.rejects(tokenRequest(sb, form));
		assert.equal((await tokenRequest(sb, form)).status, 200);
		const c = (await sb.stats()).clients['sandbox-client'];
		assert.deepEqual([c.tokenRequests, c.tokensIssued, c.tokenErrors], [4, 1, 3]);

		await sb.configure({ tokenFaults: [{ status: 500, count: 5 }] });
		await sb.configure({ tokenFaults: [] });
		assert.equal((await tokenRequest(sb, form)).status, 200);
	});

	it('injects chat faults (429 with Retry-After, 401 once, 500) and latency', async () => {
		await sb.reset();
		const { access_token } = await sb.fetchToken('post');
		await sb.configure({
			chatFaults: [
				{ status: 429, retryAfterSeconds: 1 },
				{ status: 401 },
				{ status: 500 },
			],
		});
		const r429 = await chat(sb, access_token, hello);
		assert.equal(r429.status, 429);
		assert.equal(r429.headers.get('retry-after'), '1');
		assert.equal(r429.json().error.code, 'rate_limit_exceeded');
		const r401 = await chat(sb, access_token, hello);
		assert.equal(r401.status, 401);
		assert.match(r401.headers.get('www-authenticate') ?? '', /invalid_token/);
		assert.equal((await chat(sb, access_token, hello)).status, 500);
		assert.equal((await chat(sb, access_token, hello)).status, 200);
		const c = (await sb.stats()).clients['sandbox-client'];
		assert.deepEqual([c.chatRequests, c.chatRejected401], [4, 1]);

		await sb.configure({ chatLatencyMs: 300 });
		const t0 = Date.now();
		assert.equal((await chat(sb, access_token, hello)).status, 200);
		assert.ok(Date.now() - t0 >= 290, `latency applied (${Date.now() - t0} ms)`);
		await sb.configure({ chatLatencyMs: 0 });

		const bad = await fetch(`${sb.controlUrl}/config`, { method: 'POST', body: JSON.stringify({ chatFaults: [{ status: 42 }] }) });
		assert.equal(bad.status, 400);
	});
});

describe('sandbox provider (child process)', () => {
	it('starts in a child process, serves, and stops cleanly', async () => {
		const sb = await startSandbox({ tokenTtlSeconds: 60 });
		try {
			assert.equal(sb.mode, 'child-process');
			assert.notEqual(sb.pid, process.pid);
			const { access_token } = await sb.fetchToken('xsuaa');
			assert.equal((await chat(sb, access_token, hello)).status, 200);
			const stats = await sb.stats();
			assert.equal(stats.clients[sb.clients.xsuaa.id].tokensIssued, 1);
		} finally {
			await sb.stop();
		}
		assert.throws(() => process.kill(sb.pid, 0), /ESRCH/);
		await assert.rejects(fetch(`${sb.controlUrl}/stats`));
	});

	it('main.ts --exit-on-stdin-close exits when its stdin closes (parent died)', async () => {
		const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'main.ts'), '--json-only', '--exit-on-stdin-close'], {
			cwd: path.resolve(__dirname, '..', '..'),
			stdio: ['pipe', 'pipe', 'inherit'],
		});
		const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
		try {
			const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
			const info = JSON.parse(line) as { ready: boolean; baseUrl: string };
			assert.equal(info.ready, true);
			child.stdin.end();
			assert.equal(await exited, 0);
		} finally {
			if (child.exitCode === null) child.kill('SIGKILL');
		}
	});
});

describe('answerChat (pure): tool calling', () => {
	it('asks for the offered calculator tool when the user asks for a calculation, deterministically', () => {
		const request = { model: 'sandbox-echo', messages: [{ role: 'user', content: 'What is 12*34?' }], tools: [calculatorTool] };
		const answer = answerChat(request);
		assert.equal(answer.finish_reason, 'tool_calls');
		assert.equal(answer.content, null);
		assert.equal(answer.tool_calls?.length, 1);
		assert.equal(answer.tool_calls?.[0].function.name, 'Calculator');
		assert.deepEqual(JSON.parse(answer.tool_calls?.[0].function.arguments ?? ''), { input: '12*34' });
		assert.deepEqual(answerChat(request), answer);
	});

	it('uses the tool\'s own single string argument when it is not called input', () => {
		const tool = { type: 'function', function: { name: 'my_calculator', parameters: { type: 'object', properties: { expression: { type: 'string' } } } } };
		const answer = answerChat({ model: 'm', messages: [{ role: 'user', content: 'please calculate 2+2' }], tools: [tool] });
		assert.equal(answer.tool_calls?.[0].function.name, 'my_calculator');
		assert.deepEqual(JSON.parse(answer.tool_calls?.[0].function.arguments ?? ''), { expression: '2+2' });
	});

	it('answers "The result is <tool output>" when the last message is a tool result', () => {
		const answer = answerChat({
			model: 'sandbox-echo',
			messages: [
				{ role: 'user', content: 'calculate 12*34' },
				{ role: 'assistant', content: null, tool_calls: [] },
				{ role: 'tool', tool_call_id: 'call_1', content: '408' },
			],
			tools: [calculatorTool],
		});
		assert.deepEqual(answer, { content: 'The result is 408', finish_reason: 'stop' });
	});

	it('keeps echoing without tools, without a calculator, or without a calculation to do', () => {
		const ask = (content: string, tools?: unknown[]) => answerChat({ model: 'sandbox-echo', messages: [{ role: 'user', content }], tools }).content;
		assert.equal(ask('What is 12*34?'), 'Echo from sandbox-echo: What is 12*34?');
		assert.equal(ask('What is 12*34?', [{ type: 'function', function: { name: 'weather' } }]), 'Echo from sandbox-echo: What is 12*34?');
		assert.equal(ask('hello', [calculatorTool]), 'Echo from sandbox-echo: hello');
		assert.equal(ask('What is the capital of France?', [calculatorTool]), 'Echo from sandbox-echo: What is the capital of France?');
	});
});

// ---------------------------------------------------------------------------------------------
// The other chat formats: OpenAI Responses, Anthropic Messages, Claude on Vertex AI
// ---------------------------------------------------------------------------------------------

/** POST JSON to a path under baseUrl (or a full URL); the answer with its text and parsed JSON. */
async function post(sb: Sandbox, pathOrUrl: string, token: string | undefined, body: unknown, headers: Record<string, string> = {}) {
	const res = await fetch(pathOrUrl.startsWith('http') ? pathOrUrl : `${sb.baseUrl}${pathOrUrl}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
		body: JSON.stringify(body),
	});
	const text = await res.text();
	return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as any };
}

/** The `event: <type>\ndata: <json>` frames of a Responses or Messages stream. */
function sseEvents(text: string): Array<{ event: string; data: any }> {
	return text
		.split('\n\n')
		.filter(Boolean)
		.map((frame) => {
			const m = /^event: (.+)\ndata: (.*)$/s.exec(frame);
			assert.ok(m, `an event frame: ${JSON.stringify(frame)}`);
			return { event: m[1], data: JSON.parse(m[2]) };
		});
}

const anthropicVersion = { 'anthropic-version': '2023-06-01' };
/** A Vertex model id with the '@' Vertex uses, URL-encoded in the path as clients do. */
const vertexModel = 'claude-sonnet-4@20250514';
const vertexUrl = (sb: Sandbox, method: 'rawPredict' | 'streamRawPredict') => `${vertexBaseUrl(sb.baseUrl)}/${encodeURIComponent(vertexModel)}:${method}`;

/** Not a decodable PNG, and need not be: the sandbox reports type, size and hash of the bytes it got. */
const pngBytes = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const pngReport = `Saw 1 image: image/png sha256:${createHash('sha256').update(pngBytes).digest('hex')} (${pngBytes.length} bytes)`;

const responsesCalculator = { type: 'function', name: 'Calculator', description: 'Useful for getting the result of a math expression.', parameters: calculatorTool.function.parameters };
const anthropicCalculator = { name: 'Calculator', description: 'Useful for getting the result of a math expression.', input_schema: calculatorTool.function.parameters };

describe('sandbox chat formats (in-process)', () => {
	let sb: Sandbox;
	let token: string;

	before(async () => {
		sb = await startSandbox({ inProcess: true, tokenTtlSeconds: 300 });
		// Still a pause between events (so the interval path runs), but short: these tests stream a lot.
		await sb.configure({ streamChunkIntervalMs: 1 });
		token = (await sb.fetchToken('post')).access_token;
	});
	after(async () => {
		await sb?.stop();
	});

	describe('OpenAI Responses API (POST /v1/responses)', () => {
		const ask = { model: 'sandbox-echo', instructions: 'be brief', input: [{ role: 'user', content: 'hello sandbox world' }] };

		it('answers with output items and usage, and streams the same text as typed events without [DONE]', async () => {
			const r = await post(sb, '/responses', token, ask);
			assert.equal(r.status, 200, r.text);
			const body = r.json();
			assert.match(body.id, /^resp_sandbox_[0-9a-f]+$/);
			assert.deepEqual([body.object, body.status, body.error, body.incomplete_details, body.instructions, body.model, body.store, body.created_at], [
				'response', 'completed', null, null, 'be brief', 'sandbox-echo', true, 1735689600,
			]);
			assert.equal(body.output.length, 1);
			const [message] = body.output;
			assert.deepEqual({ ...message, id: undefined }, {
				type: 'message', id: undefined, status: 'completed', role: 'assistant',
				content: [{ type: 'output_text', text: 'Echo from sandbox-echo: hello sandbox world', annotations: [] }],
			});
			assert.match(message.id, /^msg_/);
			// The instructions count as prompt words, as the system message does on Chat Completions.
			assert.deepEqual(body.usage, { input_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens: 6, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 11 });
			assert.equal((await post(sb, '/responses', token, { ...ask, store: false })).json().store, false);

			const s = await post(sb, '/responses', token, { ...ask, stream: true });
			assert.equal(s.status, 200);
			assert.match(s.headers.get('content-type') ?? '', /text\/event-stream/);
			assert.ok(!s.text.includes('[DONE]'));
			const events = sseEvents(s.text);
			assert.ok(events.every((e, i) => e.data.type === e.event && e.data.sequence_number === i), 'each event names its type and is numbered');
			assert.deepEqual(events.slice(0, 4).map((e) => e.event), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
			assert.deepEqual([events[0].data.response.status, events[0].data.response.output], ['in_progress', []]);
			assert.deepEqual(events[2].data.item.content, []);
			const deltas = events.filter((e) => e.event === 'response.output_text.delta');
			assert.ok(deltas.length > 1, 'one delta per word');
			assert.ok(deltas.every((e) => e.data.item_id === message.id && e.data.output_index === 0 && e.data.content_index === 0));
			assert.equal(deltas.map((e) => e.data.delta).join(''), message.content[0].text);
			assert.deepEqual(events.slice(-4).map((e) => e.event), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
			assert.deepEqual(events.at(-1)?.data.response, body, 'response.completed carries the whole answer');
		});

		it('answers JSON for text.format json_object, and cuts at max_output_tokens (status incomplete)', async () => {
			const json = await post(sb, '/responses', token, { model: 'm1', input: 'hello sandbox world', text: { format: { type: 'json_object' } } });
			assert.deepEqual(JSON.parse(json.json().output[0].content[0].text), { echo: 'hello sandbox world', model: 'm1' });
			const long = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
			const cut = await post(sb, '/responses', token, { model: 'sandbox-echo', input: long, max_output_tokens: 16 }).then((r) => r.json());
			assert.deepEqual([cut.status, cut.incomplete_details], ['incomplete', { reason: 'max_output_tokens' }]);
			assert.equal(cut.output[0].content[0].text.split(' ').length, 16);
			assert.equal(cut.usage.output_tokens, 16);
		});

		it('calls the offered calculator as a function_call item, answers its output, and streams the call', async () => {
			const question = { role: 'user', content: 'calculate (3+4)*5' };
			const r = await post(sb, '/responses', token, { model: 'sandbox-echo', input: [question], tools: [responsesCalculator] });
			assert.equal(r.status, 200, r.text);
			const [call] = r.json().output;
			assert.equal(r.json().output.length, 1);
			assert.deepEqual([call.type, call.name, call.status], ['function_call', 'Calculator', 'completed']);
			assert.match(call.id, /^fc_/);
			assert.match(call.call_id, /^call_sandbox_/);
			assert.deepEqual(JSON.parse(call.arguments), { input: '(3+4)*5' });

			// As a client replays it: the output item as it came, then the tool's output.
			const followUp = [question, call, { type: 'function_call_output', call_id: call.call_id, output: '35' }];
			const f = await post(sb, '/responses', token, { model: 'sandbox-echo', input: followUp, tools: [responsesCalculator] });
			assert.equal(f.status, 200, f.text);
			assert.equal(f.json().output[0].content[0].text, 'The result is 35');

			const s = await post(sb, '/responses', token, { model: 'sandbox-echo', input: [question], tools: [responsesCalculator], stream: true });
			const events = sseEvents(s.text);
			assert.deepEqual(events.map((e) => e.event), [
				'response.created', 'response.in_progress', 'response.output_item.added', 'response.function_call_arguments.delta',
				'response.function_call_arguments.delta', 'response.function_call_arguments.done', 'response.output_item.done', 'response.completed',
			]);
			assert.deepEqual(events[2].data.item, { ...call, status: 'in_progress', arguments: '' });
			assert.equal(events.slice(3, 5).map((e) => e.data.delta).join(''), call.arguments);
			assert.equal(events[5].data.arguments, call.arguments);
			assert.deepEqual(events[6].data.item, call);
		});

		it('reports an input_image back (data URL)', async () => {
			const input = [{ role: 'user', content: [{ type: 'input_text', text: 'what is this' }, { type: 'input_image', image_url: `data:image/png;base64,${pngBytes.toString('base64')}`, detail: 'auto' }] }];
			const r = await post(sb, '/responses', token, { model: 'sandbox-echo', input });
			assert.equal(r.status, 200, r.text);
			assert.equal(r.json().output[0].content[0].text, `Echo from sandbox-echo: what is this | ${pngReport}`);
		});

		it('refuses Chat Completions shapes with OpenAI\'s own 400s', async () => {
			const refused = async (body: unknown, param: string, message: RegExp) => {
				const r = await post(sb, '/responses', token, body);
				assert.equal(r.status, 400, r.text);
				const { error } = r.json();
				assert.equal(error.type, 'invalid_request_error');
				assert.equal(error.param, param);
				assert.match(error.message, message);
			};
			await refused({ model: 'sandbox-echo', messages: [{ role: 'user', content: 'hi' }] }, 'messages', /^Unsupported parameter: 'messages'\. .*moved to 'input'/);
			await refused({ ...ask, tools: [calculatorTool] }, 'tools[0].name', /^Missing required parameter: 'tools\[0\]\.name'\.$/);
			await refused({ model: 'sandbox-echo', input: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }, 'input[0].content[0].type', /^Invalid value: 'text'\. Supported values are: 'input_text', 'input_image', /);
			await refused(
				{ model: 'sandbox-echo', input: [{ role: 'user', content: [{ type: 'input_image', image_url: { url: 'https://example.com/a.png' } }] }] },
				'input[0].content[0].image_url',
				/^Invalid type for 'input\[0\]\.content\[0\]\.image_url': expected a string, but got an object instead\.$/,
			);
			await refused({ model: 'sandbox-echo', input: [{ role: 'assistant', content: [{ type: 'input_text', text: 'hi' }] }] }, 'input[0].content[0].type', /Supported values are: 'output_text' and 'refusal'/);
			await refused({ model: 'sandbox-echo', input: [{ role: 'tool', tool_call_id: 'call_1', content: '35' }] }, 'input[0].role', /^Invalid value: 'tool'/);
			await refused(
				{ model: 'sandbox-echo', input: [{ role: 'user', content: 'calculate 1+1' }, { type: 'function_call_output', call_id: 'call_nowhere', output: '2' }] },
				'input',
				/^No tool call found for function call output with call_id call_nowhere\.$/,
			);
			await refused({ ...ask, max_output_tokens: 15 }, 'max_output_tokens', /Expected a value >= 16, but got 15/);
			await refused({ ...ask, text: { format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } } }, 'text.format.name', /^Missing required parameter/);
			await refused({ ...ask, reasoning: { effort: 'extreme' } }, 'reasoning.effort', /^Invalid value: 'extreme'/);
			await refused({ input: 'hi' }, 'model', /^Missing required parameter: 'model'/);
			await refused({ model: 'sandbox-echo', input: [] }, 'input', /empty array/);
		});

		it('answers 401 in OpenAI\'s shape, and a stream-error fault as an `error` event', async () => {
			const r = await post(sb, '/responses', undefined, ask);
			assert.equal(r.status, 401);
			assert.deepEqual([r.json().error.type, r.json().error.code], ['invalid_request_error', 'invalid_token']);
			assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);

			await sb.configure({ chatFaults: [{ kind: 'stream-error', match: '/responses' }] });
			const s = await post(sb, '/responses', token, { ...ask, stream: true });
			assert.equal(s.status, 200);
			const events = sseEvents(s.text);
			assert.deepEqual(events.map((e) => e.event), ['response.created', 'response.in_progress', 'error']);
			assert.deepEqual(events[2].data, { type: 'error', code: 'server_error', message: 'The server had an error while processing your request.', param: null, sequence_number: 2 });
			assert.equal((await sb.requests()).at(-1)?.fault, 'stream-error');
		});
	});

	describe('Anthropic Messages (POST /v1/messages)', () => {
		const ask = { model: 'claude-sandbox', max_tokens: 100, system: 'be brief', messages: [{ role: 'user', content: 'hello sandbox world' }] };

		it('answers with content blocks and usage, streams the same text, and stops at max_tokens', async () => {
			const r = await post(sb, '/messages', token, ask, anthropicVersion);
			assert.equal(r.status, 200, r.text);
			const body = r.json();
			assert.match(body.id, /^msg_sandbox_[0-9a-f]+$/);
			assert.deepEqual({ ...body, id: undefined }, {
				id: undefined, type: 'message', role: 'assistant', model: 'claude-sandbox',
				content: [{ type: 'text', text: 'Echo from claude-sandbox: hello sandbox world' }],
				stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 6 },
			});
			const recorded = (await sb.requests()).at(-1);
			assert.deepEqual([recorded?.kind, recorded?.headers['anthropic-version']], ['chat', '2023-06-01']);

			const s = await post(sb, '/messages', token, { ...ask, stream: true }, anthropicVersion);
			assert.equal(s.status, 200);
			assert.match(s.headers.get('content-type') ?? '', /text\/event-stream/);
			const events = sseEvents(s.text);
			assert.ok(events.every((e) => e.data.type === e.event));
			const deltas = events.filter((e) => e.event === 'content_block_delta');
			assert.ok(deltas.length > 1, 'one delta per word');
			assert.deepEqual(events.map((e) => e.event), [
				'message_start', 'content_block_start', 'ping', ...deltas.map(() => 'content_block_delta'), 'content_block_stop', 'message_delta', 'message_stop',
			]);
			assert.deepEqual(events[0].data.message, { ...body, content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } });
			assert.deepEqual(events[1].data, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
			assert.ok(deltas.every((e) => e.data.index === 0 && e.data.delta.type === 'text_delta'));
			assert.equal(deltas.map((e) => e.data.delta.text).join(''), body.content[0].text);
			assert.deepEqual(events.at(-2)?.data, { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } });

			const cut = (await post(sb, '/messages', token, { ...ask, max_tokens: 3 }, anthropicVersion)).json();
			assert.deepEqual([cut.stop_reason, cut.content[0].text, cut.usage.output_tokens], ['max_tokens', 'Echo from claude-sandbox:', 3]);
			// No JSON mode in Anthropic: the sandbox-json model still answers JSON.
			const json = (await post(sb, '/messages', token, { ...ask, model: 'sandbox-json' }, anthropicVersion)).json();
			assert.deepEqual(JSON.parse(json.content[0].text), { echo: 'hello sandbox world', model: 'sandbox-json' });
		});

		it('calls the offered calculator as a tool_use block, answers its tool_result, and streams the call', async () => {
			const question = { role: 'user', content: 'calculate (3+4)*5' };
			const r = await post(sb, '/messages', token, { ...ask, messages: [question], tools: [anthropicCalculator] }, anthropicVersion);
			assert.equal(r.status, 200, r.text);
			const body = r.json();
			assert.equal(body.stop_reason, 'tool_use');
			assert.equal(body.content.length, 1);
			const [use] = body.content;
			assert.deepEqual([use.type, use.name, use.input], ['tool_use', 'Calculator', { input: '(3+4)*5' }]);
			assert.match(use.id, /^toolu_[0-9a-f]+$/);

			const followUp = [question, { role: 'assistant', content: body.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '35' }] }];
			const f = await post(sb, '/messages', token, { ...ask, messages: followUp, tools: [anthropicCalculator] }, anthropicVersion);
			assert.equal(f.status, 200, f.text);
			assert.deepEqual([f.json().content, f.json().stop_reason], [[{ type: 'text', text: 'The result is 35' }], 'end_turn']);
			const blocks = [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: '35' }] }];
			const asBlocks = await post(sb, '/messages', token, { ...ask, messages: [...followUp.slice(0, 2), { role: 'user', content: blocks }] }, anthropicVersion);
			assert.equal(asBlocks.json().content[0].text, 'The result is 35');

			const s = await post(sb, '/messages', token, { ...ask, messages: [question], tools: [anthropicCalculator], stream: true }, anthropicVersion);
			const events = sseEvents(s.text);
			assert.deepEqual(events.map((e) => e.event), [
				'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
			]);
			assert.deepEqual(events[1].data.content_block, { type: 'tool_use', id: use.id, name: 'Calculator', input: {} });
			assert.ok(events.slice(3, 5).every((e) => e.data.index === 0 && e.data.delta.type === 'input_json_delta'));
			assert.deepEqual(JSON.parse(events.slice(3, 5).map((e) => e.data.delta.partial_json).join('')), use.input);
			assert.equal(events[6].data.delta.stop_reason, 'tool_use');
		});

		it('reports base64 and URL image blocks back', async () => {
			const content = [
				{ type: 'text', text: 'what is this' },
				{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: pngBytes.toString('base64') } },
			];
			const r = await post(sb, '/messages', token, { ...ask, messages: [{ role: 'user', content }] }, anthropicVersion);
			assert.equal(r.status, 200, r.text);
			assert.equal(r.json().content[0].text, `Echo from claude-sandbox: what is this | ${pngReport}`);
			const byUrl = [content[0], { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } }];
			const u = await post(sb, '/messages', token, { ...ask, messages: [{ role: 'user', content: byUrl }] }, anthropicVersion);
			assert.equal(u.json().content[0].text, 'Echo from claude-sandbox: what is this | Saw 1 image: url https://example.com/cat.png');
		});

		it('refuses OpenAI shapes and incomplete requests with Anthropic\'s own 400s', async () => {
			const refused = async (body: unknown, message: RegExp, headers: Record<string, string> = anthropicVersion) => {
				const r = await post(sb, '/messages', token, body, headers);
				assert.equal(r.status, 400, r.text);
				assert.equal(r.json().type, 'error');
				assert.equal(r.json().error.type, 'invalid_request_error');
				assert.match(r.json().error.message, message);
			};
			await refused(ask, /^anthropic-version: header is required$/, {});
			await refused({ ...ask, max_tokens: undefined }, /^max_tokens: Field required$/);
			await refused({ ...ask, messages: [{ role: 'system', content: 'be brief' }, ...ask.messages] }, /Unexpected role "system"/);
			await refused({ ...ask, tools: [calculatorTool] }, /^tools\.0\.input_schema: Field required$/);
			const openAiImage = { type: 'image_url', image_url: { url: `data:image/png;base64,${pngBytes.toString('base64')}` } };
			await refused({ ...ask, messages: [{ role: 'user', content: [openAiImage] }] }, /^messages\.0\.content\.0: Input tag 'image_url' found using 'type' does not match/);
			await refused({ ...ask, messages: [...ask.messages, { role: 'tool', tool_call_id: 'x', content: '35' }] }, /^messages\.1\.role: Input should be 'user' or 'assistant'$/);
			await refused({ ...ask, response_format: { type: 'json_object' } }, /^response_format: Extra inputs are not permitted$/);
			await refused({ ...ask, tool_choice: 'auto' }, /^tool_choice: Input should be a valid dictionary/);
			await refused(
				{ ...ask, messages: [{ role: 'user', content: 'calculate 1+1' }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_nowhere', content: '2' }] }] },
				/^messages\.1\.content\.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_nowhere\. Each `tool_result` block must have a corresponding `tool_use` block in the previous message\.$/,
			);
			const use = { type: 'tool_use', id: 'toolu_1', name: 'Calculator', input: { input: '1+1' } };
			await refused({ ...ask, messages: [ask.messages[0], { role: 'assistant', content: [use] }, { role: 'user', content: 'and?' }] }, /^messages\.1: `tool_use` ids were found without `tool_result` blocks/);
			await refused({ ...ask, messages: [ask.messages[0], { role: 'assistant', content: [{ ...use, input: '{"input":"1+1"}' }] }] }, /^messages\.1\.content\.0\.input: Input should be a valid dictionary$/);
			await refused({ ...ask, messages: [{ role: 'user', content: '' }] }, /all messages must have non-empty content/);
		});

		it('answers 401, injected faults and a stream-error in Anthropic\'s shape', async () => {
			await sb.reset();
			const r = await post(sb, '/messages', `${token}x`, ask, anthropicVersion);
			assert.equal(r.status, 401);
			assert.equal(r.json().type, 'error');
			assert.equal(r.json().error.type, 'authentication_error');
			assert.match(r.json().error.message, /^Invalid bearer token: /);
			assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
			assert.equal((await sb.stats()).clients['sandbox-client'].chatRejected401, 1);

			await sb.configure({ chatFaults: [{ status: 529, match: '/messages' }, { status: 429, retryAfterSeconds: 1, match: '/messages' }, { status: 500, body: { custom: true }, match: '/messages' }] });
			const overloaded = await post(sb, '/messages', token, ask, anthropicVersion);
			assert.equal(overloaded.status, 529);
			assert.deepEqual(overloaded.json(), { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
			const limited = await post(sb, '/messages', token, ask, anthropicVersion);
			assert.deepEqual([limited.status, limited.headers.get('retry-after'), limited.json().error.type], [429, '1', 'rate_limit_error']);
			assert.deepEqual((await post(sb, '/messages', token, ask, anthropicVersion)).json(), { custom: true }, 'a fault\'s own body is kept');

			await sb.configure({ chatFaults: [{ kind: 'stream-error', match: '/messages' }] });
			const s = await post(sb, '/messages', token, { ...ask, stream: true }, anthropicVersion);
			const events = sseEvents(s.text);
			assert.deepEqual(events.map((e) => e.event), ['message_start', 'content_block_start', 'error']);
			assert.deepEqual(events[2].data, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
		});
	});

	describe('Claude on Vertex AI (…/publishers/anthropic/models/{model}:rawPredict, :streamRawPredict)', () => {
		const ask = { anthropic_version: 'vertex-2023-10-16', max_tokens: 100, messages: [{ role: 'user', content: 'hello sandbox world' }] };

		it('answers as Anthropic with the model from the path, streams with streamRawPredict, and needs no anthropic-version header', async () => {
			assert.equal(vertexBaseUrl('https://x/v1'), 'https://x/v1/projects/sandbox-project/locations/us-east5/publishers/anthropic/models');
			const r = await post(sb, vertexUrl(sb, 'rawPredict'), token, ask);
			assert.equal(r.status, 200, r.text);
			const body = r.json();
			assert.deepEqual([body.type, body.model, body.content, body.stop_reason, body.usage], [
				'message', vertexModel, [{ type: 'text', text: `Echo from ${vertexModel}: hello sandbox world` }], 'end_turn', { input_tokens: 3, output_tokens: 6 },
			]);
			assert.equal((await sb.requests()).at(-1)?.kind, 'chat');

			const s = await post(sb, vertexUrl(sb, 'streamRawPredict'), token, { ...ask, stream: true });
			assert.equal(s.status, 200, s.text);
			const events = sseEvents(s.text);
			assert.equal(events[0].data.message.model, vertexModel);
			assert.equal(events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join(''), body.content[0].text);
			assert.equal(events.at(-1)?.event, 'message_stop');
		});

		it('calls the calculator, answers its result, and reports an image', async () => {
			const question = { role: 'user', content: 'calculate (3+4)*5' };
			const r = await post(sb, vertexUrl(sb, 'rawPredict'), token, { ...ask, messages: [question], tools: [anthropicCalculator] });
			const [use] = r.json().content;
			assert.deepEqual([r.json().stop_reason, use.type, use.input], ['tool_use', 'tool_use', { input: '(3+4)*5' }]);
			const followUp = [question, { role: 'assistant', content: [use] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '35' }] }];
			assert.equal((await post(sb, vertexUrl(sb, 'rawPredict'), token, { ...ask, messages: followUp })).json().content[0].text, 'The result is 35');

			const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: pngBytes.toString('base64') } };
			const i = await post(sb, vertexUrl(sb, 'rawPredict'), token, { ...ask, messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, image] }] });
			assert.equal(i.json().content[0].text, `Echo from ${vertexModel}: what is this | ${pngReport}`);
		});

		it('refuses a body with model or without anthropic_version, a mismatched stream flag, and unknown paths, in Anthropic\'s shape', async () => {
			const refused = async (url: string, body: unknown, status: number, message: RegExp) => {
				const r = await post(sb, url, token, body);
				assert.equal(r.status, status, r.text);
				assert.equal(r.json().type, 'error');
				assert.match(r.json().error.message, message);
				return r.json().error.type as string;
			};
			const raw = vertexUrl(sb, 'rawPredict');
			assert.equal(await refused(raw, { ...ask, model: vertexModel }, 400, /^model: Extra inputs are not permitted$/), 'invalid_request_error');
			await refused(raw, { ...ask, anthropic_version: undefined }, 400, /^anthropic_version: Field required$/);
			await refused(raw, { ...ask, anthropic_version: '2023-06-01' }, 400, /^anthropic_version: Input should be 'vertex-2023-10-16'$/);
			await refused(raw, { ...ask, stream: true }, 400, /^stream: rawPredict does not stream/);
			await refused(vertexUrl(sb, 'streamRawPredict'), ask, 400, /^stream: streamRawPredict/);
			const gemini = `${sb.baseUrl}/projects/sandbox-project/locations/us-east5/publishers/google/models/gemini-2.0-flash:generateContent`;
			assert.equal(await refused(gemini, ask, 404, /^Unknown request URL: POST /), 'not_found_error');
		});

		it('answers 401 and a stream-error in Anthropic\'s shape', async () => {
			const r = await post(sb, vertexUrl(sb, 'rawPredict'), undefined, ask);
			assert.equal(r.status, 401);
			assert.deepEqual([r.json().type, r.json().error.type], ['error', 'authentication_error']);
			assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);

			await sb.configure({ chatFaults: [{ kind: 'stream-error', match: ':streamRawPredict' }] });
			const s = await post(sb, vertexUrl(sb, 'streamRawPredict'), token, { ...ask, stream: true });
			const events = sseEvents(s.text);
			assert.deepEqual(events.map((e) => e.event), ['message_start', 'content_block_start', 'error']);
			assert.equal(events[2].data.error.type, 'overloaded_error');
		});
	});

	it('counts and records every chat format as kind "chat"', async () => {
		await sb.reset();
		await post(sb, '/chat/completions', token, hello);
		await post(sb, '/responses', token, { model: 'sandbox-echo', input: 'hi' });
		await post(sb, '/messages', token, { model: 'claude-sandbox', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, anthropicVersion);
		await post(sb, vertexUrl(sb, 'rawPredict'), token, { anthropic_version: 'vertex-2023-10-16', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
		const recorded = await sb.requests();
		assert.deepEqual(recorded.map((q) => [q.kind, q.status]), [['chat', 200], ['chat', 200], ['chat', 200], ['chat', 200]]);
		assert.equal((await sb.stats()).clients['sandbox-client'].chatRequests, 4);
	});
});
