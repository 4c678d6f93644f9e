import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OAuth2AuthenticationError } from '../nodes/shared/core/errors';
import { DEFAULT_TOKEN_LIFETIME_SECONDS, requestToken } from '../nodes/shared/auth/token-client';
import { scriptedTokenEndpoints } from './helpers/token-server';

const NOW_MS = Date.UTC(2026, 0, 1);
const { server, config } = scriptedTokenEndpoints({ clientId: 'my-client', clientSecret: 'client-secret-xyz' });

const options = { providerName: 'Acme', wallNowMs: () => NOW_MS };

describe('one token request on the wire', () => {
	it('client_secret_post: grant, scope, extra parameters and the client in the form body', async () => {
		const endpoint = await server([]);
		await requestToken(
			config(endpoint.url, { scope: 'llm.read llm.write', additionalTokenParameters: { audience: 'https://llm' } }),
			options,
		);
		const [request] = endpoint.requests;
		assert.equal(request.method, 'POST');
		assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
		assert.equal(request.headers.authorization, undefined);
		assert.deepEqual(request.form, {
			grant_type: 'client_credentials',
			scope: 'llm.read llm.write',
			audience: 'https://llm',
			client_id: 'my-client',
			client_secret: 'client-secret-xyz',
		});
	});

	it('client_secret_basic form-encodes id and secret before Base64 (RFC 6749 §2.3.1)', async () => {
		const endpoint = await server([]);
		await requestToken(
			config(endpoint.url, { clientId: 'sb-abc!a1|aicore!b2', clientSecret: 's3cr:t/+&% x', clientAuthentication: 'header' }),
			options,
		);
		const [request] = endpoint.requests;
		const decoded = Buffer.from(String(request.headers.authorization).replace(/^Basic /, ''), 'base64').toString();
		assert.equal(decoded, 'sb-abc%21a1%7Caicore%21b2:s3cr%3At%2F%2B%26%25+x');
		assert.equal(request.form.client_id, undefined);
		assert.equal(request.form.client_secret, undefined);
	});

	it('client_secret_basic in raw mode sends the values as they are (SAP XSUAA)', async () => {
		const endpoint = await server([]);
		await requestToken(
			config(endpoint.url, {
				clientId: 'sb-abc!a1|aicore!b2',
				clientSecret: 'xsuaa-secret',
				clientAuthentication: 'header',
				basicAuthEncoding: 'raw',
			}),
			options,
		);
		const decoded = Buffer.from(String(endpoint.requests[0].headers.authorization).slice(6), 'base64').toString();
		assert.equal(decoded, 'sb-abc!a1|aicore!b2:xsuaa-secret');
	});

	it('the refresh_token grant sends the refresh token', async () => {
		const endpoint = await server([]);
		await requestToken(config(endpoint.url, { refreshToken: 'refresh-1' }), { ...options, refreshToken: 'refresh-2' });
		assert.equal(endpoint.requests[0].form.grant_type, 'refresh_token');
		assert.equal(endpoint.requests[0].form.refresh_token, 'refresh-2');
	});

	const lifetimes: Array<[string, Record<string, unknown>, number]> = [
		['expires_in as a number', { expires_in: 1800 }, 1800],
		['expires_in as a numeric string', { expires_in: '1800' }, 1800],
		['expires_on in epoch seconds (Entra ID v1)', { expires_on: String(NOW_MS / 1000 + 900) }, 900],
		['no expiry at all', {}, DEFAULT_TOKEN_LIFETIME_SECONDS],
		['a nonsense expires_in', { expires_in: 'soon' }, DEFAULT_TOKEN_LIFETIME_SECONDS],
	];
	for (const [what, fields, seconds] of lifetimes) {
		it(`reads the lifetime from ${what}`, async () => {
			const endpoint = await server([{ body: { access_token: 'opaque-token', token_type: 'bearer', ...fields } }]);
			const token = await requestToken(config(endpoint.url), options);
			assert.equal(token.accessToken, 'opaque-token');
			assert.equal(token.lifetimeSeconds, seconds);
		});
	}

	it('reads the lifetime of a JWT without expires_in from its exp and iat claims', async () => {
		const claims = Buffer.from(JSON.stringify({ iat: 1000, exp: 1600 })).toString('base64url');
		const endpoint = await server([{ body: { access_token: `eyJhbGciOiJub25lIn0.${claims}.sig`, token_type: 'BEARER' } }]);
		const token = await requestToken(config(endpoint.url), options);
		assert.equal(token.lifetimeSeconds, 600);
	});

	it('a 200 without access_token is an authentication error that is not retried', async () => {
		const endpoint = await server([{ body: { token_type: 'Bearer', expires_in: 3600 } }]);
		await assert.rejects(requestToken(config(endpoint.url), options), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.equal(error.retryable, false);
			assert.match(error.message, /Acme answered HTTP 200 without an access_token/);
			return true;
		});
	});

	it('a 200 HTML login page is an authentication error naming Token URL', async () => {
		const endpoint = await server([{ body: '<html>Sign in</html>' }]);
		await assert.rejects(requestToken(config(endpoint.url), options), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.match(error.message, /not a JSON token response/);
			return true;
		});
	});

	it('keeps the server\'s OAuth error and description, and scrubs the secret from them', async () => {
		const endpoint = await server([
			{ status: 401, body: { error: 'invalid_client', error_description: 'Bad client credentials for client-secret-xyz' } },
		]);
		await assert.rejects(requestToken(config(endpoint.url), options), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.equal(error.status, 401);
			assert.equal(error.oauthError, 'invalid_client');
			assert.equal(error.retryable, false);
			assert.match(error.message, /invalid_client: Bad client credentials/);
			assert.doesNotMatch(JSON.stringify({ ...error, message: error.message }), /client-secret-xyz/);
			return true;
		});
	});

	it('classifies 408, 429, 5xx and temporarily_unavailable as retryable, with Retry-After', async () => {
		const endpoint = await server([
			{ status: 503, headers: { 'Retry-After': '7' } },
			{ status: 429 },
			{ status: 408 },
			{ status: 400, body: { error: 'temporarily_unavailable' } },
			{ status: 400, body: { error: 'invalid_scope' } },
		]);
		const outcomes: Array<[boolean, number | undefined]> = [];
		for (let i = 0; i < 5; i++) {
			await requestToken(config(endpoint.url), options).catch((error: OAuth2AuthenticationError) =>
				outcomes.push([error.retryable, error.retryAfterMs]),
			);
		}
		assert.deepEqual(outcomes, [
			[true, 7000],
			[true, undefined],
			[true, undefined],
			[true, undefined],
			[false, undefined],
		]);
	});

	it('a dropped connection and a closed port are retryable network errors', async () => {
		const endpoint = await server([{ drop: true }]);
		await assert.rejects(requestToken(config(endpoint.url), options), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.equal(error.retryable, true);
			assert.match(error.message, /Could not reach the token endpoint of Acme/);
			return true;
		});
		await assert.rejects(requestToken(config('http://127.0.0.1:9/token'), options), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.equal(error.retryable, true);
			assert.match(error.message, /ECONNREFUSED/);
			return true;
		});
	});

	it('a redirect is reported instead of followed (a redirected POST loses the grant)', async () => {
		const endpoint = await server([{ status: 302, headers: { Location: 'https://elsewhere/token' } }]);
		await assert.rejects(requestToken(config(endpoint.url), options), /redirects \(HTTP 302\) to https:\/\/elsewhere\/token/);
	});
});

describe('hints', () => {
	it('a 401 without invalid_client (XSUAA: unauthorized / Bad credentials) still suggests Raw Basic encoding for special ids', async () => {
		const endpoint = await server([{ status: 401, body: { error: 'unauthorized', error_description: 'Bad credentials' } }]);
		await assert.rejects(
			requestToken(config(endpoint.url, { clientId: 'sb-abc!a1|aicore!b2', clientAuthentication: 'header' }), options),
			(error: unknown) => {
				assert.ok(error instanceof OAuth2AuthenticationError);
				assert.match(error.message, /unauthorized: Bad credentials \(HTTP 401\)/);
				assert.match(String(error.hint), /set Basic Auth Encoding to Raw/);
				return true;
			},
		);
	});
});
