import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OAuth2AuthenticationError } from '../nodes/shared/core/errors';
import { AbortedError, systemClock } from '../nodes/shared/core/clock';
import { cacheKey } from '../nodes/shared/auth/cache-key';
import { BACKGROUND_RETRY_INTERVAL_MS, TokenCache } from '../nodes/shared/auth/token-cache';
import { LOST_REFRESH_PAUSE_MS } from '../nodes/shared/auth/refresh-turns';
import { REFUSED_CLIENT_PAUSE_MS } from '../nodes/shared/auth/throttle';
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

	it('honours Retry-After when it asks for longer than the backoff', async () => {
		const clock = new FakeClock();
		const endpoint = await server([
			{ status: 429, headers: { 'Retry-After': '3' } },
			{ status: 503, headers: { 'Retry-After': '30' } },
			// An HTTP-date, read when it arrives: 33 s of sleeps have passed on the fake clock by then.
			{ status: 503, headers: { 'Retry-After': new Date(clock.now + 33_000 + 9000).toUTCString() } },
		]);
		const cache = new TokenCache({ clock });
		await cache.getToken(config(endpoint.url), context);
		assert.deepEqual(clock.sleeps, [3000, 30_000, 9000]);
	});

	it('a Retry-After longer than the 30 s cap is not retried early: it fails at once, and every caller fails fast until it ends', async () => {
		const clock = new FakeClock();
		const endpoint = await server([{ status: 429, headers: { 'Retry-After': '60' }, body: 'throttled' }]);
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		await assert.rejects(cache.getToken(cfg, context), /asks to retry after 60 s/);
		assert.equal(endpoint.requests.length, 1, 'no retry into the throttle window');
		assert.deepEqual(clock.sleeps, []);
		clock.advance(20_000);
		await assert.rejects(cache.getToken(cfg, context), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.match(error.message, /paused for another 40 s/);
			assert.match(error.message, /asks to retry after 60 s/);
			return true;
		});
		assert.equal(endpoint.requests.length, 1, 'other callers do not hammer the endpoint');
		clock.advance(40_000);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-1');
		assert.equal(endpoint.requests.length, 2);
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
			// Continue On Fail: the items after it get the same answer from memory, not one request each
			// (bad credentials sent 100 times may lock the client out at the identity provider).
			for (let item = 0; item < 100; item++) {
				await assert.rejects(cache.getToken(config(endpoint.url), context), (later: unknown) => {
					assert.ok(later instanceof OAuth2AuthenticationError);
					assert.equal(later.oauthError, error);
					assert.equal(later.status, status);
					assert.match(later.message, /nope.*without asking again for another 10 s/);
					return true;
				});
			}
			assert.equal(endpoint.requests.length, 1);
			// Then it asks again: the client may have been fixed at the provider meanwhile.
			clock.advance(REFUSED_CLIENT_PAUSE_MS);
			await cache.getToken(config(endpoint.url), context).catch(() => undefined);
			assert.equal(endpoint.requests.length, 2);
			// A credential fixed in n8n is another configuration: asked at once.
			clock.advance(1000);
			await cache.getToken(config(endpoint.url, { clientSecret: 'the-fixed-secret' }), context).catch(() => undefined);
			assert.equal(endpoint.requests.length, 3);
		});
	}

	it('a refresh grant whose answer was lost (cut connection, deadline) is not sent again, by this caller or the next: the server may have consumed the refresh token', async () => {
		for (const answer of [{ drop: true }, { delayMs: 400 }]) {
			const endpoint = await server([answer, tokenAnswer(1)]);
			const clock = new FakeClock();
			const cache = new TokenCache({ clock, tokenTimeoutMs: 200 });
			const cfg = config(endpoint.url, { refreshToken: 'refresh-0' });
			await assert.rejects(cache.getToken(cfg, context), (error: unknown) => {
				assert.ok(error instanceof OAuth2AuthenticationError);
				assert.equal(error.retryable, false);
				assert.match(error.message, /not sent again, since the server may have used it already/);
				assert.match(error.hint ?? '', /invalid_grant.*fresh refresh token/);
				return true;
			});
			assert.deepEqual(clock.sleeps, []);
			// The next items (Continue On Fail) and executions do not send it either, for the pause.
			for (let item = 0; item < 5; item++) {
				await assert.rejects(cache.getToken(cfg, context), /is not sent for another 60 s: its last refresh got no answer/);
			}
			assert.equal(endpoint.requests.length, 1, JSON.stringify(answer));
			// After it, one grant sends it once more (a server that does not rotate accepts it).
			clock.advance(LOST_REFRESH_PAUSE_MS);
			assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-1');
			assert.deepEqual(endpoint.requests.map((request) => request.form.refresh_token), ['refresh-0', 'refresh-0']);
		}
		// The same cut connection in a client-credentials grant is retried: nothing is consumed there.
		const endpoint = await server([{ drop: true }]);
		const clock = new FakeClock();
		assert.equal((await new TokenCache({ clock }).getToken(config(endpoint.url), context)).accessToken, 'access-token-1');
	});

	it('where the server was seen to rotate, a lost refresh grant spends the token for good: nothing more is sent until the credential holds another', async () => {
		const endpoint = await server([tokenAnswer(0, { refresh_token: 'refresh-1' }), { drop: true }, tokenAnswer(2, { refresh_token: 'fresh-1' })]);
		const clock = new FakeClock();
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url, { refreshToken: 'refresh-0' });
		await cache.getToken(cfg, context);
		clock.advance(HOUR_MS);
		await assert.rejects(cache.getToken(cfg, context), /not sent again/);
		clock.advance(10 * HOUR_MS);
		await assert.rejects(cache.getToken(cfg, context), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			assert.match(error.message, /rotates refresh tokens, so it may have used this one already/);
			assert.match(error.hint ?? '', /Put a fresh refresh token in the credential/);
			return true;
		});
		assert.deepEqual(endpoint.requests.map((request) => request.form.refresh_token), ['refresh-0', 'refresh-1']);
		// A fresh refresh token in the credential is another family: it goes at once.
		assert.equal((await cache.getToken(config(endpoint.url, { refreshToken: 'fresh-0' }), context)).accessToken, 'access-token-2');
	});

	it('a refresh grant whose connection never opened is retried: the server cannot have seen it', async () => {
		const closed = await server([]);
		const url = closed.url;
		await closed.close();
		const clock = new FakeClock();
		const cache = new TokenCache({ clock });
		await assert.rejects(cache.getToken(config(url, { refreshToken: 'refresh-0' }), context), /ECONNREFUSED|connection refused/);
		assert.equal(cache.tokenRequestCount, 4);
	});

	it('a configuration holding the same refresh token as another client (another or a wrong secret) is never handed its rotated token', async () => {
		const endpoint = await server((request, index) =>
			request.form.client_secret === 'cache-secret-123'
				? tokenAnswer(index, { refresh_token: `refresh-${index + 1}` })
				: { status: 401, body: { error: 'invalid_client' } },
		);
		const cache = new TokenCache({ clock: new FakeClock() });
		await cache.getToken(config(endpoint.url, { refreshToken: 'refresh-0' }), context);
		await cache.getToken(config(endpoint.url, { refreshToken: 'refresh-0', clientSecret: 'a-wrong-secret' }), context).catch(() => undefined);
		await cache.getToken(config(endpoint.url, { refreshToken: 'refresh-0', clientSecret: '' }), context).catch(() => undefined);
		assert.deepEqual(
			endpoint.requests.map((request) => request.form.refresh_token),
			['refresh-0', 'refresh-0', 'refresh-0'],
		);
	});

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
		assert.equal(cache.invalidate(cfg, first.accessToken), 'dropped');
		const second = await cache.getToken(cfg, context);
		assert.equal(cache.invalidate(cfg, first.accessToken), 'replaced', 'a late 401 for the old token: replay with the new one');
		assert.equal((await cache.getToken(cfg, context)).accessToken, second.accessToken, 'and the new one is kept');
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
		const cfg = (i: number) => config(endpoint.url, { clientId: `client-${i}` });
		for (let i = 0; i < 4; i++) await cache.getToken(cfg(i), context);
		await cache.getToken(cfg(1), context); // client-1 used again: client-0 and client-2 are now the oldest
		await cache.getToken(cfg(4), context);
		assert.equal(cache.size, 3);
		assert.equal(endpoint.requests.length, 5);
		await cache.getToken(cfg(1), context);
		await cache.getToken(cfg(4), context);
		assert.equal(endpoint.requests.length, 5, 'the recently used ones are still cached');
		await cache.getToken(cfg(0), context);
		assert.equal(endpoint.requests.length, 6, 'the least recently used one was dropped');
		assert.equal(cache.size, 3);
	});

	it('a rotated refresh token survives LRU eviction (replaying a rotated one revokes the family at Auth0, Okta, Keycloak) and is logged', async () => {
		const clock = new FakeClock();
		let current = 'refresh-0';
		const endpoint = await server((request, index) => {
			if (request.form.grant_type === 'client_credentials') return tokenAnswer(index);
			if (request.form.refresh_token !== current) return { status: 400, body: { error: 'invalid_grant', error_description: 'reused' } };
			current = `refresh-${index + 1}`;
			return tokenAnswer(index, { refresh_token: current });
		});
		const warnings: string[] = [];
		const cache = new TokenCache({ clock, maxEntries: 1, logger: { warn: (message) => warnings.push(message) } });
		const rotating = config(endpoint.url, { refreshToken: 'refresh-0' });
		await cache.getToken(rotating, context);
		await cache.getToken(config(endpoint.url, { clientId: 'someone-else' }), context); // evicts the rotating entry
		assert.equal(cache.size, 1);
		clock.advance(HOUR_MS);
		await cache.getToken(rotating, context);
		assert.deepEqual(
			endpoint.requests.filter((request) => request.form.grant_type === 'refresh_token').map((request) => request.form.refresh_token),
			['refresh-0', 'refresh-1'],
		);
		assert.equal(warnings.length, 2);
		assert.match(warnings[0], /rotated its refresh token.*this process only/s);
		assert.doesNotMatch(warnings.join(' '), /refresh-\d/);
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

	it('two configurations holding the same refresh token take turns and share its rotation: no token is sent twice', async () => {
		let current = 'refresh-0';
		const endpoint = await server((request, index) => {
			if (request.form.refresh_token !== current) return { status: 400, body: { error: 'invalid_grant', error_description: 'reused' } };
			current = `refresh-${index + 1}`;
			return { ...tokenAnswer(index, { refresh_token: current }), delayMs: 30 };
		});
		const cache = new TokenCache({ clock: new FakeClock() });
		const [a, b] = await Promise.all([
			cache.getToken(config(endpoint.url, { refreshToken: 'refresh-0', scope: 'a' }), context),
			cache.getToken(config(endpoint.url, { refreshToken: 'refresh-0', scope: 'b' }), context),
		]);
		assert.notEqual(a.accessToken, b.accessToken);
		assert.deepEqual(endpoint.requests.map((request) => request.form.refresh_token), ['refresh-0', 'refresh-1']);
	});

	it('a failed background refresh keeps the old token in use and tries again 3 s after its retries are spent', async () => {
		const clock = new FakeClock();
		// The background refresh: 4 attempts (3 retries), all 503.
		const endpoint = await server([tokenAnswer(0), { status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }]);
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		await cache.getToken(cfg, context);
		clock.advance(56 * 60_000);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0');
		await cache.settled(cfg);
		assert.equal(endpoint.requests.length, 5);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0');
		await cache.settled(cfg);
		assert.equal(endpoint.requests.length, 5, 'no second try within the 3 s pause');
		clock.advance(BACKGROUND_RETRY_INTERVAL_MS);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0');
		await cache.settled(cfg);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-5');
	});

	it('a caller that needs a token while a background refresh is in its backoff joins it instead of starting a second cycle', async () => {
		const clock = new FakeClock();
		const endpoint = await server([tokenAnswer(0), { status: 503 }, { status: 503 }]);
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		await cache.getToken(cfg, context);
		clock.holdSleeps = true;
		clock.advance(58 * 60_000);
		await cache.getToken(cfg, context); // starts the background refresh; its first attempt fails
		while (clock.heldSleeps === 0) await settle(5);
		clock.advance(2 * 60_000); // the old token is no longer usable while that refresh backs off
		const waiting = cache.getToken(cfg, context);
		clock.holdSleeps = false;
		clock.releaseSleeps();
		assert.equal((await waiting).accessToken, 'access-token-3');
		assert.equal(endpoint.requests.length, 4, 'one retry cycle for everyone');
	});

	it('callers that arrive while a fetch is in flight share its failure: 4 requests, not 8', async () => {
		const clock = new FakeClock();
		clock.holdSleeps = true;
		const endpoint = await server(() => ({ status: 503 }));
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		const first = cache.getToken(cfg, context);
		while (clock.heldSleeps === 0) await settle(5); // first attempt failed; the fetch backs off
		const second = cache.getToken(cfg, context);
		clock.holdSleeps = false;
		clock.releaseSleeps();
		const [a, b] = await Promise.allSettled([first, second]);
		assert.equal(a.status, 'rejected');
		assert.equal(b.status, 'rejected');
		assert.equal((a as PromiseRejectedResult).reason, (b as PromiseRejectedResult).reason, 'the same outcome');
		assert.equal(endpoint.requests.length, 4);
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

	it('a caller cancelled during the shared request stops waiting at once; the other caller still gets the token', async () => {
		const endpoint = await server(() => ({ ...tokenAnswer(0), delayMs: 300 }));
		const cache = new TokenCache({ clock: new FakeClock() });
		const cfg = config(endpoint.url);
		const controller = new AbortController();
		const cancelled = cache.getToken(cfg, { ...context, signal: controller.signal });
		const other = cache.getToken(cfg, context);
		while (endpoint.requests.length === 0) await settle(5); // the shared request is on the wire
		controller.abort();
		let cancelledSettledFirst = false;
		await assert.rejects(
			cancelled.finally(() => (cancelledSettledFirst = true)),
			(error: unknown) => error instanceof AbortedError,
		);
		const token = await other;
		assert.equal(cancelledSettledFirst, true);
		assert.equal(token.accessToken, 'access-token-0', 'one execution\'s cancel does not fail another');
		assert.equal(endpoint.requests.length, 1);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-0', 'and the token was cached');
	});

	it('a caller cancelled while the shared fetch backs off stops waiting; the fetch goes on for the rest', async () => {
		const clock = new FakeClock();
		clock.holdSleeps = true;
		const endpoint = await server([{ status: 503 }]);
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		const controller = new AbortController();
		const cancelled = cache.getToken(cfg, { ...context, signal: controller.signal });
		while (clock.heldSleeps === 0) await settle(5); // it reached the backoff
		controller.abort();
		await assert.rejects(cancelled, (error: unknown) => error instanceof AbortedError);
		assert.equal(endpoint.requests.length, 1);
		const other = cache.getToken(cfg, context);
		clock.holdSleeps = false;
		clock.releaseSleeps();
		assert.equal((await other).accessToken, 'access-token-1');
		assert.equal(endpoint.requests.length, 2);
	});

	it('schedules by the monotonic clock: a wall-clock jump back does not keep an expired token in use', async () => {
		const clock = new FakeClock();
		const endpoint = await server([]);
		const cache = new TokenCache({ clock });
		const cfg = config(endpoint.url);
		await cache.getToken(cfg, context);
		clock.advance(HOUR_MS - 30_000);
		clock.jumpWallClock(-2 * HOUR_MS);
		assert.equal((await cache.getToken(cfg, context)).accessToken, 'access-token-1');
	});

	it('the system clock is monotonic: it does not follow Date.now', () => {
		const realNow = Date.now;
		try {
			const before = systemClock.nowMs();
			Date.now = () => realNow() - 10 * HOUR_MS;
			const after = systemClock.nowMs();
			assert.ok(after >= before && after - before < 60_000, `${after} vs ${before}`);
			assert.ok(Math.abs(systemClock.wallNowMs() - (realNow() - 10 * HOUR_MS)) < 60_000, 'the wall clock does');
		} finally {
			Date.now = realNow;
		}
	});
});
