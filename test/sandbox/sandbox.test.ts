/**
 * Tests of the sandbox provider itself, over real HTTP with plain fetch.
 * Run: node --import tsx --test test/sandbox/sandbox.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';

import { answerChat } from './chat-server';
import { basicAuthorization, type Sandbox, startSandbox } from './sandbox';

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
