/**
 * Issue 19 §2: an error body is scrubbed once, with each secret's forms computed once, and the walk is
 * bounded in strings and characters, so a hostile server's 1 MiB error answer costs milliseconds on the
 * token path and the chat path alike, with every kind of secret configured (a 16 KB body of short
 * strings used to block the event loop for a third of a second with a client secret, and far longer
 * with a private key, per attempt). The bound below is generous on purpose (timing is measured in the
 * benchmark, section "Scrubbing server text"); what is asserted exactly is the size of what reaches n8n.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';

import type { INode } from 'n8n-workflow';

import { TokenCache } from '../nodes/shared/auth/token-cache';
import { parseProviderConfig, secretsOf, type ProviderConfig } from '../nodes/shared/config/provider-config';
import { MAX_SCRUBBED_CHARS, MAX_SCRUBBED_STRINGS } from '../nodes/shared/core/scrub';
import { toNodeError } from '../nodes/shared/n8n/n8n-errors';
import { MAX_ERROR_BODY_BYTES } from '../nodes/shared/transport/http';
import { createChatCompletion } from '../nodes/shared/wire/chat-client';
import { FakeClock } from './helpers/fake-clock';
import { hostileServer } from './helpers/hostile-server';
import { startScriptedServer } from './helpers/token-server';

const MIB = 1024 * 1024;
const NODE: INode = { id: 'n1', name: 'OAuth2 LLM Chat', type: 'oAuth2LlmChat', typeVersion: 1, position: [0, 0], parameters: {} };
const SECRET = 'S3cr+t/"x y\\z&Q=9';
const REFRESH_TOKEN = 'refresh-token-0123456789';
const HEADER_VALUE = 'apim-key-0123456789abcdef';
/** Generous: the same work took seconds to minutes before; it takes milliseconds now. */
const BOUND_MS = 2000;

/** 50 × 50 × 50 arrays of short strings (125,000 strings, about 1 MiB), behind an OAuth error. */
function manySmallStrings(): string {
	const leaf = Array.from({ length: 50 }, (_, i) => `s${i}-x`);
	const tree = Array.from({ length: 50 }, () => Array.from({ length: 50 }, () => leaf));
	return JSON.stringify({ error: 'server_error', error_description: 'many strings', details: tree });
}

/** 1 MiB of nested objects. */
function deepNesting(): string {
	const depth = Math.floor(MIB / 6);
	return `${'{"a":'.repeat(depth)}"x"${'}'.repeat(depth)}`;
}

const SHAPES: Array<[string, () => string]> = [
	['many small strings', manySmallStrings],
	['deep nesting', deepNesting],
];

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const CONFIGS: Array<[string, (tokenUrl: string, baseUrl: string) => ProviderConfig]> = [
	[
		'client secret, refresh token, secret header',
		(tokenUrl, baseUrl) =>
			parseProviderConfig({ baseUrl, tokenUrl, clientId: 'cost-client', clientSecret: SECRET, refreshToken: REFRESH_TOKEN, headers: { 'Ocp-Apim-Subscription-Key': HEADER_VALUE } }, 'Hostile'),
	],
	[
		'private key JWT, refresh token, secret header',
		(tokenUrl, baseUrl) =>
			parseProviderConfig(
				{
					baseUrl,
					tokenUrl,
					clientId: 'cost-client',
					clientAuthentication: 'privateKeyJwt',
					privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
					refreshToken: REFRESH_TOKEN,
					headers: { 'Ocp-Apim-Subscription-Key': HEADER_VALUE },
				},
				'Hostile',
			),
	],
];

function assertBoundedAndClean(nodeError: unknown, provider: ProviderConfig, extra: string[]): void {
	const stored = JSON.stringify(nodeError);
	// What n8n stores: at most the walk's budget, plus the message and field names around it.
	assert.ok(stored.length < MAX_SCRUBBED_CHARS * 1.5, `${stored.length} characters reach n8n`);
	for (const secret of [...secretsOf(provider.tokenEndpoint), HEADER_VALUE, ...extra]) assert.equal(stored.includes(secret), false, 'a secret reached n8n');
}

describe('a 1 MiB error body costs milliseconds, scrubbed once and bounded', () => {
	for (const [shape, body] of SHAPES) {
		const text = body();
		for (const [secrets, makeProvider] of CONFIGS) {
			it(`token path, ${shape}, ${secrets}: 4 attempts of HTTP 500 and the node error`, async () => {
				const tokenEndpoint = await hostileServer((_request, res) => {
					res.writeHead(500, { 'Content-Type': 'application/json' });
					res.end(text);
				});
				const provider = makeProvider(`${tokenEndpoint.origin}/token`, 'http://127.0.0.1:1/v1');
				const cache = new TokenCache({ clock: new FakeClock() });
				const started = performance.now();
				const error = await cache.getToken(provider.tokenEndpoint, { providerName: 'Hostile' }).then(
					() => assert.fail('the token request succeeded'),
					(failure: unknown) => failure,
				);
				const nodeError = toNodeError(NODE, error, 0, [...secretsOf(provider.tokenEndpoint), HEADER_VALUE]);
				const elapsedMs = performance.now() - started;
				assert.equal(tokenEndpoint.received.length, 4);
				assert.ok(elapsedMs < BOUND_MS, `${Math.round(elapsedMs)} ms`);
				assertBoundedAndClean(nodeError, provider, []);
			});

			it(`chat path, ${shape}, ${secrets}: 3 attempts of HTTP 500 and the node error`, async () => {
				const tokens = await startScriptedServer([]);
				const api = await hostileServer((_request, res) => {
					res.writeHead(500, { 'Content-Type': 'application/json' });
					res.end(text);
				});
				const provider = makeProvider(tokens.url, `${api.origin}/v1`);
				const clock = new FakeClock();
				const cache = new TokenCache({ clock });
				const started = performance.now();
				const error = await createChatCompletion({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, { provider, tokens: cache, clock }).then(
					() => assert.fail('the chat call succeeded'),
					(failure: unknown) => failure,
				);
				const accessToken = cache.cachedAccessToken(provider.tokenEndpoint)!;
				const nodeError = toNodeError(NODE, error, 0, [...secretsOf(provider.tokenEndpoint), HEADER_VALUE, accessToken]);
				const elapsedMs = performance.now() - started;
				await tokens.close();
				assert.equal(api.received.length, 3);
				assert.ok(elapsedMs < BOUND_MS, `${Math.round(elapsedMs)} ms`);
				assertBoundedAndClean(nodeError, provider, [accessToken]);
			});
		}
	}

	it(`an error body is read only up to ${MAX_ERROR_BODY_BYTES} bytes, whatever the answer limit`, async () => {
		let sentBytes = 0;
		const tokens = await startScriptedServer([]);
		const api = await hostileServer((_request, res) => {
			res.writeHead(500, { 'Content-Type': 'text/plain' });
			// 64 MiB offered, in 64 KiB pieces; the client stops reading long before.
			const piece = Buffer.alloc(64 * 1024, 'e');
			const write = () => {
				while (sentBytes < 64 * MIB) {
					sentBytes += piece.length;
					if (!res.write(piece)) return void res.once('drain', write);
				}
				res.end();
			};
			res.on('error', () => undefined);
			write();
		});
		const provider = CONFIGS[0][1](tokens.url, `${api.origin}/v1`);
		const error = await createChatCompletion(
			{ model: 'm', messages: [{ role: 'user', content: 'hi' }] },
			{ provider, tokens: new TokenCache({ clock: new FakeClock() }), clock: new FakeClock(), maxRetries: 0, maxResponseSizeMb: 512 },
		).then(
			() => assert.fail('the chat call succeeded'),
			(failure: unknown) => failure as Error,
		);
		await tokens.close();
		assert.match(error.message, /answered HTTP 500/);
		assert.ok(sentBytes < 16 * MIB, `the server got to send ${sentBytes} bytes`);
	});

	it(`the walk stops at ${MAX_SCRUBBED_STRINGS} strings`, async () => {
		const { scrubValue } = await import('../nodes/shared/core/scrub');
		const copy = JSON.stringify(scrubValue(JSON.parse(manySmallStrings()), [SECRET]));
		assert.equal((copy.match(/"s\d+-x"/g) ?? []).length, MAX_SCRUBBED_STRINGS - 5, 'keys count too: error, error_description, details and the two values come first');
	});
});
