import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import { createChatCompletion, joinUrl, listModels } from '../nodes/shared/wire/chat-client';
import { LlmApiError, OAuth2AuthenticationError } from '../nodes/shared/core/errors';
import { parseProviderConfig, type ProviderConfig } from '../nodes/shared/config/provider-config';
import { TokenCache } from '../nodes/shared/auth/token-cache';
import { FakeClock } from './helpers/fake-clock';
import { startSandbox, type Sandbox } from './sandbox/sandbox';

let sandbox: Sandbox;
before(async () => {
	sandbox = await startSandbox({ inProcess: true });
});
after(async () => await sandbox.stop());
beforeEach(async () => await sandbox.reset());

function provider(fields: Record<string, unknown> = {}): ProviderConfig {
	return parseProviderConfig(
		{
			baseUrl: sandbox.baseUrl,
			tokenUrl: sandbox.tokenUrl,
			clientId: sandbox.clients.post.id,
			clientSecret: sandbox.clients.post.secret,
			...fields,
		},
		'Sandbox',
	);
}

const hello = (text = 'hello') => ({ model: 'sandbox-echo', messages: [{ role: 'user', content: text }] });

async function counters(clientId = sandbox.clients.post.id) {
	return (await sandbox.stats()).clients[clientId];
}

describe('chat calls against the sandbox provider (real OAuth2 server, token-verifying chat API)', () => {
	it('gets a token from the real authorization server and the chat API accepts it', async () => {
		const tokens = new TokenCache({ clock: new FakeClock() });
		const answer = await createChatCompletion(hello('hi there'), { provider: provider(), tokens });
		assert.equal(answer.choices?.[0].message?.content, 'Echo from sandbox-echo: hi there');
		const answers = await Promise.all(
			Array.from({ length: 20 }, async (_, i) => await createChatCompletion(hello(`n${i}`), { provider: provider(), tokens })),
		);
		assert.equal(answers.length, 20);
		const stats = await counters();
		assert.equal(stats.tokensIssued, 1);
		assert.equal(stats.chatRequests, 21);
		assert.equal(stats.chatRejected401, 0);
	});

	it('sends the credential\'s extra headers on every LLM request', async () => {
		const tokens = new TokenCache({ clock: new FakeClock() });
		await createChatCompletion(hello(), { provider: provider({ headers: { 'AI-Resource-Group': 'team-a' } }), tokens });
		const chat = (await sandbox.requests()).find((request) => request.kind === 'chat');
		assert.equal(chat?.headers['ai-resource-group'], 'team-a');
	});

	it('Basic client authentication with a secret that needs form-encoding works against oidc-provider', async () => {
		const tokens = new TokenCache({ clock: new FakeClock() });
		const basic = provider({
			clientId: sandbox.clients.basic.id,
			clientSecret: sandbox.clients.basic.secret,
			clientAuthentication: 'header',
		});
		const answer = await createChatCompletion(hello(), { provider: basic, tokens });
		assert.match(String(answer.choices?.[0].message?.content), /hello/);
		const token = (await sandbox.requests()).find((request) => request.kind === 'token');
		assert.match(String(token?.headers.authorization), /^Basic /);
	});

	it('a 401 drops the token, gets a new one and replays once', async () => {
		const tokens = new TokenCache({ clock: new FakeClock() });
		await createChatCompletion(hello(), { provider: provider(), tokens });
		await sandbox.configure({ chatFaults: [{ status: 401, count: 1 }] });
		const answer = await createChatCompletion(hello('again'), { provider: provider(), tokens });
		assert.match(String(answer.choices?.[0].message?.content), /again/);
		const stats = await counters();
		assert.equal(stats.tokensIssued, 2);
		assert.equal(stats.chatRejected401, 1);
	});

	it('twenty calls rejected with the same old token fetch only one new token', async () => {
		const tokens = new TokenCache({ clock: new FakeClock() });
		await createChatCompletion(hello(), { provider: provider(), tokens });
		await sandbox.configure({ chatFaults: [{ status: 401, count: 20 }] });
		await Promise.all(Array.from({ length: 20 }, async () => await createChatCompletion(hello(), { provider: provider(), tokens })));
		const stats = await counters();
		assert.equal(stats.chatRejected401, 20);
		assert.equal(stats.tokensIssued, 2);
	});

	it('a second 401 after the replay is an error that points at audience and scope', async () => {
		const tokens = new TokenCache({ clock: new FakeClock() });
		await sandbox.configure({ chatFaults: [{ status: 401, count: 2 }] });
		await assert.rejects(createChatCompletion(hello(), { provider: provider(), tokens }), (error: unknown) => {
			assert.ok(error instanceof LlmApiError);
			assert.equal(error.status, 401);
			assert.match(String(error.hint), /audience/);
			return true;
		});
		assert.equal((await counters()).chatRequests, 2);
	});

	it('a 429 with Retry-After: 2 waits 2 s, then succeeds', async () => {
		const clock = new FakeClock();
		const tokens = new TokenCache({ clock });
		await sandbox.configure({ chatFaults: [{ status: 429, retryAfterSeconds: 2 }] });
		await createChatCompletion(hello(), { provider: provider(), tokens, clock });
		assert.deepEqual(clock.sleeps, [2000]);
	});

	it('5xx answers are retried up to Max Retries, then reported with the provider\'s message', async () => {
		const clock = new FakeClock();
		const tokens = new TokenCache({ clock });
		await sandbox.configure({ chatFaults: [{ status: 503, count: 5 }] });
		await assert.rejects(createChatCompletion(hello(), { provider: provider(), tokens, clock, maxRetries: 2 }), (error: unknown) => {
			assert.ok(error instanceof LlmApiError);
			assert.equal(error.status, 503);
			assert.match(error.message, /The LLM API of Sandbox answered HTTP 503/);
			return true;
		});
		assert.deepEqual(clock.sleeps, [1100, 2200]);
		assert.equal((await counters()).chatRequests, 3);
	});

	it('a 400 from the chat API is not retried', async () => {
		const clock = new FakeClock();
		await sandbox.configure({ chatFaults: [{ status: 400, body: { error: { message: 'bad model', code: 'model_not_found' } } }] });
		await assert.rejects(
			createChatCompletion(hello(), { provider: provider(), tokens: new TokenCache({ clock }), clock }),
			/answered HTTP 400: bad model/,
		);
		assert.deepEqual(clock.sleeps, []);
	});

	it('a wrong secret fails with the provider\'s invalid_client, without the secret in it', async () => {
		const tokens = new TokenCache({ clock: new FakeClock() });
		await assert.rejects(
			createChatCompletion(hello(), { provider: provider({ clientSecret: 'wrong-secret-9876' }), tokens }),
			(error: unknown) => {
				assert.ok(error instanceof OAuth2AuthenticationError);
				assert.equal(error.oauthError, 'invalid_client');
				assert.doesNotMatch(JSON.stringify({ ...error, message: error.message }), /wrong-secret-9876/);
				return true;
			},
		);
		assert.equal((await counters()).tokenRequests, 1, 'invalid_client is not retried');
	});

	it('lists models', async () => {
		const models = await listModels({ provider: provider(), tokens: new TokenCache({ clock: new FakeClock() }) });
		assert.ok(models.includes('sandbox-echo'));
	});

	it('appends paths to the base URL and keeps its query (Azure api-version)', () => {
		assert.equal(joinUrl('https://h/v1/', 'chat/completions'), 'https://h/v1/chat/completions');
		assert.equal(
			joinUrl('https://r.openai.azure.com/openai/deployments/gpt?api-version=2024-10-21', 'chat/completions'),
			'https://r.openai.azure.com/openai/deployments/gpt/chat/completions?api-version=2024-10-21',
		);
	});
});
