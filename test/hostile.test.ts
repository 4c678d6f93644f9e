/**
 * Issue 10: the package against servers that are broken or hostile. Every answer is bounded in
 * size (after decompression) and time, no redirect carries anything away, and whatever a server
 * echoes back never brings a secret into an error, in any encoding.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';

import type { INode } from 'n8n-workflow';

import { createChatCompletion } from '../nodes/shared/wire/chat-client';
import { LlmApiError, OAuth2AuthenticationError } from '../nodes/shared/core/errors';
import { toNodeError } from '../nodes/shared/n8n/n8n-errors';
import { parseProviderConfig, secretsOf, type ProviderConfig } from '../nodes/shared/config/provider-config';
import { providerWordsOf } from '../nodes/shared/core/provider-error';
import { boundedServerText, formEncode, REDACTED, scrubText, urlForMessage } from '../nodes/shared/core/scrub';
import { TokenCache } from '../nodes/shared/auth/token-cache';
import { MAX_TOKEN_RESPONSE_BYTES } from '../nodes/shared/auth/token-client';
import { unfence } from '../nodes/OAuth2LlmChat/response';
import { FakeClock } from './helpers/fake-clock';
import { drip, gzipBomb, hostileServer } from './helpers/hostile-server';
import { startScriptedServer } from './helpers/token-server';

const CLIENT_ID = 'hostile-client';
// Characters that change under form-encoding, URI-encoding and JSON-escaping.
const SECRET = 'S3cr+t/"x y\\z&Q=9';
const NODE: INode = { id: 'n1', name: 'OAuth2 LLM Chat', type: 'oAuth2LlmChat', typeVersion: 1, position: [0, 0], parameters: {} };
const NO_RETRIES = { maxRetries: 0, baseDelayMs: 1, jitterRatio: 0, maxRetryAfterMs: 30_000 };

/** Every way the test secret could show up again. */
function secretShapes(secret = SECRET, clientId = CLIENT_ID): string[] {
	const pair = `${clientId}:${secret}`;
	const formPair = `${formEncode(clientId)}:${formEncode(secret)}`;
	return [
		secret,
		encodeURIComponent(secret),
		formEncode(secret),
		formEncode(secret).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
		JSON.stringify(secret).slice(1, -1),
		Buffer.from(secret).toString('base64'),
		Buffer.from(pair).toString('base64'),
		Buffer.from(formPair).toString('base64'),
	];
}

function assertNoSecret(text: string, extra: string[] = []): void {
	for (const shape of [...secretShapes(), ...extra]) assert.equal(text.includes(shape), false, `leaked ${JSON.stringify(shape)} in ${text.slice(0, 400)}`);
	// A cut secret must not leave its first characters behind either.
	assert.equal(text.includes(SECRET.slice(0, 6)), false, 'leaked the start of the secret');
}

function provider(tokenUrl: string, baseUrl: string, fields: Record<string, unknown> = {}): ProviderConfig {
	return parseProviderConfig({ baseUrl, tokenUrl, clientId: CLIENT_ID, clientSecret: SECRET, ...fields }, 'Hostile');
}

const context = { providerName: 'Hostile' };

describe('bounded answers from a token endpoint', () => {
	it('a 1 GiB gzip bomb is cut off at 1 MiB after decompression, without inflating it', async () => {
		const bomb = gzipBomb(1024);
		const server = await hostileServer((_request, res) => {
			res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
			res.end(bomb);
		});
		const cache = new TokenCache({ clock: new FakeClock(), retryPolicy: NO_RETRIES });
		const rssBefore = process.memoryUsage().rss;
		await assert.rejects(cache.getToken(provider(`${server.origin}/token`, server.origin).tokenEndpoint, context), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.match(error.message, new RegExp(`larger than ${MAX_TOKEN_RESPONSE_BYTES} bytes`));
			return true;
		});
		assert.ok(process.memoryUsage().rss - rssBefore < 256 * 1024 * 1024, 'memory stayed far below the inflated size');
	});

	it('a 64 MiB access_token is refused (too large), and so is one that cannot be a header', async () => {
		const huge = 'A'.repeat(64 * 1024 * 1024);
		const server = await hostileServer((request, res) => {
			res.writeHead(200, { 'Content-Type': 'application/json' });
			if (request.url.startsWith('/huge')) res.end(JSON.stringify({ access_token: huge, expires_in: 3600 }));
			else if (request.url.startsWith('/long')) res.end(JSON.stringify({ access_token: 'B'.repeat(20_000), expires_in: 3600 }));
			else res.end(JSON.stringify({ access_token: 'abc\r\nX-Injected: 1', expires_in: 3600 }));
		});
		const cache = new TokenCache({ clock: new FakeClock(), retryPolicy: NO_RETRIES });
		await assert.rejects(cache.getToken(provider(`${server.origin}/huge`, server.origin).tokenEndpoint, context), /larger than 1048576 bytes/);
		await assert.rejects(cache.getToken(provider(`${server.origin}/long`, server.origin).tokenEndpoint, context), /access_token of 20000 characters/);
		await assert.rejects(cache.getToken(provider(`${server.origin}/crlf`, server.origin).tokenEndpoint, context), /cannot be sent in an HTTP header/);
	});

	it('a token endpoint that drips a byte every 50 ms is cut off at the deadline, not kept alive by the drip', async () => {
		const server = await hostileServer((_request, res) => drip(res, 50));
		const cache = new TokenCache({ clock: new FakeClock(), retryPolicy: NO_RETRIES, tokenTimeoutMs: 400 });
		await assert.rejects(cache.getToken(provider(`${server.origin}/token`, server.origin).tokenEndpoint, context), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.match(error.message, /no complete answer within 400 ms/);
			assert.equal(error.retryable, true);
			return true;
		});
	});
});

describe('timeouts that are no number', () => {
	it('a deadline or idle timeout of NaN (an expression gone wrong) falls back to the default instead of cutting a body that arrives in pieces', async () => {
		const { exchange, openStream } = await import('../nodes/shared/transport/http');
		const server = await hostileServer((_request, res) => {
			res.write('{"ok"');
			setTimeout(() => res.end(':1}'), 50);
		});
		const request = { method: 'GET' as const, url: `${server.origin}/`, headers: {}, maxResponseBytes: 1000 };
		assert.equal((await exchange({ ...request, deadlineMs: Number.NaN })).bodyText, '{"ok":1}');
		const stream = await openStream({ ...request, deadlineMs: 5000, idleTimeoutMs: Number.NaN });
		let text = '';
		for await (const piece of stream.chunks) text += piece;
		assert.equal(text, '{"ok":1}');
	});
});

describe('a slow consumer of a stream', () => {
	it('the idle timeout counts the server\'s silence, not the time the consumer takes with each piece', { timeout: 30_000 }, async () => {
		const { openStream } = await import('../nodes/shared/transport/http');
		const server = await hostileServer((_request, res) => {
			res.writeHead(200, { 'Content-Type': 'text/event-stream' });
			res.write('a');
			setTimeout(() => res.write('b'), 20);
			setTimeout(() => res.end('c'), 40);
		});
		const stream = await openStream({ method: 'GET', url: `${server.origin}/`, headers: {}, maxResponseBytes: 1000, deadlineMs: 20_000, idleTimeoutMs: 300 });
		let text = '';
		for await (const piece of stream.chunks) {
			text += piece;
			await new Promise((resolve) => setTimeout(resolve, 500)); // longer than the idle timeout, on the consumer's side
		}
		assert.equal(text, 'abc');
	});
});

describe("another package's axios defaults", () => {
	it('set on a shared axios before this package loads (no certificate check, a fetch adapter, a 1 ms timeout, a header), none of them reaches its requests', { timeout: 60_000 }, async () => {
		const { execFile } = await import('node:child_process');
		const seen: Array<Record<string, unknown>> = [];
		const server = await hostileServer((request, res) => {
			seen.push(request.headers);
			setTimeout(() => res.end('{"ok":1}'), 50);
		});
		// A fresh process: the defaults are changed first, as a package loaded earlier in n8n would.
		const script = [
			"const axios = require('axios').default;",
			"axios.defaults.headers.common['X-Foreign'] = 'other-package';",
			'axios.defaults.timeout = 1;',
			"axios.defaults.adapter = 'fetch';",
			"axios.defaults.httpsAgent = new (require('node:https').Agent)({ rejectUnauthorized: false });",
			"const { exchange } = require('./nodes/shared/transport/http');",
			`exchange({ method: 'POST', url: ${JSON.stringify(`${server.origin}/`)}, headers: { 'Content-Type': 'application/json' }, body: '{}', maxResponseBytes: 1000, deadlineMs: 10000 })`,
			'  .then((answer) => process.stdout.write(JSON.stringify({ status: answer.status, body: answer.bodyText })), (error) => process.stdout.write(JSON.stringify({ error: String(error) })));',
		].join('\n');
		const stdout = await new Promise<string>((resolve, reject) =>
			execFile(process.execPath, ['--import', 'tsx', '-e', script], { cwd: process.cwd(), timeout: 50_000 }, (error, out) => (error ? reject(error) : resolve(out))),
		);
		assert.deepEqual(JSON.parse(stdout), { status: 200, body: '{"ok":1}' }, 'the 1 ms timeout and the fetch adapter did not apply');
		assert.equal(seen.length, 1);
		assert.equal(seen[0]['x-foreign'], undefined, 'no header of the other package');
	});
});

describe("one execution's cancel signal over many exchanges", () => {
	it('40 exchanges in flight hold one listener on the signal between them, and its abort ends every one of them', { timeout: 30_000 }, async () => {
		const { exchange, TransportFailure } = await import('../nodes/shared/transport/http');
		let arrived = 0;
		const server = await hostileServer((_request, res) => {
			arrived++;
			res.writeHead(200, { 'Content-Type': 'application/json' });
			res.write('{"part":'); // and never the rest
		});
		const execution = new AbortController();
		const warnings: Error[] = [];
		const onWarning = (warning: Error) => warnings.push(warning);
		process.on('warning', onWarning);
		try {
			const calls = Array.from({ length: 40 }, () =>
				exchange({ method: 'GET', url: `${server.origin}/`, headers: {}, maxResponseBytes: 1000, deadlineMs: 60_000, signal: execution.signal }),
			);
			while (arrived < 40) await new Promise((resolve) => setTimeout(resolve, 10));
			assert.equal(EventEmitter.getEventListeners(execution.signal, 'abort').length, 1);
			execution.abort();
			const results = await Promise.allSettled(calls);
			for (const result of results) {
				assert.equal(result.status, 'rejected');
				assert.ok(result.reason instanceof TransportFailure && result.reason.kind === 'aborted', String(result.reason));
			}
			await new Promise((resolve) => setImmediate(resolve));
			assert.deepEqual(warnings.map((w) => w.message), []);
		} finally {
			process.off('warning', onWarning);
		}
	});

	// The test's own timeout: without the deadline this exchange would wait forever.
	it('a server that takes the request and never answers meets the deadline, before any header; a cancelled caller sends nothing', { timeout: 10_000 }, async () => {
		const { exchange, TransportFailure } = await import('../nodes/shared/transport/http');
		let arrived = 0;
		const server = await hostileServer(() => {
			arrived++; // and no answer, ever
		});
		const request = { method: 'POST' as const, url: `${server.origin}/`, headers: {}, body: '{}', maxResponseBytes: 1000, deadlineMs: 1000 };
		await assert.rejects(exchange(request), (error: unknown) => {
			assert.ok(error instanceof TransportFailure, String(error));
			assert.equal(error.kind, 'deadline');
			assert.match(error.message, /within 1000 ms/);
			return true;
		});
		assert.equal(arrived, 1);
		const cancelled = new AbortController();
		cancelled.abort();
		await assert.rejects(exchange({ ...request, signal: cancelled.signal }), (error: unknown) => (error as { kind?: string }).kind === 'aborted');
		assert.equal(arrived, 1, 'nothing was sent for a cancelled caller');
	});

	it('an exchange that is over leaves the signal alone: a later abort cancels only what still runs', { timeout: 30_000 }, async () => {
		const { exchange, followedExchanges } = await import('../nodes/shared/transport/http');
		const server = await hostileServer((_request, res) => res.end('{"ok":1}'));
		const execution = new AbortController();
		const request = { method: 'GET' as const, url: `${server.origin}/`, headers: {}, maxResponseBytes: 1000, deadlineMs: 60_000, signal: execution.signal };
		for (let i = 0; i < 20; i++) assert.equal((await exchange(request)).bodyText, '{"ok":1}');
		assert.equal(followedExchanges(execution.signal), 0, 'finished exchanges do not pile up under the signal');
		execution.abort();
		await assert.rejects(exchange(request), (error: unknown) => (error as { kind?: string }).kind === 'aborted');
	});
});

describe('bounded answers from the LLM API', () => {
	it('a 1 GiB gzip bomb is cut off at the configured limit; a 307 is reported and not followed; a drip meets the deadline', async () => {
		const tokens = await startScriptedServer([]);
		const bomb = gzipBomb(1024);
		const elsewhere = await hostileServer((_request, res) => res.end('{}'));
		const api = await hostileServer((request, res) => {
			if (request.url.includes('bomb')) {
				res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
				res.end(bomb);
			} else if (request.url.includes('redirect')) {
				res.writeHead(307, { Location: `${elsewhere.origin}/v1/chat/completions?access_token=${encodeURIComponent(request.headers.authorization ?? '')}` });
				res.end();
			} else {
				drip(res, 50);
			}
		});
		const cache = new TokenCache({ clock: new FakeClock() });
		const call = async (path: string, extra: Record<string, unknown> = {}) =>
			await createChatCompletion(
				{ model: 'm', messages: [{ role: 'user', content: 'a prompt that must stay here' }] },
				{ provider: provider(tokens.url, `${api.origin}/${path}`, { headers: { 'Ocp-Apim-Subscription-Key': 'apim-key-123456' } }), tokens: cache, maxRetries: 0, ...extra },
			);

		await assert.rejects(call('bomb', { maxResponseSizeMb: 1 }), (error: unknown) => {
			assert.ok(error instanceof LlmApiError);
			assert.match(error.message, /larger than 1048576 bytes/);
			assert.match(String(error.hint), /Max Response Size/);
			return true;
		});
		await assert.rejects(call('redirect'), (error: unknown) => {
			assert.ok(error instanceof LlmApiError);
			assert.equal(error.status, 307);
			assert.match(error.message, /redirects \(HTTP 307\) to http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions\?access_token=\*\*hidden\*\*; redirects are not followed/);
			assert.doesNotMatch(error.message, /access-token-\d/);
			return true;
		});
		assert.equal(elsewhere.received.length, 0, 'the redirect target received nothing: no prompt, no token, no header');
		await assert.rejects(call('drip', { timeoutMs: 400 }), /no complete answer within 400 ms/);
		await tokens.close();
	});
});

describe('what hostile servers echo back stays out of every error field', () => {
	it('a token endpoint echoing the secret in error, error_description and body, in every encoding', async () => {
		const shapes = secretShapes();
		const server = await hostileServer((_request, res) => {
			res.writeHead(400, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ error: SECRET, error_description: shapes.join(' | '), echo: shapes, [SECRET]: 'key' }));
		});
		const config = provider(`${server.origin}/token`, server.origin);
		const cache = new TokenCache({ clock: new FakeClock() });
		const error = await cache.getToken(config.tokenEndpoint, context).catch((caught: unknown) => caught);
		assert.ok(error instanceof OAuth2AuthenticationError);
		const nodeError = toNodeError(NODE, error, 0, secretsOf(config.tokenEndpoint));
		assertNoSecret(JSON.stringify({ ...nodeError, message: nodeError.message, description: nodeError.description }));
		assertNoSecret(JSON.stringify(error));
	});

	it('an LLM API echoing the access token as its error code and the secret in its message', async () => {
		const tokens = await startScriptedServer([]);
		const api = await hostileServer((request, res) => {
			const accessToken = String(request.headers.authorization).replace('Bearer ', '');
			res.writeHead(500, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ error: { code: accessToken, message: `${accessToken} ${secretShapes().join(' ')}`, type: accessToken } }));
		});
		const config = provider(tokens.url, `${api.origin}/v1`);
		const cache = new TokenCache({ clock: new FakeClock() });
		const error = await createChatCompletion({ model: 'm', messages: [] }, { provider: config, tokens: cache, maxRetries: 0 }).catch(
			(caught: unknown) => caught,
		);
		assert.ok(error instanceof LlmApiError);
		const nodeError = toNodeError(NODE, error, 0, secretsOf(config.tokenEndpoint));
		const everything = JSON.stringify({ ...nodeError, message: nodeError.message, description: nodeError.description, raw: error });
		assertNoSecret(everything, ['access-token-0']);
		assert.match(everything, /\*\*hidden\*\*/);
		await tokens.close();
	});
});

describe('more that servers and users can slip in', () => {
	it('a Retry-After of 10^20 seconds pauses a credential for at most an hour, not forever', async () => {
		const server = await hostileServer((_request, res) => {
			res.writeHead(429, { 'Retry-After': '99999999999999999999' });
			res.end();
		});
		const clock = new FakeClock();
		const cache = new TokenCache({ clock });
		const cfg = provider(`${server.origin}/token`, server.origin).tokenEndpoint;
		await assert.rejects(cache.getToken(cfg, context), /asks to retry after 3600 s/);
		await assert.rejects(cache.getToken(cfg, context), /paused for another 3600 s/);
		clock.advance(3600_000);
		await assert.rejects(cache.getToken(cfg, context), /asks to retry after 3600 s/);
		assert.equal(server.received.length, 2);
	});

	it('a gateway echoing the credential\'s secret header (an APIM key) does not get it into the error', async () => {
		const tokens = await startScriptedServer([]);
		const api = await hostileServer((request, res) => {
			res.writeHead(400, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ error: { message: `bad key ${String(request.headers['ocp-apim-subscription-key'])}`, code: String(request.headers['ocp-apim-subscription-key']) } }));
		});
		const config = provider(tokens.url, `${api.origin}/v1`, { headers: { 'Ocp-Apim-Subscription-Key': 'apim-key-7f3a9c1e55', 'AI-Resource-Group': 'default' } });
		const error = await createChatCompletion({ model: 'm', messages: [] }, { provider: config, tokens: new TokenCache({ clock: new FakeClock() }), maxRetries: 0 }).catch(
			(caught: unknown) => caught,
		);
		const text = JSON.stringify({ ...(error as object), message: (error as Error).message });
		assert.match(text, /bad key \*\*hidden\*\*/);
		assert.doesNotMatch(text, /apim-key-7f3a9c1e55/);
		await tokens.close();
	});

	it('URL query values in messages are masked (a key in ?code= stays out), and so is a non-ASCII secret written as \\uXXXX', async () => {
		const cache = new TokenCache({ clock: new FakeClock(), retryPolicy: NO_RETRIES });
		await assert.rejects(cache.getToken(provider('http://127.0.0.1:1/token?code=gateway-key-42', 'http://127.0.0.1:1').tokenEndpoint, context), (error: unknown) => {
			assert.match((error as Error).message, /127\.0\.0\.1:1\/token\?code=\*\*hidden\*\*/);
			assert.doesNotMatch((error as Error).message, /gateway-key-42/);
			return true;
		});
		const secret = 'pässwörd-ünïcode-1';
		assert.equal(scrubText(`x ${JSON.stringify(secret).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)} y`, [secret]), `x "${REDACTED}" y`);
	});
});

describe('the provider\'s own words', () => {
	const shapes: Array<[string, unknown, string, string | undefined]> = [
		['Apigee ErrorCode/Error', { ErrorCode: 'invalid_client', Error: 'ClientId is Invalid' }, 'invalid_client: ClientId is Invalid', 'invalid_client'],
		['Apigee fault', { fault: { faultstring: 'Invalid ApiKey', detail: { errorcode: 'oauth.v2.InvalidApiKey' } } }, 'Invalid ApiKey', 'oauth.v2.InvalidApiKey'],
		['a gateway\'s nested error', { error: { message: 'Deployment not found', code: 'DeploymentNotFound' } }, 'Deployment not found', 'DeploymentNotFound'],
		['Okta', { errorCode: 'E0000011', errorSummary: 'Invalid token provided' }, 'Invalid token provided', 'E0000011'],
		['RFC 6749', { error: 'invalid_client', error_description: 'Bad secret' }, 'invalid_client: Bad secret', 'invalid_client'],
	];
	for (const [what, body, message, code] of shapes) {
		it(`reads ${what}`, () => {
			assert.deepEqual(providerWordsOf(body, JSON.stringify(body)), { message, code });
		});
	}

	it('plain-text bodies reach the message of a token error and of an LLM error; HTML pages do not', async () => {
		assert.deepEqual(providerWordsOf(undefined, '<html><body>502</body></html>'), {});
		const server = await hostileServer((request, res) => {
			res.writeHead(request.url.startsWith('/token') ? 401 : 403, { 'Content-Type': 'text/plain' });
			res.end(request.url.startsWith('/token') ? 'Client blocked by policy P-17' : 'Quota of team A exhausted');
		});
		const cache = new TokenCache({ clock: new FakeClock() });
		await assert.rejects(
			cache.getToken(provider(`${server.origin}/token`, server.origin).tokenEndpoint, context),
			/Token request to Hostile failed: Client blocked by policy P-17 \(HTTP 401\)/,
		);
		const tokens = await startScriptedServer([]);
		await assert.rejects(
			createChatCompletion({ model: 'm', messages: [] }, { provider: provider(tokens.url, `${server.origin}/v1`), tokens: cache, maxRetries: 0 }),
			/answered HTTP 403: Quota of team A exhausted/,
		);
		await tokens.close();
	});
});

describe('persistent 401s', () => {
	it('an API that rejects every token costs at most two token requests for ten calls, and says what to check', async () => {
		const tokens = await startScriptedServer([]);
		const api = await hostileServer((_request, res) => {
			res.writeHead(401, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ error: { message: 'audience mismatch' } }));
		});
		const cache = new TokenCache({ clock: new FakeClock() });
		const config = provider(tokens.url, `${api.origin}/v1`);
		// One item after the other, as a node with Concurrency 1 runs them.
		const outcomes: PromiseSettledResult<unknown>[] = [];
		for (let item = 0; item < 10; item++) {
			outcomes.push(...(await Promise.allSettled([createChatCompletion({ model: 'm', messages: [] }, { provider: config, tokens: cache, maxRetries: 0 })])));
		}
		assert.ok(outcomes.every((outcome) => outcome.status === 'rejected'));
		assert.ok(tokens.requests.length <= 2, `${tokens.requests.length} token requests`);
		const error = (outcomes[9] as PromiseRejectedResult).reason as LlmApiError;
		assert.match(error.message, /HTTP 401: audience mismatch/);
		assert.match(String(error.hint), /freshly issued token.*audience/);
		await tokens.close();
	});
});

describe('scrubbing is linear and complete', () => {
	const MIB = 1024 * 1024;
	// Each took seconds to minutes with the old backtracking patterns; linear code takes milliseconds.
	const adversarial: Array<[string, string]> = [
		['-eyJaaaa repeated (the old JWT pattern)', '-eyJaaaa'.repeat(MIB / 8)],
		['Bearer followed by spaces', `Bearer${' '.repeat(MIB)}`],
		['one long token run', `eyJ${'a'.repeat(MIB)}`],
		['client_secret= runs', 'client_secret=x'.repeat(MIB / 15)],
		['quotes without end', '"access_token":"'.repeat(MIB / 16)],
	];
	for (const [what, text] of adversarial) {
		it(`1 MiB of ${what} scrubs in well under a second`, () => {
			const started = performance.now();
			scrubText(text, [SECRET, 'another-secret']);
			boundedServerText(text, [SECRET]);
			// The bound is 50x the linear time on a loaded 2-core machine; quadratic time is minutes.
			assert.ok(performance.now() - started < 5000, `${Math.round(performance.now() - started)} ms`);
		});
	}

	it('a Markdown fence around 1 MiB of whitespace unfences in linear time', () => {
		const started = performance.now();
		assert.equal(unfence(`\`\`\`json${'\n '.repeat(MIB / 2)}`), `\`\`\`json${'\n '.repeat(MIB / 2)}`.trim());
		assert.equal(unfence('```json\n{"a": 1}\n```'), '{"a": 1}');
		assert.equal(unfence('```\n[1]\n```'), '[1]');
		assert.equal(unfence('```json{"a":2}```'), '{"a":2}');
		assert.ok(performance.now() - started < 5000);
	});

	it('every encoding of the secret is found: form (+, lower-case hex), URI, JSON-escaped, base64 of it and of id:secret', () => {
		const text = scrubText(secretShapes().join(' ~ '), secretsOf(provider('http://127.0.0.1:1/token', 'http://127.0.0.1:1').tokenEndpoint));
		assertNoSecret(text);
		assert.equal(text.split(REDACTED).length - 1, secretShapes().length);
	});

	it("finds the forms that slipped through before: Go's \\u0026 \\u003c \\u003e, percent-encoding that keeps '/', strict RFC 3986, and base64 of the secret inside a longer text at every offset", () => {
		const secret = 'S3cr+t/<x>&y(z)!9~';
		const goEscaped = JSON.stringify(secret).slice(1, -1).replace(/[&<>]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
		const shapes = [
			goEscaped,
			goEscaped.replace(/\\u([0-9a-f]{4})/g, (_escape, hex: string) => `\\u${hex.toUpperCase()}`),
			encodeURIComponent(secret).replace(/%2F/g, '/'),
			encodeURIComponent(secret).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`),
			encodeURIComponent(secret).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16)}`).replace(/%2F/g, '/').replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
		];
		for (const shape of shapes) assert.equal(scrubText(`before ${shape} after`, [secret]), `before ${REDACTED} after`, shape);
		/** Whether any run of base64 in `text`, decoded at any of the four alignments, still holds `needle`. */
		const decodesTo = (text: string, needle: string) =>
			[...text.matchAll(/[A-Za-z0-9+/\-_]{8,}/g)].some(([run]) =>
				[0, 1, 2, 3].some((shift) => Buffer.from(run.slice(shift, shift + Math.floor((run.length - shift) / 4) * 4), 'base64').toString('latin1').includes(needle)),
			);
		const middle = secret.slice(3, -3);
		for (let prefix = 0; prefix < 6; prefix++) {
			for (const encode of [(text: string) => Buffer.from(text).toString('base64'), (text: string) => Buffer.from(text).toString('base64url')]) {
				const encoded = encode(`${'p'.repeat(prefix)}${secret}{"and":"more"}`);
				assert.ok(decodesTo(encoded, middle), 'the check itself sees the secret before scrubbing');
				assert.equal(decodesTo(scrubText(`x ${encoded} y`, [secret]), middle), false, `offset ${prefix}: ${encoded}`);
			}
		}
	});

	it('remembers secret sets by what they hold: a set of one secret with a NUL in it is not the set of its two halves', () => {
		assert.equal(scrubText('one: sec1\u0000sec2', ['sec1\u0000sec2']), `one: ${REDACTED}`);
		assert.equal(scrubText('two: sec1 and sec2', ['sec1', 'sec2']), `two: ${REDACTED} and ${REDACTED}`);
	});

	it('scrubs before it cuts: a secret that straddles the cut leaves no prefix behind', () => {
		for (let offset = 1990; offset < 2010; offset++) {
			const text = `${'x'.repeat(offset)}${SECRET} tail`;
			assertNoSecret(boundedServerText(text, [SECRET]));
			// Many replaced secrets before the cut shorten the text: the partial one behind them must not slide in.
			const shifted = `${`${SECRET} `.repeat(200)}${'y'.repeat(offset)}${SECRET}`;
			assertNoSecret(boundedServerText(shifted, [SECRET]));
		}
	});

	it('a long repetitive secret and a text cut in the middle of it: the cut end is found in linear time', () => {
		const secret = 'A'.repeat(200_000);
		// The part that is scrubbed ends in a quote, so the cut end is searched for the secret's start.
		const head = 2000 + Buffer.from(secret).toString('base64').length + 256;
		const text = `${'A'.repeat(200_000)}!${'A'.repeat(head - 200_002)}"${'tail '.repeat(1000)}`;
		const started = performance.now();
		const shown = boundedServerText(text, [secret]);
		// The old per-length endsWith check took seconds here (quadratic in the secret's length).
		assert.ok(performance.now() - started < 1500, `${Math.round(performance.now() - started)} ms`);
		assert.ok(shown.startsWith(`${REDACTED}!`), shown.slice(0, 100));
	});

	it('n8n\'s SSRF switch is read the way n8n reads it: true or 1 in any case, or a _FILE', async () => {
		const { egressProtectionEnabled } = await import('../nodes/shared/transport/egress');
		const saved = { value: process.env.N8N_SSRF_PROTECTION_ENABLED, file: process.env.N8N_SSRF_PROTECTION_ENABLED_FILE };
		try {
			delete process.env.N8N_SSRF_PROTECTION_ENABLED_FILE;
			for (const [value, enabled] of [['true', true], ['TRUE', true], ['1', true], ['false', false], ['0', false], ['', false]] as const) {
				process.env.N8N_SSRF_PROTECTION_ENABLED = value;
				assert.equal(egressProtectionEnabled(), enabled, value);
			}
			delete process.env.N8N_SSRF_PROTECTION_ENABLED;
			process.env.N8N_SSRF_PROTECTION_ENABLED_FILE = '/run/secrets/ssrf';
			assert.equal(egressProtectionEnabled(), true);
		} finally {
			if (saved.value === undefined) delete process.env.N8N_SSRF_PROTECTION_ENABLED;
			else process.env.N8N_SSRF_PROTECTION_ENABLED = saved.value;
			if (saved.file === undefined) delete process.env.N8N_SSRF_PROTECTION_ENABLED_FILE;
			else process.env.N8N_SSRF_PROTECTION_ENABLED_FILE = saved.file;
		}
	});

	it('a relative redirect and a bare ?KEY are masked in messages too', () => {
		assert.equal(urlForMessage('/v2/chat?subscription-key=k3y-1234', [], 'https://gw.example/v1/chat'), 'https://gw.example/v2/chat?subscription-key=**hidden**');
		assert.equal(urlForMessage('https://gw.example/v1?SECRETKEY99'), 'https://gw.example/v1?**hidden**');
		assert.equal(urlForMessage('::not a url?code=k3y'), '::not a url?**hidden**');
	});

	it('prose stays readable', () => {
		assert.equal(scrubText('send them in a Basic header; a Bearer token; heyJude is fine'), 'send them in a Basic header; a Bearer token; heyJude is fine');
	});
});
