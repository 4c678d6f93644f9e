/**
 * Issue 20: token state shared by the processes of an n8n cluster, on a real redis-server (Debian's,
 * on 127.0.0.1). Each "process" here is a TokenCache with its own Redis connection, as each n8n worker
 * has; they share one fake clock for token lifetimes, while leases live in Redis's real time (short
 * here). The queue-mode e2e test proves the same with real n8n workers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import IORedis from 'ioredis';

import { ClusterRenewalError, TokenCache, type TokenCacheLogger } from '../nodes/shared/auth/token-cache';
import { parseProviderConfig, type TokenEndpointConfig } from '../nodes/shared/config/provider-config';
import { ClusterTokenState, type ClusterOptions, type RedisCommands } from '../nodes/shared/state/cluster-tokens';
import { clusterByEnvironment, tokenStateFromN8n } from '../nodes/shared/state/n8n-token-state';
import { clusterNodesOf, connectRedis, keyPrefix, redisOptions, type IoRedis } from '../nodes/shared/state/redis-client';
import { RefreshTokenFile } from '../nodes/shared/state/refresh-file';
import { deriveSealKeys } from '../nodes/shared/state/sealed';
import { freePort } from './harness/n8n';
import { startRedis, type Redis } from './harness/services';
import { FakeClock } from './helpers/fake-clock';
import { startRotatingProvider, type RotatingProvider } from './helpers/rotating-provider';

const CLIENT = { clientId: 'cluster-client', clientSecret: `ClusterSecret${randomBytes(8).toString('hex')}` };
const TTL_S = 60;
const BUFFER_S = 10;
/**
 * Short leases in real time: the paused-holder cases take a second or two, not ten. Long enough that a
 * loaded machine (a CI runner, 2 cores) never loses a lease or a Redis answer by accident.
 */
const LEASE_TTL_MS = 1000;
const FAST: ClusterOptions = { leaseTtlMs: LEASE_TTL_MS, leaseWaitMs: 5000, commandTimeoutMs: 1000, outageRetryMs: 300 };
/** One token request's deadline here; before each attempt the lease is made to last twice that. */
const TOKEN_TIMEOUT_MS = 700;
/** Longer than a lease and than an attempt's hold: a holder paused this long has lost it. */
const PAST_THE_LEASE_MS = Math.max(LEASE_TTL_MS, 2 * TOKEN_TIMEOUT_MS) + 500;
const ENCRYPTION_KEY = randomBytes(24).toString('base64');

let redis: Redis;
let provider: RotatingProvider;
const clients: IORedis[] = [];

function connection(): IORedis {
	const client = new IORedis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 100 });
	client.on('error', () => undefined);
	clients.push(client);
	return client;
}

async function ready(client: IORedis): Promise<void> {
	if (client.status !== 'ready') await new Promise<void>((resolve) => client.once('ready', () => resolve()));
}

class Warnings implements TokenCacheLogger {
	readonly messages: string[] = [];
	warn(message: string): void {
		this.messages.push(message);
	}
}

interface Process {
	cache: TokenCache;
	cluster: ClusterTokenState;
	logger: Warnings;
}

/** One n8n process of the cluster: its own cache and Redis connection, the cluster's prefix and key. */
async function processOf(clock: FakeClock, prefix: string, options: { redis?: RedisCommands; key?: string; cluster?: ClusterOptions } = {}): Promise<Process> {
	const client = connection();
	await ready(client);
	const cluster = new ClusterTokenState(options.redis ?? (client as unknown as RedisCommands), deriveSealKeys(options.key ?? ENCRYPTION_KEY), prefix, options.cluster ?? FAST);
	const logger = new Warnings();
	const cache = new TokenCache({ clock, logger, tokenTimeoutMs: TOKEN_TIMEOUT_MS, tokenState: () => ({ kind: 'cluster', cluster }) });
	return { cache, cluster, logger };
}

/**
 * A Redis connection whose scripts go through `onEval` first (the lease's renewal, its check, the commit):
 * a process that cannot renew its lease as a stopped one cannot, that pauses, or that loses Redis mid-way.
 */
async function intercepted(onEval: (script: string, send: () => Promise<unknown>) => Promise<unknown>): Promise<RedisCommands> {
	const client = connection();
	await ready(client);
	return {
		mget: (...keys) => client.mget(...keys),
		set: (key, value, px, ttlMs, nx) => client.set(key, value, px, ttlMs, nx),
		eval: async (script, count, ...args) => await onEval(script, () => client.eval(script, count, ...args)),
	};
}

/** The lease's keep-alive (which a stopped process cannot send), not the hold before an attempt. */
const isKeepAlive = (script: string) => script.includes('PEXPIRE') && !script.includes('-- hold');

/** A fresh provider count, clock and prefix, and a configuration (with a new refresh token family when asked). */
function scene(options: { refresh?: boolean } = {}) {
	provider.reset();
	const seed = options.refresh ? provider.newFamily() : undefined;
	return { clock: new FakeClock(), prefix: prefixOf(), seed, cfg: config(seed ? { refreshToken: seed } : {}) };
}

const config = (fields: Record<string, unknown> = {}): TokenEndpointConfig =>
	parseProviderConfig({ baseUrl: provider.baseUrl, tokenUrl: provider.tokenUrl, ...CLIENT, expiryBufferSeconds: BUFFER_S, ...fields }).tokenEndpoint;
const context = { providerName: 'Cluster LLM' };
const prefixOf = () => `test${randomBytes(4).toString('hex')}`;

async function everything(prefix: string): Promise<string> {
	const keys = (await redis.cli('--scan', '--pattern', `${prefix}:*`)).split('\n').filter(Boolean);
	const values = await Promise.all(keys.map(async (key) => await redis.cli('GET', key)));
	return [...keys, ...values].join('\n');
}

describe('tokens shared across the processes of an n8n cluster (real Redis)', () => {
	before(async () => {
		redis = await startRedis();
		provider = await startRotatingProvider({ ...CLIENT, tokenTtlSeconds: TTL_S, reuseGraceMs: 0 });
	});
	after(async () => {
		for (const client of clients) client.disconnect();
		await provider?.close();
		await redis?.stop();
	});

	it('client credentials: the second process adopts the first one\'s token, and over 20 lifetimes 3 processes ask the provider once per lifetime', async () => {
		provider.reset();
		const clock = new FakeClock();
		const prefix = prefixOf();
		const processes = [await processOf(clock, prefix), await processOf(clock, prefix), await processOf(clock, prefix)];
		const cfg = config();
		const first = await processes[0].cache.getToken(cfg, context);
		assert.equal((await processes[1].cache.getToken(cfg, context)).accessToken, first.accessToken, 'adopted from Redis');
		assert.equal(provider.stats.tokenRequests, 1);
		// Every process asks every 5 s (in token time) for 20 lifetimes, all at once.
		const lifetimes = 20;
		for (let t = 0; t < lifetimes * TTL_S; t += 5) {
			clock.advance(5000);
			await Promise.all(processes.map(async ({ cache }) => await cache.getToken(cfg, context)));
			await Promise.all(processes.map(async ({ cache }) => await cache.settled(cfg)));
		}
		// One process alone renews at 3/4 of the usable life (TTL - buffer) at the earliest: the single-process bound.
		const renewalS = 0.75 * (TTL_S - BUFFER_S);
		const bound = Math.ceil((lifetimes * TTL_S) / renewalS) + 1;
		assert.ok(provider.stats.tokenRequests <= bound, `${provider.stats.tokenRequests} token requests for 3 processes, single-process bound ${bound}`);
		assert.ok(provider.stats.tokenRequests >= lifetimes, 'tokens were renewed (the test exercised renewals)');
		assert.deepEqual(processes.flatMap((p) => p.logger.messages), []);
	});

	it('a rotating refresh token: processes take turns under the lease, each sends the newest, none is reused; after a "restart" (new processes) the newest in Redis still wins', async () => {
		const { clock, prefix, cfg } = scene({ refresh: true });
		let processes = [await processOf(clock, prefix), await processOf(clock, prefix)];
		for (let round = 0; round < 12; round++) {
			clock.advance(TTL_S * 1000); // every token has expired: all must renew
			await Promise.all(processes.map(async ({ cache }) => await cache.getToken(cfg, context)));
			if (round === 5) processes = [await processOf(clock, prefix), await processOf(clock, prefix)]; // restart
		}
		assert.equal(provider.stats.invalidGrant, 0, 'no invalid_grant');
		assert.equal(provider.stats.reuseDetected, 0);
		assert.equal(provider.stats.refreshGrants, 12, 'one grant per round for the whole cluster');
		const stored = await everything(prefix);
		for (const secret of [...provider.issued, CLIENT.clientSecret]) assert.ok(!stored.includes(secret), 'no token or secret in Redis, in clear');
		assert.match(stored, new RegExp(`^${prefix}:oauth2-llm:(token|family|lease):[A-Za-z0-9_-]{43}$`, 'm'));
		// A new refresh token in the credential is a new family: the one in Redis is not sent for it.
		const otherSeed = provider.newFamily();
		await processes[0].cache.getToken(config({ refreshToken: otherSeed }), context);
		assert.equal(provider.stats.invalidGrant, 0);
		assert.equal(provider.currentRefreshToken(otherSeed) !== otherSeed, true, 'the new seed was sent and rotated');
	});

	it('a value that does not open (tampered, or sealed with another n8n encryption key) is a miss, never an error', async () => {
		const { clock, prefix, cfg } = scene();
		const [a] = [await processOf(clock, prefix)];
		await a.cache.getToken(cfg, context);
		const key = (await redis.cli('--scan', '--pattern', `${prefix}:oauth2-llm:token:*`)).trim();
		const [generation, expiresAtWallMs, sealed] = (await redis.cli('GET', key)).trim().split(' ');
		const flipped = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
		// One millisecond earlier: b's own token, which lives longer, replaces it.
		await redis.cli('SET', key, `${generation} ${Number(expiresAtWallMs) - 1} ${flipped}`);
		const b = await processOf(clock, prefix);
		const token = await b.cache.getToken(cfg, context);
		assert.equal(provider.stats.tokenRequests, 2, 'the tampered entry was a miss: b got a token of its own');
		const c = await processOf(clock, prefix);
		assert.equal((await c.cache.getToken(cfg, context)).accessToken, token.accessToken, 'and published it over the tampered one');
		const stranger = await processOf(clock, prefix, { key: randomBytes(24).toString('base64') });
		await stranger.cache.getToken(cfg, context);
		assert.equal(provider.stats.tokenRequests, 3, 'another encryption key opens nothing');
		assert.deepEqual([...b.logger.messages, ...c.logger.messages, ...stranger.logger.messages], []);
	});

	it('a holder whose lease ran out while it was paused: it does not send the refresh token when it resumes before sending, and its late commit is refused after one; the newer refresh token stands', async () => {
		const { clock, prefix, cfg } = scene({ refresh: true });
		// A holder that cannot renew its lease (as a stopped process cannot), paused where the test says.
		let pauseBeforeSendMs = 0;
		let commitGate: Promise<void> | undefined;
		const paused = await intercepted(async (script, send) => {
			if (isKeepAlive(script)) throw new Error('stopped');
			if (script.includes('-- hold')) await new Promise((resolve) => setTimeout(resolve, pauseBeforeSendMs));
			if (script.includes('#KEYS') && commitGate) await commitGate;
			return await send();
		});
		const late = await processOf(clock, prefix, { redis: paused, cluster: { ...FAST, commandTimeoutMs: PAST_THE_LEASE_MS + 1000 } });
		const other = await processOf(clock, prefix);

		// 1. Paused between taking the lease and sending, past the lease: it sends nothing, with a retryable error.
		pauseBeforeSendMs = PAST_THE_LEASE_MS;
		await assert.rejects(late.cache.getToken(cfg, context), (error: unknown) => error instanceof ClusterRenewalError && error.retryable && /lost the lease/.test(error.message));
		assert.equal(provider.stats.tokenRequests, 0, 'the paused holder sent no refresh token');
		pauseBeforeSendMs = 0;
		await other.cache.getToken(cfg, context);
		assert.equal(provider.stats.refreshGrants, 1);

		// 2. Paused between the answer and the commit, past the lease. The provider allows a retired refresh token
		// for a moment (Okta's grace period, Auth0's reuse interval), so the other process's grant, which sends
		// the token the paused one sent too, succeeds: the late commit must not overwrite what it got.
		clock.advance(TTL_S * 1000);
		let openGate!: () => void;
		commitGate = new Promise<void>((resolve) => (openGate = resolve));
		provider.setReuseGraceMs(60_000);
		try {
			const lateRenewal = late.cache.getToken(cfg, context);
			await waitFor(() => provider.stats.refreshGrants === 2);
			await new Promise((resolve) => setTimeout(resolve, PAST_THE_LEASE_MS)); // the late holder's lease ends
			await other.cache.getToken(cfg, context);
			assert.equal(provider.stats.refreshGrants, 3, 'the other process renewed after the lease ended');
			openGate(); // the late holder resumes: its commit reaches Redis
			await lateRenewal; // handed over after the commit's first try; what follows a refusal runs on
			await waitFor(() => late.logger.messages.some((message) => /while this one was late/.test(message)));
		} finally {
			openGate();
			provider.setReuseGraceMs(0);
		}
		assert.match(late.logger.messages.join('\n'), /another n8n process renewed the token of Cluster LLM while this one was late/);

		// 3. Strict again: the refresh token in Redis is the other process's, which the provider holds as current.
		// Had the late commit overwritten it, this grant would send a retired token: reuse, and the family revoked.
		clock.advance(TTL_S * 1000);
		await late.cache.getToken(cfg, context);
		await other.cache.getToken(cfg, context);
		assert.equal(provider.stats.refreshGrants, 4, 'one grant, the other process adopted its token');
		assert.equal(provider.stats.invalidGrant, 0, 'the newer refresh token stood');
	});

	it('Redis paused: client credentials go on alone with one warning per outage, then sharing resumes; a refresh token is not sent without the lease', async () => {
		const { clock, prefix, cfg } = scene();
		const a = await processOf(clock, prefix);
		const b = await processOf(clock, prefix);
		await a.cache.getToken(cfg, context);
		const seed = provider.newFamily();
		const refreshCfg = config({ refreshToken: seed });
		await a.cache.getToken(refreshCfg, context);
		provider.reset();
		redis.pause();
		try {
			clock.advance(TTL_S * 1000);
			await a.cache.getToken(cfg, context);
			clock.advance(TTL_S * 1000);
			await a.cache.getToken(cfg, context);
			assert.equal(provider.stats.clientCredentialsGrants, 2, 'each renewal went to the provider directly');
			const outage = a.logger.messages.filter((message) => /Redis is unavailable/.test(message));
			assert.equal(outage.length, 1, a.logger.messages.join('\n'));
			await assert.rejects(a.cache.getToken(refreshCfg, context), (error: unknown) => error instanceof ClusterRenewalError && error.retryable && /Redis is unavailable/.test(error.message));
			assert.equal(provider.stats.refreshGrants, 0, 'no refresh token sent without the cluster');
		} finally {
			redis.resume();
		}
		await new Promise((resolve) => setTimeout(resolve, FAST.outageRetryMs! + 100));
		clock.advance(TTL_S * 1000);
		const shared = await a.cache.getToken(cfg, context);
		assert.match(a.logger.messages.join('\n'), /answers again; tokens are shared across the cluster again/);
		assert.equal((await b.cache.getToken(cfg, context)).accessToken, shared.accessToken, 'b adopts a\'s token again');
		await a.cache.getToken(refreshCfg, context);
		assert.equal(provider.stats.invalidGrant, 0);
	});

	it('a 401: the rejected token is never taken back from Redis; the new one replaces it there, so the other process takes that one', async () => {
		const { clock, prefix, cfg } = scene();
		const a = await processOf(clock, prefix);
		const b = await processOf(clock, prefix);
		const rejected = await a.cache.getToken(cfg, context);
		assert.equal((await b.cache.getToken(cfg, context)).accessToken, rejected.accessToken);
		assert.equal(b.cache.invalidate(cfg, rejected.accessToken), 'dropped');
		const renewed = await b.cache.getToken(cfg, context);
		assert.notEqual(renewed.accessToken, rejected.accessToken, 'b did not take the rejected token back');
		assert.equal(a.cache.invalidate(cfg, rejected.accessToken), 'dropped');
		assert.equal((await a.cache.getToken(cfg, context)).accessToken, renewed.accessToken, 'a took b\'s new token');
		assert.equal(provider.stats.tokenRequests, 2);
	});

	it('Redis fails right after the provider rotated: the new refresh token is published once Redis answers (within the lease), or else sent by this process next; never the retired one', async () => {
		const { clock, prefix, cfg } = scene({ refresh: true });
		let failCommits = 0;
		const flaky = await intercepted(async (script, send) => {
			if (script.includes('#KEYS') && failCommits-- > 0) throw Object.assign(new Error('connection lost'), { code: 'ECONNRESET' });
			return await send();
		});
		const a = await processOf(clock, prefix, { redis: flaky, cluster: { ...FAST, leaseTtlMs: 2000 } });
		const b = await processOf(clock, prefix);
		// 1. Two failed commits, then Redis answers again while a still holds its lease: published.
		failCommits = 2;
		await a.cache.getToken(cfg, context);
		await a.cache.settled(cfg);
		clock.advance(TTL_S * 1000);
		await b.cache.getToken(cfg, context);
		assert.equal(provider.stats.invalidGrant, 0, 'b sent the token a got, not the retired one');
		// 2. Redis does not take it for as long as the lease may last: a keeps it and sends it next.
		failCommits = 1000;
		clock.advance(TTL_S * 1000);
		await a.cache.getToken(cfg, context);
		await waitFor(() => a.logger.messages.some((message) => /did not take the new one; this process keeps it and sends it next/.test(message)), 5000);
		failCommits = 0;
		await new Promise((resolve) => setTimeout(resolve, FAST.outageRetryMs! + 100)); // a tries Redis again
		clock.advance(TTL_S * 1000);
		await a.cache.getToken(cfg, context);
		assert.equal(provider.stats.refreshGrants, 4);
		assert.equal(provider.stats.invalidGrant, 0, 'a sent its unpublished token, and published it');
		clock.advance(TTL_S * 1000);
		await b.cache.getToken(cfg, context);
		assert.equal(provider.stats.invalidGrant, 0, 'b then sent the published one');
	});

	it('the access-token entry expiring from Redis during a renewal refuses nothing: the rotated refresh token is committed', async () => {
		const { clock, prefix, cfg } = scene({ refresh: true });
		const a = await processOf(clock, prefix);
		const b = await processOf(clock, prefix);
		await a.cache.getToken(cfg, context);
		clock.advance(TTL_S * 1000);
		let held = false;
		provider.holdTokenAnswers(1, () => (held = true));
		const renewal = a.cache.getToken(cfg, context);
		await waitFor(() => held);
		const tokenKey = (await redis.cli('--scan', '--pattern', `${prefix}:oauth2-llm:token:*`)).trim();
		await redis.cli('DEL', tokenKey);
		provider.releaseHeld();
		await renewal;
		await a.cache.settled(cfg);
		assert.deepEqual(a.logger.messages, [], 'no refusal, no warning');
		clock.advance(TTL_S * 1000);
		await b.cache.getToken(cfg, context);
		assert.equal(provider.stats.invalidGrant, 0);
	});

	it('a refresh whose answer was lost marks the family in Redis: no other process sends that token', async () => {
		const { clock, prefix, cfg } = scene({ refresh: true });
		const a = await processOf(clock, prefix);
		const b = await processOf(clock, prefix);
		await a.cache.getToken(cfg, context); // the provider rotates: the family is known to rotate
		clock.advance(TTL_S * 1000);
		provider.injectTokenFaults({ lostAnswer: true });
		await assert.rejects(a.cache.getToken(cfg, context), (error: unknown) => (error as { refreshTokenMayBeSpent?: boolean }).refreshTokenMayBeSpent === true);
		const sent = provider.stats.tokenRequests;
		await assert.rejects(b.cache.getToken(cfg, context), /is not sent again: its last refresh got no answer/);
		assert.equal(provider.stats.tokenRequests, sent, 'b sent nothing');
		assert.equal(provider.stats.invalidGrant, 0);
	});

	it('a holder paused past its lease with its refresh at the provider: its answer counts as lost, its mark is refused (the family moved on), and it goes on from the newest token', async () => {
		const { clock, prefix, cfg } = scene({ refresh: true });
		let commitGate: Promise<void> | undefined;
		const paused = await intercepted(async (script, send) => {
			if (isKeepAlive(script)) throw new Error('stopped');
			if (script.includes('#KEYS') && commitGate) await commitGate;
			return await send();
		});
		const late = await processOf(clock, prefix, { redis: paused, cluster: { ...FAST, commandTimeoutMs: 3 * PAST_THE_LEASE_MS } });
		const other = await processOf(clock, prefix);
		await other.cache.getToken(cfg, context); // the family rotates once: it is known to rotate
		clock.advance(TTL_S * 1000);
		let openGate!: () => void;
		commitGate = new Promise<void>((resolve) => (openGate = resolve));
		let held = false;
		provider.holdTokenAnswers(1, () => (held = true));
		const lost = late.cache.getToken(cfg, context);
		lost.catch(() => undefined);
		try {
			await waitFor(() => held);
			// Its request times out (700 ms), its mark waits at the gate, its lease ends.
			await new Promise((resolve) => setTimeout(resolve, TOKEN_TIMEOUT_MS + PAST_THE_LEASE_MS));
			await other.cache.getToken(cfg, context);
			assert.equal(provider.stats.refreshGrants, 2, 'the other process renewed');
		} finally {
			openGate();
			provider.dropHeld(); // the provider never processed the late one's request
		}
		await assert.rejects(lost, /no complete answer within 700 ms/);
		// Past the other's token's usable life (50 s), within the 60 s a lost answer would pause the family alone.
		clock.advance(55_000);
		await late.cache.getToken(cfg, context);
		assert.equal(provider.stats.refreshGrants, 3, 'the late process refreshed again, with the newest token');
		assert.equal(provider.stats.invalidGrant, 0);
	});

	it('a refresh retried after a 503 asks for the lease again first: a holder that lost it meanwhile (paused between attempts) does not send again', async () => {
		const { clock, prefix, cfg } = scene({ refresh: true });
		let holds = 0;
		const pausedBetweenAttempts = await intercepted(async (script, send) => {
			if (isKeepAlive(script)) throw new Error('stopped');
			if (script.includes('-- hold') && ++holds === 2) await new Promise((resolve) => setTimeout(resolve, PAST_THE_LEASE_MS));
			return await send();
		});
		const a = await processOf(clock, prefix, { redis: pausedBetweenAttempts, cluster: { ...FAST, commandTimeoutMs: PAST_THE_LEASE_MS + 1000 } });
		provider.injectTokenFaults({ status: 503 });
		await assert.rejects(a.cache.getToken(cfg, context), (error: unknown) => error instanceof ClusterRenewalError && /lost the lease/.test(error.message));
		assert.equal(holds, 2, 'the lease was asked for before each attempt');
		assert.equal(provider.stats.tokenRequests, 1, 'the retry was not sent');
	});

	it("n8n's Redis settings become ioredis options as n8n's own client builds them (TLS, failover, keep-alive, cluster), and the client fails fast before it ever connected", async () => {
		const settings241 = {
			host: 'redis.internal', port: 6380, db: 2, username: 'n8n', password: 'pw', tls: true, tlsConfig: { serverName: 'redis.example', rejectUnauthorized: false },
			dualStack: true, keepAlive: true, keepAliveDelay: 5000, keepAliveInterval: 1000, reconnectOnFailover: true,
			clusterNodes: ' a:7000, b:7001 ', slotsRefreshTimeout: 1000, slotsRefreshInterval: 5000, dnsResolveStrategy: 'NONE',
		};
		const { node, cluster } = redisOptions(settings241);
		assert.deepEqual({ ...node, retryStrategy: undefined, reconnectOnError: undefined }, {
			username: 'n8n', password: 'pw', db: 2, connectTimeout: 2000, commandTimeout: 1000, enableOfflineQueue: false, maxRetriesPerRequest: 0, enableReadyCheck: false,
			retryStrategy: undefined, family: 0, tls: { servername: 'redis.example', rejectUnauthorized: false }, keepAlive: 5000, keepAliveInterval: 1000, reconnectOnError: undefined,
		});
		assert.equal((node.reconnectOnError as (error: Error) => unknown)(new Error("READONLY You can't write against a read only replica.")), 2);
		assert.equal((node.reconnectOnError as (error: Error) => unknown)(new Error('ERR other')), false);
		assert.equal(cluster.slotsRefreshTimeout, 1000);
		assert.equal(typeof cluster.dnsLookup, 'function');
		assert.deepEqual(clusterNodesOf(settings241), [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }]);
		// n8n 1.123: no tlsConfig (verification stays on), no keep-alive or cluster tuning.
		const old = redisOptions({ host: 'localhost', port: 6379, db: 0, tls: true, reconnectOnFailover: false }).node;
		assert.deepEqual(old.tls, { servername: undefined, rejectUnauthorized: true });
		assert.equal(old.reconnectOnError, undefined);
		assert.equal(keyPrefix('n8n', false), 'n8n');
		assert.equal(keyPrefix('n8n', true), '{n8n}');
		assert.equal(keyPrefix('{n8n}', true), '{n8n}');

		const live = connectRedis(IORedis as unknown as IoRedis, { host: '127.0.0.1', port: redis.port, db: 0 });
		const dead = connectRedis(IORedis as unknown as IoRedis, { host: '127.0.0.1', port: await freePort(), db: 0 });
		try {
			assert.deepEqual(await live.mget('nothing-here'), [null]);
			const startedMs = Date.now();
			await assert.rejects(dead.set('k', 'v', 'PX', 1000, 'NX'), /not connected/);
			const waitedMs = Date.now() - startedMs;
			assert.ok(waitedMs >= 700 && waitedMs < 2000, `waited ${waitedMs} ms for a first connection (0.8 s), then failed`);
		} finally {
			live.disconnect();
			dead.disconnect();
		}
	});

	it('a provider that does not rotate: a lost answer pauses the family for every process for 60 s, not for good; and in an outage, a process that saw it not rotate refreshes alone', async () => {
		const steady = await startRotatingProvider({ ...CLIENT, tokenTtlSeconds: TTL_S, rotate: false });
		try {
			const clock = new FakeClock();
			const prefix = prefixOf();
			const cfg = parseProviderConfig({ baseUrl: steady.baseUrl, tokenUrl: steady.tokenUrl, ...CLIENT, expiryBufferSeconds: BUFFER_S, refreshToken: steady.newFamily() }).tokenEndpoint;
			const a = await processOf(clock, prefix);
			const b = await processOf(clock, prefix);
			await a.cache.getToken(cfg, context);
			clock.advance(TTL_S * 1000);
			steady.injectTokenFaults({ lostAnswer: true });
			await assert.rejects(a.cache.getToken(cfg, context));
			await assert.rejects(b.cache.getToken(cfg, context), /is not sent for another (59|60) s/);
			clock.advance(61_000);
			await b.cache.getToken(cfg, context);
			assert.equal(steady.stats.invalidGrant, 0);
			// Redis away: b saw this provider not rotate, so it refreshes alone.
			redis.pause();
			try {
				clock.advance(TTL_S * 1000);
				await b.cache.getToken(cfg, context);
			} finally {
				redis.resume();
			}
			assert.equal(steady.stats.refreshGrants, 4);
		} finally {
			await steady.close();
		}
	});

	it('a lease taken by a SET that timed out on a stalled Redis is released when Redis wakes, by the release queued behind it', async () => {
		const prefix = prefixOf();
		const { cluster } = await processOf(new FakeClock(), prefix);
		const names = cluster.names('a stalled renewal');
		redis.pause();
		try {
			await assert.rejects(cluster.withLease(names, async () => 'never'), /no answer to taking the lease/);
		} finally {
			redis.resume();
		}
		await new Promise((resolve) => setTimeout(resolve, 300));
		assert.equal((await redis.cli('EXISTS', names.lease)).trim(), '0', 'no lease left behind');
	});

	it('outside n8n, or with OAUTH2_LLM_SHARED_TOKENS=false, nothing leaves the process; EXECUTIONS_MODE=queue says a cluster is expected', () => {
		assert.deepEqual(tokenStateFromN8n({ OAUTH2_LLM_SHARED_TOKENS: 'false' }), { kind: 'none', why: 'OAUTH2_LLM_SHARED_TOKENS=false' });
		assert.deepEqual(tokenStateFromN8n({}), { kind: 'none', why: 'not running inside n8n', clusterExpected: false });
		assert.equal(clusterByEnvironment({ EXECUTIONS_MODE: 'queue' }), true);
		assert.equal(clusterByEnvironment({ EXECUTIONS_MODE: ' "queue" ' }), true);
		assert.equal(clusterByEnvironment({ EXECUTIONS_MODE: 'regular' }), false);
		assert.equal(clusterByEnvironment({ N8N_MULTI_MAIN_SETUP_ENABLED: 'true' }), false, 'multi-main runs only in queue mode');
	});
});

describe('regular mode: a rotated refresh token kept, sealed, in n8n\'s user folder', () => {
	it('a rotated token that could not be saved is sent next from memory, not the older one in the file', async () => {
		const local = await startRotatingProvider({ ...CLIENT, tokenTtlSeconds: TTL_S });
		const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'refresh-file-'));
		try {
			const file = new FileThatStopsSaving(path.join(folder, 'oauth2-llm-refresh-tokens.json'), deriveSealKeys(ENCRYPTION_KEY));
			const logger = new Warnings();
			const clock = new FakeClock();
			const cache = new TokenCache({ clock, logger, tokenState: () => ({ kind: 'file', file }) });
			const cfg = parseProviderConfig({ baseUrl: local.baseUrl, tokenUrl: local.tokenUrl, ...CLIENT, refreshToken: local.newFamily() }).tokenEndpoint;
			await cache.getToken(cfg, context);
			file.failSaves = true;
			clock.advance(TTL_S * 1000);
			await cache.getToken(cfg, context);
			assert.match(logger.messages.join('\n'), /could not be kept in n8n's user folder \(ENOSPC\)/);
			clock.advance(TTL_S * 1000);
			await cache.getToken(cfg, context);
			assert.equal(local.stats.refreshGrants, 3);
			assert.equal(local.stats.invalidGrant, 0, 'the newest (in memory) was sent, not the file\'s older one');
		} finally {
			await local.close();
			await fs.rm(folder, { recursive: true, force: true });
		}
	});

	it('survives a restart (a new cache and file object); the file holds no token in clear and is private', async () => {
		const local = await startRotatingProvider({ ...CLIENT, tokenTtlSeconds: TTL_S });
		const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'refresh-file-'));
		try {
			const file = path.join(folder, 'oauth2-llm-refresh-tokens.json');
			const seed = local.newFamily();
			const cfg = parseProviderConfig({ baseUrl: local.baseUrl, tokenUrl: local.tokenUrl, ...CLIENT, refreshToken: seed }).tokenEndpoint;
			const clock = new FakeClock();
			const start = () => new TokenCache({ clock, tokenState: () => ({ kind: 'file', file: new RefreshTokenFile(file, deriveSealKeys(ENCRYPTION_KEY)) }) });
			await start().getToken(cfg, context);
			await start().getToken(cfg, context);
			clock.advance(TTL_S * 1000);
			await start().getToken(cfg, context);
			assert.equal(local.stats.refreshGrants, 3);
			assert.equal(local.stats.invalidGrant, 0, 'each start sent the newest refresh token');
			const text = await fs.readFile(file, 'utf8');
			for (const secret of [...local.issued, CLIENT.clientSecret]) assert.ok(!text.includes(secret));
			assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
			// Another encryption key (another n8n instance) reads nothing: it sends the stored one, which is reuse here.
			const stranger = new TokenCache({ clock, tokenState: () => ({ kind: 'file', file: new RefreshTokenFile(file, deriveSealKeys('another key')) }) });
			await assert.rejects(stranger.getToken(cfg, context), (error: unknown) => /invalid_grant/.test((error as Error).message) && /whole token family.*put a fresh refresh token in the credential/i.test((error as { hint?: string }).hint ?? ''));
		} finally {
			await local.close();
			await fs.rm(folder, { recursive: true, force: true });
		}
	});
});

/** The regular-mode file, whose saves fail when told (a full disk): the package's own class, not a mock. */
class FileThatStopsSaving extends RefreshTokenFile {
	failSaves = false;
	override async save(familyIdentity: string, refreshToken: string): Promise<void> {
		if (this.failSaves) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
		await super.save(familyIdentity, refreshToken);
	}
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error('condition not met in time');
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}

