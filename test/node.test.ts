/**
 * The OAuth2 LLM Chat node inside n8n-core's real WorkflowExecute, against the sandbox provider
 * (a real OAuth2 authorization server and a chat API that verifies every token).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import { LlmProviderOAuth2Api, replayAfterFailure } from '../credentials/LlmProviderOAuth2Api.credentials';
import { OAuth2LlmChat } from '../nodes/OAuth2LlmChat/OAuth2LlmChat.node.js';
import { parseProviderConfig } from '../nodes/shared/config/provider-config';
import { replaceSharedTokenCache, type TokenCache } from '../nodes/shared/auth/token-cache';
import { FakeClock } from './helpers/fake-clock';
import { createTestPki } from './helpers/pki';
import { CHAT_NODE_NAME, runChatNode } from './harness/workflow-execute';
import { startSandbox, type Sandbox } from './sandbox/sandbox';

const SECRET = 'sandbox-secret';
let sandbox: Sandbox;
let clock: FakeClock;
let cache: TokenCache;
/** Everything the node produced in this file: searched for secrets at the end. */
const produced: string[] = [];

before(async () => {
	sandbox = await startSandbox({ inProcess: true });
});
after(async () => await sandbox.stop());
beforeEach(async () => {
	await sandbox.reset();
	clock = new FakeClock(Date.now());
	cache = replaceSharedTokenCache({ clock });
});

function credentialData(fields: Record<string, unknown> = {}) {
	return {
		baseUrl: sandbox.baseUrl,
		tokenUrl: sandbox.tokenUrl,
		clientId: sandbox.clients.post.id,
		clientSecret: SECRET,
		...fields,
	};
}

const parameters = (extra: Record<string, unknown> = {}) => ({
	model: { __rl: true, mode: 'id', value: 'sandbox-echo' },
	messages: {
		values: [
			{ role: 'system', content: 'Be brief.' },
			{ role: 'user', content: '={{ $json.q }}' },
		],
	},
	...extra,
});

const items = (count: number) => Array.from({ length: count }, (_, i) => ({ q: `question ${i}` }));

async function run(options: Parameters<typeof runChatNode>[0]) {
	const result = await runChatNode(options);
	produced.push(JSON.stringify(result.runData), JSON.stringify(result.items), result.logs.join('\n'));
	if (result.error) produced.push(JSON.stringify(result.error), String(result.error.message), String(result.error.description));
	return result;
}

async function clientStats() {
	return (await sandbox.stats()).clients[sandbox.clients.post.id];
}

describe('OAuth2 LLM Chat node in a real n8n execution', () => {
	it('200 items at concurrency 20: one token, answers in input order with pairedItem', async () => {
		const result = await run({
			items: items(200),
			parameters: parameters({ options: { concurrency: 20 } }),
			credentialData: credentialData(),
		});
		assert.equal(result.error, undefined, result.error?.message);
		assert.equal(result.items.length, 200);
		result.items.forEach((item, i) => {
			assert.equal(item.json.content, `Echo from sandbox-echo: question ${i}`);
			assert.equal(item.json.role, 'assistant');
			assert.equal(item.json.finishReason, 'stop');
			assert.equal(item.json.model, 'sandbox-echo');
			assert.ok(item.json.usage);
			assert.equal((item.pairedItem as { item: number }).item, i);
		});
		const stats = await clientStats();
		assert.equal(stats.tokensIssued, 1);
		assert.equal(stats.chatRequests, 200);
		assert.equal(stats.chatRejected401, 0);
	});

	it('10 concurrent executions share one token', async () => {
		const results = await Promise.all(
			Array.from({ length: 10 }, async () =>
				await run({ items: items(20), parameters: parameters({ options: { concurrency: 5 } }), credentialData: credentialData() }),
			),
		);
		for (const result of results) assert.equal(result.items.length, 20);
		assert.equal((await clientStats()).tokensIssued, 1);
	});

	it('runs for hours on one token per lifetime: renewed before expiry, no call ever rejected', async () => {
		// Hourly runs over 5 hours with a 1-hour token: each run lands in a fresh token's life.
		for (let hour = 0; hour < 5; hour++) {
			for (let minute = 0; minute < 60; minute += 15) {
				const result = await run({ items: items(3), parameters: parameters(), credentialData: credentialData() });
				assert.equal(result.error, undefined);
				clock.advance(15 * 60_000);
				await cache.settled(parseProviderConfig(credentialData()).tokenEndpoint); // a background refresh lands
			}
		}
		const stats = await clientStats();
		assert.equal(stats.chatRejected401, 0);
		assert.ok(stats.tokensIssued >= 5 && stats.tokensIssued <= 6, `tokens issued: ${stats.tokensIssued}`);
	});

	it('the model can be a plain string, and Simplify off returns the provider\'s whole response', async () => {
		const result = await run({
			items: items(1),
			parameters: parameters({ model: 'sandbox-echo', simplify: false }),
			credentialData: credentialData(),
		});
		const json = result.items[0].json as { choices: Array<{ message: { content: string } }>; usage: unknown; id: unknown };
		assert.equal(json.choices[0].message.content, 'Echo from sandbox-echo: question 0');
		assert.ok(json.id && json.usage);
	});

	it('parameters with expressions are read per item (model from the item), static ones reach every item', async () => {
		const result = await run({
			items: [{ q: 'a', m: 'model-one' }, { q: 'b', m: 'model-two' }],
			parameters: parameters({ model: { __rl: true, mode: 'id', value: '={{ $json.m }}' }, options: { temperature: 0.5 } }),
			credentialData: credentialData(),
		});
		assert.deepEqual(result.items.map((item) => item.json.content), ['Echo from model-one: a', 'Echo from model-two: b']);
		const bodies = (await sandbox.requests()).filter((request) => request.kind === 'chat').map((request) => request.body as { temperature: number });
		assert.deepEqual(bodies.map((body) => body.temperature), [0.5, 0.5]);
	});

	it('Output Content as JSON asks for a JSON object and parses it', async () => {
		const result = await run({ items: items(2), parameters: parameters({ jsonOutput: true }), credentialData: credentialData() });
		assert.deepEqual(result.items[1].json.content, { echo: 'question 1', model: 'sandbox-echo' });
		const chat = (await sandbox.requests()).find((request) => request.kind === 'chat');
		assert.deepEqual((chat?.body as { response_format: unknown }).response_format, { type: 'json_object' });
	});

	it('options reach the request: temperature, max_tokens, top_p, stop', async () => {
		await run({
			items: items(1),
			parameters: parameters({ options: { temperature: 0.2, maxTokens: 50, topP: 0.9, stop: '["END"]' } }),
			credentialData: credentialData(),
		});
		const chat = (await sandbox.requests()).find((request) => request.kind === 'chat');
		const body = chat?.body as Record<string, unknown>;
		assert.equal(body.temperature, 0.2);
		assert.equal(body.max_tokens, 50);
		assert.equal(body.top_p, 0.9);
		assert.deepEqual(body.stop, ['END']);
	});

	it('Continue On Fail: a bad item becomes an error item with its pairedItem, the others go through', async () => {
		const result = await run({
			items: [{ q: 'first' }, { q: '' }, { q: 'third' }],
			parameters: parameters(),
			credentialData: credentialData(),
			continueOnFail: true,
		});
		assert.equal(result.items.length, 3);
		assert.equal(result.items[0].json.content, 'Echo from sandbox-echo: first');
		assert.match(String(result.items[1].json.error), /Message 2 \(user\) is empty/);
		assert.equal((result.items[1].pairedItem as { item: number }).item, 1);
		assert.equal(result.items[2].json.content, 'Echo from sandbox-echo: third');
	});

	it('Continue On Fail with a wrong secret: every item is an error item naming the provider\'s OAuth error', async () => {
		const result = await run({
			items: items(3),
			parameters: parameters(),
			credentialData: credentialData({ clientSecret: 'definitely-wrong-secret' }),
			continueOnFail: true,
		});
		assert.equal(result.items.length, 3);
		result.items.forEach((item, i) => {
			assert.match(String(item.json.error), /invalid_client/);
			assert.match(String((item.json.details as { description?: unknown }).description), /Client ID and Client Secret/);
			assert.equal((item.pairedItem as { item: number }).item, i);
		});
		assert.equal((await clientStats()).tokenRequests, 1, 'the fatal answer is shared, not asked again per item');
	});

	it('without Continue On Fail, a wrong secret fails the execution with a NodeApiError (HTTP 401)', async () => {
		const result = await run({
			items: items(2),
			parameters: parameters(),
			credentialData: credentialData({ clientSecret: 'another-wrong-secret' }),
		});
		assert.ok(result.error);
		assert.equal(result.error.name, 'NodeApiError');
		assert.match(result.error.message, /Token request to OAuth2 LLM Provider \(test\) failed: invalid_client/);
		assert.equal((result.error as unknown as { httpCode: string }).httpCode, '401');
		assert.equal((result.error as unknown as { node: { name: string } }).node.name, CHAT_NODE_NAME);
	});

	it('an invalid credential field is a NodeOperationError naming the field and the credential', async () => {
		const result = await run({
			items: items(1),
			parameters: parameters(),
			credentialData: credentialData({ tokenUrl: 'ftp://nope/token', scope: 'a  b' }),
			credentialName: 'Acme Gateway',
		});
		assert.ok(result.error);
		assert.equal(result.error.name, 'NodeOperationError');
		assert.match(result.error.message, /for Acme Gateway: Token URL: must start with http:\/\/ or https:\/\//);
		assert.match(result.error.message, /Scope: has an empty value/);
	});

	it('the token endpoint down: retried, then a clear error; items become error items with Continue On Fail', async () => {
		await sandbox.configure({ tokenFaults: [{ status: 503, count: 4, retryAfterSeconds: 1 }] });
		const result = await run({ items: items(2), parameters: parameters(), credentialData: credentialData(), continueOnFail: true });
		assert.match(String(result.items[0].json.error), /failed: temporarily_unavailable/);
		assert.equal((await clientStats()).tokenRequests, 4);
		assert.equal(clock.sleeps.length, 3);
	});

	it('an answer that is not JSON under Output Content as JSON is an item error, not a crash', async () => {
		await sandbox.configure({
			chatFaults: [
				{
					status: 200,
					body: { choices: [{ index: 0, message: { role: 'assistant', content: 'Sure! Here you go' }, finish_reason: 'stop' }] },
				},
			],
		});
		const result = await run({
			items: items(2),
			parameters: parameters({ jsonOutput: true }),
			credentialData: credentialData(),
			continueOnFail: true,
		});
		assert.match(String(result.items[0].json.error), /not valid JSON/);
		assert.deepEqual(result.items[1].json.content, { echo: 'question 1', model: 'sandbox-echo' });
	});

	it('the credential test obtains a real token, and shows the provider\'s error for a bad secret', async () => {
		const test = new OAuth2LlmChat().methods.credentialTest.llmProviderOAuth2ApiTest;
		const ok = await test.call({} as never, { id: '1', name: 'Sandbox', type: 'llmProviderOAuth2Api', data: credentialData() });
		assert.equal(ok.status, 'OK', ok.message);
		const bad = await test.call({} as never, {
			id: '1',
			name: 'Sandbox',
			type: 'llmProviderOAuth2Api',
			data: credentialData({ clientSecret: 'bad-secret-for-test' }),
		});
		assert.equal(bad.status, 'Error');
		assert.match(bad.message, /invalid_client/);
		assert.doesNotMatch(bad.message, /bad-secret-for-test/);
	});

	it('the credential puts the cached bearer token and extra headers on any request', async () => {
		const credential = new LlmProviderOAuth2Api();
		const request = await credential.authenticate(credentialData({ headers: '{"AI-Resource-Group": "g1"}' }), {
			url: `${sandbox.baseUrl}/models`,
			headers: { Accept: 'application/json' },
		});
		assert.match(String(request.headers?.Authorization), /^Bearer ey/);
		assert.equal(request.headers?.['AI-Resource-Group'], 'g1');
		const again = await credential.authenticate(credentialData(), { url: '/chat/completions', baseURL: sandbox.baseUrl });
		assert.equal(again.headers?.Authorization, request.headers?.Authorization, 'same cached token');
		assert.equal((await clientStats()).tokensIssued, 1);
	});

	it('the credential puts the token only on requests to the Base URL\'s origin or an Allowed Origin; anything else fails before a token is fetched', async () => {
		const credential = new LlmProviderOAuth2Api();
		const foreign = 'http://127.0.0.1:1';
		for (const target of [{ url: `${foreign}/steal` }, { uri: `${foreign}/steal` }, { url: '/steal', baseURL: foreign }, { url: 'no-absolute-url' }]) {
			await assert.rejects(credential.authenticate(credentialData(), { ...target } as never), (error: unknown) => {
				assert.ok(error instanceof Error);
				assert.match(error.message, /sends its access token only to http:\/\/127\.0\.0\.1:\d+; .*add it to Allowed Origins/);
				return true;
			});
		}
		assert.equal((await clientStats())?.tokenRequests ?? 0, 0, 'no token was fetched for a foreign origin');
		// n8n's HTTP Request node passes the absolute URL as `uri`.
		const allowed = await credential.authenticate(credentialData({ allowedOrigins: `https://other.example, ${foreign}` }), {
			uri: `${foreign}/steal`,
		} as never);
		assert.match(String(allowed.headers?.Authorization), /^Bearer /);
	});

	it("the node's own options cannot carry the token away even on the right origin: Proxy, Ignore SSL Issues, its own certificates, connection overrides, a Host header are refused before a token is fetched", async () => {
		const credential = new LlmProviderOAuth2Api();
		const url = `${sandbox.baseUrl}/models`;
		const refused: Array<[string, Record<string, unknown>, RegExp]> = [
			['Proxy', { proxy: 'http://127.0.0.1:1' }, /Proxy option.*HTTP_PROXY, HTTPS_PROXY, ALL_PROXY\) still applies/],
			['Proxy as an object', { proxy: { host: '127.0.0.1', port: 1 } }, /Proxy option/],
			['Ignore SSL Issues (request path)', { rejectUnauthorized: false }, /Ignore SSL Issues.*CA Certificate/],
			['Ignore SSL Issues (httpRequest path)', { skipSslCertificateValidation: true }, /Ignore SSL Issues/],
			['Ignore SSL Issues in agent options', { agentOptions: { rejectUnauthorized: false } }, /Ignore SSL Issues/],
			['an SSL Certificates credential', { agentOptions: { ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' } }, /its own TLS certificates.*CA Certificate/],
			['a TLS context of its own', { agentOptions: { secureContext: {} } }, /its own TLS certificates/],
			['a socket path', { agentOptions: { socketPath: '/tmp/elsewhere.sock' } }, /connection option "socketPath"/],
			['another host', { agentOptions: { host: '127.0.0.2', port: 80 } }, /connection option "host"/],
			['a Host header', { headers: { host: 'evil.example' } }, /Host header/],
			['a Host header, any case', { headers: { HoSt: 'evil.example' } }, /Host header/],
		];
		for (const [what, options, message] of refused) {
			await assert.rejects(credential.authenticate(credentialData(), { url, ...options } as never), (error: unknown) => {
				assert.ok(error instanceof Error, what);
				assert.match(error.message, /does not send its access token here/, what);
				assert.match(error.message, message, what);
				return true;
			});
		}
		assert.equal((await clientStats())?.tokenRequests ?? 0, 0, 'no token was fetched for a refused request');
		// What n8n's node sets by default passes: rejectUnauthorized true, keep-alive agent options, ordinary headers.
		const plain = await credential.authenticate(credentialData(), { url, rejectUnauthorized: true, agentOptions: { keepAlive: true }, headers: { accept: 'application/json' } } as never);
		assert.match(String(plain.headers?.Authorization), /^Bearer /);
		assert.equal((plain as { skipSslCertificateValidation?: boolean }).skipSslCertificateValidation, false);
		// n8n hands authenticate the options it returned when it replays: those pass again.
		const replayed = await credential.authenticate(credentialData(), plain);
		assert.equal(replayed.headers?.Authorization, plain.headers?.Authorization);
		// Other agent options are refused too, said for what they are; rejectUnauthorized: true is n8n's default.
		await assert.rejects(credential.authenticate(credentialData(), { url, agentOptions: { minVersion: 'TLSv1' } } as never), /connection option "minVersion" would change how the connection to the API is made/);
		await credential.authenticate(credentialData(), { url, agentOptions: { rejectUnauthorized: true } } as never);
		// n8n's own precedence: `url ?? uri`, against baseURL. An empty url with an allowed uri goes to baseURL.
		await assert.rejects(credential.authenticate(credentialData(), { url: '', uri: url, baseURL: 'http://127.0.0.1:1' } as never), /sends its access token only to/);
	});

	it("a replay carries what authenticate itself set: the credential's TLS context (CA Certificate) and the credential's own Host header pass again; a node's Host header that differs does not", async () => {
		const pki = await createTestPki();
		const credential = new LlmProviderOAuth2Api();
		const url = `${sandbox.baseUrl}/models`;
		const withCa = credentialData({ caCertificate: pki.caPem });
		const first = await credential.authenticate(withCa, { url });
		assert.ok((first.agentOptions as { secureContext?: unknown })?.secureContext, 'the credential put its TLS context on the request');
		const again = await credential.authenticate(withCa, first);
		assert.equal(again.headers?.Authorization, first.headers?.Authorization);
		const withHost = credentialData({ headers: '{"Host": "llm.internal.example"}' });
		const hosted = await credential.authenticate(withHost, { url });
		await credential.authenticate(withHost, hosted);
		await assert.rejects(credential.authenticate(withHost, { ...hosted, headers: { ...hosted.headers, host: 'evil.example' } }), /Host header/);
	});

	it('after a failed request, preAuthentication drops the token that request carried (at most once per 30 s) so that n8n\'s one replay gets a new one', async () => {
		const credential = new LlmProviderOAuth2Api();
		const helpers = {} as never;
		const stored = credentialData({ tokenRenewal: 'in-process-cache' });
		assert.deepEqual(await replayAfterFailure.call(helpers, credentialData()), { tokenRenewal: 'in-process-cache' }, 'first use: the marker');
		assert.deepEqual(await replayAfterFailure.call(helpers, stored), {}, 'no token was sent with these credentials: no replay');
		const first = await credential.authenticate(stored, { url: `${sandbox.baseUrl}/models` });
		assert.deepEqual(await replayAfterFailure.call(helpers, stored), { tokenRenewal: 'in-process-cache' }, 'replay');
		const second = await credential.authenticate(stored, { url: `${sandbox.baseUrl}/models` });
		assert.notEqual(second.headers?.Authorization, first.headers?.Authorization, 'the replay carries a new token');
		assert.deepEqual(await replayAfterFailure.call(helpers, stored), {}, 'a token renewed moments ago is kept: the failure stands');
		await assert.rejects(credential.authenticate(stored, { url: 'http://127.0.0.1:1/steal' }));
		assert.deepEqual(await replayAfterFailure.call(helpers, stored), {}, 'a refused foreign request carried no token: nothing to drop');
		assert.equal((await clientStats()).tokensIssued, 2);
	});

	it('the credential\'s authenticate reports a token failure in the provider\'s words, without an HTTP status for n8n to reword', async () => {
		const credential = new LlmProviderOAuth2Api();
		await assert.rejects(
			credential.authenticate(credentialData({ clientSecret: 'authenticate-wrong-secret' }), { url: `${sandbox.baseUrl}/models` }),
			(error: unknown) => {
				assert.ok(error instanceof Error);
				assert.match(error.message, /invalid_client: .*\(HTTP 401\)\. Check Client ID and Client Secret/);
				assert.equal((error as { status?: unknown }).status, undefined);
				assert.doesNotMatch(error.message, /authenticate-wrong-secret/);
				return true;
			},
		);
	});

	it('no secret or token ever appears in outputs, errors or logs', async () => {
		// Its own runs, so the search never depends on which other tests ran: answers, Continue On Fail
		// errors, a failed execution, a 401 replay, and a server error body.
		produced.length = 0;
		await run({ items: items(3), parameters: parameters(), credentialData: credentialData() });
		await run({ items: items(2), parameters: parameters(), credentialData: credentialData({ clientSecret: 'definitely-wrong-secret' }), continueOnFail: true });
		await run({ items: items(1), parameters: parameters(), credentialData: credentialData({ clientSecret: 'another-wrong-secret' }) });
		await sandbox.configure({ chatFaults: [{ status: 401, count: 1 }, { status: 500, count: 1 }] });
		await run({ items: items(2), parameters: parameters({ options: { maxRetries: 0 } }), credentialData: credentialData(), continueOnFail: true });
		const everything = produced.join('\n');
		assert.match(everything, /Echo from sandbox-echo/, 'answers were produced');
		assert.match(everything, /invalid_client/, 'errors were produced');
		assert.match(everything, /HTTP 500/, 'a server error was produced');
		for (const secret of [SECRET, 'definitely-wrong-secret', 'another-wrong-secret']) {
			assert.equal(everything.includes(secret), false, `found ${secret}`);
		}
		assert.doesNotMatch(everything, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./, 'a JWT access token leaked');
	});
});
