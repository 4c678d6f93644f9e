import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OAuth2AuthenticationError } from '../nodes/shared/errors';
import { BACKGROUND_RETRY_INTERVAL_MS, TokenCache, cacheKey } from '../nodes/shared/token-cache';
import { FakeClock } from './helpers/fake-clock';
import { scriptedTokenEndpoints, tokenAnswer } from './helpers/token-server';

const HOUR_MS = 3600_000;
const { server, config } = scriptedTokenEndpoints({ clientId: 'cache-client', clientSecret: 'cache-secret-123' });

const context = { providerName: 'Acme' };

/** Lets pending promise callbacks and loopback I/O run. */
const settle = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms));

describe('token cache', () => {
	it('200 concurrent callers share one token request', async () => {
		const endpoint = await server(() => ({ ...tokenAnswer(0), delayMs: 50 }));
		const cache = new TokenCache({ clock: new FakeClock() });
		const tokens = await Promise.all(Array.from({ length: 200 }, async () => await cache.getToken(config(endpoint.url), context)));
		assert.equal(endpoint.requests.length, 1);
		assert.equal(new Set(tokens.map((token) => token.accessToken)).size, 1);
	});

	it('renews a 1-hour token in the background before it expires, without making callers wait', async () => {
		const clock = new FakeClock();
		const endpoint = await server((_request, index) => ({ ...tokenAnswer(index), delayMs: index === 0 ? 0 : 100 }));
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0');

		clock.advance(50 * 60_000); // 50 min: still before the refresh window (54 min)
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0');
		assert.equal(endpoint.requests.length, 1);

		clock.advance(5 * 60_000); // 55 min: in the window; the old token comes back at once
		const during = await Promise.all(Array.from({ length: 20 }, async () => await cache.getToken(cfg, context)));
		assert.deepEqual(new Set(during.map((token) => token.accessToken)), new Set(['access-token-0']));
		await cache.settled(cfg);
		assert.equal(endpoint.requests.length, 2, 'exactly one background refresh');
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-1');

		clock.advance(4 * 60_000); // 59 min: the old token would be unusable now; the new one is fine
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-1');
		assert.equal(endpoint.requests.length, 2);
	});

	it('a token within the expiry buffer is not used: the caller waits for a new one', async () => {
		const clock = new FakeClock();
		const endpoint = await server([]);
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url, { expiryBufferSeconds: 120 });
		await cache.getToken(cfg, context);
		clock.advance(HOUR_MS - 120_000);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-1');
		assert.equal(endpoint.requests.length, 2);
	});

	it('retries 503s after 1 s, 2 s and 4 s plus jitter, then succeeds', async () => {
		const clock = new FakeClock();
		const endpoint = await server([{ status: 503 }, { status: 502 }, { status: 500 }]);
		const cache = new TokenCache({ clock });
		const token = await cache.getToken(config(endpoint.url), context);
		assert.equal(token.accessToken, 'access-token-3');
		assert.equal(endpoint.requests.length, 4);
		// random() = 0.5 and 20 % jitter: +10 % on each step
		assert.deepEqual(clock.sleeps, [1100, 2200, 4400]);
	});

	it('honours Retry-After when it asks for longer than the backoff, capped at 30 s', async () => {
		const clock = new FakeClock();
		const endpoint = await server([
			{ status: 429, headers: { 'Retry-After': '3' } },
			{ status: 503, headers: { 'Retry-After': '3600' } },
			// An HTTP-date, read when it arrives: 33 s of sleeps have passed on the fake clock by then.
			{ status: 503, headers: { 'Retry-After': new Date(clock.now + 33_000 + 9000).toUTCString() } },
		]);
		const cache = new TokenCache({ clock });
		await cache.getToken(config(endpoint.url), context);
		assert.deepEqual(clock.sleeps, [3000, 30_000, 9000]);
	});

	it('gives up after 3 retries with the last error', async () => {
		const clock = new FakeClock();
		const endpoint = await server(() => ({ status: 503, body: { error: 'temporarily_unavailable', error_description: 'maintenance' } }));
		const cache = new TokenCache({ clock });
		await assert.rejects(cache.getToken(config(endpoint.url), context), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.equal(error.status, 503);
			assert.match(error.message, /temporarily_unavailable: maintenance/);
			return true;
		});
		assert.equal(endpoint.requests.length, 4);
	});

	it('retries a dropped connection', async () => {
		const endpoint = await server([{ drop: true }]);
		const clock = new FakeClock();
		const cache = new TokenCache({ clock });
		assert.equal((await cache.getToken(config(endpoint.url), context)).accessToken, 'access-token-1');
		assert.equal(clock.sleeps.length, 1);
	});

	for (const [status, error] of [
		[400, 'invalid_client'],
		[401, 'invalid_client'],
		[400, 'invalid_scope'],
		[400, 'unauthorized_client'],
		[403, 'access_denied'],
	] as const) {
		it(`never retries a fatal ${status} ${error}, and shares it with every waiting caller`, async () => {
			const clock = new FakeClock();
			const endpoint = await server(() => ({ status, body: { error, error_description: 'nope' }, delayMs: 30 }));
			const cache = new TokenCache({ clock });
			const results = await Promise.allSettled(
				Array.from({ length: 20 }, async () => await cache.getToken(config(endpoint.url), context)),
			);
			assert.equal(endpoint.requests.length, 1);
			assert.deepEqual(clock.sleeps, []);
			for (const result of results) {
				assert.equal(result.status, 'rejected');
				assert.equal(((result as PromiseRejectedResult).reason as OAuth2AuthenticationError).oauthError, error);
			}
			// A later caller asks again: the credential may have been fixed at the provider meanwhile.
			await cache.getToken(config(endpoint.url), context).catch(() => undefined);
			assert.equal(endpoint.requests.length, 2);
		});
	}

	it('one key\'s backoff never blocks another key', async () => {
		const clock = new FakeClock();
		clock.holdSleeps = true;
		const failing = await server([{ status: 503 }]);
		const healthy = await server([]);
		const cache = new TokenCache({ clock });
		const slow = cache.getToken(config(failing.url), context);
		while (clock.heldSleeps === 0) await settle(10); // its 503 arrived: it sleeps in its backoff, holding its lock
		assert.equal(clock.heldSleeps, 1);
		const fast = await cache.getToken(config(healthy.url), context);
		assert.equal(fast.accessToken, 'access-token-0');
		clock.releaseSleeps();
		assert.equal((await slow).accessToken, 'access-token-1');
	});

	it('invalidate drops the token only while it is still the cached one', async () => {
		const endpoint = await server([]);
		const cache = new TokenCache({ clock: new FakeClock() });
		const cfg = config(endpoint.url);
		const first = await cache.getToken(cfg, context);
		assert.equal(cache.invalidate(cfg, first.accessToken), true);
		const second = await cache.getToken(cfg, context);
		assert.equal(cache.invalidate(cfg, first.accessToken), false, 'a late 401 for the old token keeps the new one');
		assert.equal((await cache.getToken(cfg, context)).accessToken, second.accessToken);
		assert.equal(endpoint.requests.length, 2);
	});

	it('keys by everything that changes the token: a new secret, scope or parameter gets its own token', async () => {
		const endpoint = await server([]);
		const cache = new TokenCache({ clock: new FakeClock() });
		const base = config(endpoint.url);
		const variants = [
			base,
			config(endpoint.url, { clientSecret: 'rotated-secret-456' }),
			config(endpoint.url, { scope: 'llm.chat' }),
			config(endpoint.url, { additionalTokenParameters: { audience: 'a' } }),
			config(endpoint.url, { clientAuthentication: 'header' }),
			config(endpoint.url, { clientId: 'other-client' }),
		];
		const tokens = await Promise.all(variants.map(async (cfg) => (await cache.getToken(cfg, context)).accessToken));
		assert.equal(new Set(tokens).size, variants.length);
		assert.equal((await cache.getToken(config(endpoint.url), context)).accessToken, tokens[0], 'equal configs share one');
		assert.equal(cacheKey(base).includes('cache-secret-123'), false);
	});

	it('stays bounded: least recently used configurations are dropped', async () => {
		const endpoint = await server([]);
		const cache = new TokenCache({ clock: new FakeClock(), maxEntries: 3 });
		for (let i = 0; i < 10; i++) await cache.getToken(config(endpoint.url, { clientId: `client-${i}` }), context);
		assert.equal(cache.size, 3);
	});

	it('uses the refresh_token grant and the rotated refresh token from then on', async () => {
		const clock = new FakeClock();
		let current = 'refresh-0';
		const endpoint = await server((request, index) => {
			if (request.form.grant_type !== 'refresh_token' || request.form.refresh_token !== current) {
				return { status: 400, body: { error: 'invalid_grant', error_description: 'refresh token reused' } };
			}
			current = `refresh-${index + 1}`;
			return tokenAnswer(index, { refresh_token: current });
		});
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url, { refreshToken: 'refresh-0' });
		await cache.getToken(cfg, context);
		clock.advance(HOUR_MS);
		await cache.getToken(cfg, context);
		clock.advance(HOUR_MS);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-2');
		assert.deepEqual(
			endpoint.requests.map((request) => request.form.refresh_token),
			['refresh-0', 'refresh-1', 'refresh-2'],
		);
	});

	it('a failed background refresh keeps the old token in use and tries again after 3 s', async () => {
		const clock = new FakeClock();
		const endpoint = await server([tokenAnswer(0), { status: 503 }, { status: 503 }]);
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		await cache.getToken(cfg, context);
		clock.advance(56 * 60_000);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0');
		await cache.settled(cfg);
		assert.equal(endpoint.requests.length, 2);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0');
		await cache.settled(cfg);
		assert.equal(endpoint.requests.length, 2, 'no second try within the 3 s pause');
		clock.advance(BACKGROUND_RETRY_INTERVAL_MS);
		await cache.getToken(cfg, context);
		await cache.settled(cfg);
		assert.equal(endpoint.requests.length, 3);
		clock.advance(BACKGROUND_RETRY_INTERVAL_MS);
		await cache.getToken(cfg, context);
		await cache.settled(cfg);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-3');
	});

	it('a caller that needs a token after a failed background refresh still gets the full retry schedule', async () => {
		const clock = new FakeClock();
		const endpoint = await server([tokenAnswer(0), { status: 503, delayMs: 100 }, { status: 503 }]);
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		await cache.getToken(cfg, context);
		clock.advance(58 * 60_000);
		await cache.getToken(cfg, context); // starts the background refresh, which will fail
		clock.advance(2 * 60_000); // the old token is no longer usable while that attempt is in flight
		const token = await cache.getToken(cfg, context);
		assert.equal(token.accessToken, 'access-token-3');
		assert.deepEqual(clock.sleeps, [1100], 'its own retry after the foreground 503');
	});

	it('a short token (30 s, buffer 60 s) is reused for its first 15 s', async () => {
		const clock = new FakeClock();
		const endpoint = await server((_request, index) => tokenAnswer(index, { expires_in: 30 }));
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		await cache.getToken(cfg, context);
		clock.advance(10_000);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0');
		clock.advance(5_000);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-1');
	});

	it('an aborted caller stops waiting in its backoff', async () => {
		const clock = new FakeClock();
		const endpoint = await server(() => ({ status: 503 }));
		const cache = new TokenCache({ clock });
		const controller = new AbortController();
		controller.abort();
		await assert.rejects(cache.getToken(config(endpoint.url), { ...context, signal: controller.signal }));
		assert.ok(endpoint.requests.length <= 1);
	});
});
