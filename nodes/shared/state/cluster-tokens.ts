/**
 * Token state shared by every process of an n8n cluster (queue mode, multi-main), in the Redis n8n
 * itself uses. This file holds the storage side only, with no token policy: sealed entries, a lease,
 * and a commit that refuses to overwrite what it did not see.
 *
 * - `token` entry: the access token of one configuration, with its wall-clock lifetime.
 * - `family` entry: the newest refresh token of one stored refresh token (its seed), once the provider
 *   rotated it. Its name derives from the seed, so a new refresh token in the credential starts afresh.
 * - `lease`: at most one process renews a token (or family) at a time, cluster-wide.
 *
 * Every value is `<generation> <sealed>`; a commit names the generations it read and fails when any
 * changed, so a process whose lease ran out while it was paused cannot overwrite a newer token.
 * Every Redis call is bounded in time, and a failure makes the caller go on without the cluster.
 */
import { randomBytes } from 'node:crypto';

import { seal, sealedDigest, sealedName, unseal, type SealKeys } from './sealed';

/** The subset of ioredis (n8n's own copy) used here. */
export interface RedisCommands {
	mget(...keys: string[]): Promise<Array<string | null>>;
	set(key: string, value: string, px: 'PX', ttlMs: number, nx: 'NX'): Promise<'OK' | null>;
	eval(script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

export interface StoredToken {
	accessToken: string;
	obtainedAtWallMs: number;
	expiresAtWallMs: number;
	scope?: string;
}

export interface SharedNames {
	token: string;
	/** Only for the refresh grant. */
	family?: string;
	lease: string;
}

/** What a process read: the values and the generations a commit must find unchanged. */
export interface SharedSnapshot {
	token?: StoredToken;
	refreshToken?: string;
	generations: string[];
}

export interface ClusterOptions {
	/** A lease ends this long after its holder last renewed it (a killed or paused holder). */
	leaseTtlMs?: number;
	/** How long a caller waits for another process's lease before giving up. */
	leaseWaitMs?: number;
	/** Every Redis call fails after this long (a paused or unreachable Redis). */
	commandTimeoutMs?: number;
	/** After a failed call, the cluster is skipped this long before it is tried again. */
	outageRetryMs?: number;
	/** Real time: leases live in Redis's clock, not in a test's fake one. */
	sleep?: (ms: number) => Promise<void>;
	nowMs?: () => number;
}

export const DEFAULT_LEASE_TTL_MS = 10_000;
export const DEFAULT_LEASE_WAIT_MS = 10_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
export const DEFAULT_OUTAGE_RETRY_MS = 2_000;
/** A family entry outlives long pauses between runs; each commit renews it. */
export const FAMILY_TTL_MS = 365 * 24 * 3600_000;
const LEASE_POLL_MS = 50;

/** Redis did not answer in time, or refused: the caller goes on as if it were alone. */
export class ClusterUnavailableError extends Error {
	constructor(readonly reason: string) {
		super(`n8n's Redis is unavailable (${reason})`);
		this.name = 'ClusterUnavailableError';
	}
}

/** Another process held the lease for longer than the caller may wait. */
export class LeaseBusyError extends Error {
	constructor() {
		super('another n8n process is renewing this token');
		this.name = 'LeaseBusyError';
	}
}

/** Sets every key only when each still holds the generation the caller read ('' = absent). */
const COMMIT_SCRIPT = `
for i = 1, #KEYS do
	local current = redis.call('GET', KEYS[i])
	local generation = ''
	if current then generation = string.match(current, '^(%S*) ') or '' end
	if generation ~= ARGV[(i - 1) * 3 + 1] then return 0 end
end
for i = 1, #KEYS do
	local value = ARGV[(i - 1) * 3 + 2]
	if value ~= '' then redis.call('SET', KEYS[i], value, 'PX', ARGV[(i - 1) * 3 + 3]) end
end
return 1
`;
const RENEW_LEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_LEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const HOLDS_LEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 else return 0 end`;

const newGeneration = () => randomBytes(12).toString('base64url');
const generationOf = (raw: string | null) => (raw ? (raw.split(' ', 1)[0] ?? '') : '');
const sealedOf = (raw: string | null) => (raw ? raw.slice(raw.indexOf(' ') + 1) : undefined);

export interface HeldLease {
	/** Whether this process still holds the lease: asked right before a refresh token is sent. */
	stillHeld(): Promise<boolean>;
}

export class ClusterTokenState {
	private readonly leaseTtlMs: number;
	private readonly leaseWaitMs: number;
	private readonly commandTimeoutMs: number;
	private readonly outageRetryMs: number;
	private readonly sleep: (ms: number) => Promise<void>;
	private readonly nowMs: () => number;
	/** No Redis call before this (real ms): the last one failed. */
	private skipUntilMs = 0;
	/** Whether the last call failed, so an outage is reported once, and its end once. */
	private down = false;

	constructor(
		private readonly redis: RedisCommands,
		private readonly keys: SealKeys,
		/** n8n's key prefix (N8N_REDIS_KEY_PREFIX), in braces on a Redis Cluster as n8n writes it. */
		private readonly prefix: string,
		options: ClusterOptions = {},
	) {
		this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
		this.leaseWaitMs = options.leaseWaitMs ?? DEFAULT_LEASE_WAIT_MS;
		this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
		this.outageRetryMs = options.outageRetryMs ?? DEFAULT_OUTAGE_RETRY_MS;
		this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
		this.nowMs = options.nowMs ?? Date.now;
	}

	/** A keyed digest of a secret, the same in every process of this n8n instance (for identities). */
	digest(secret: string | undefined): string {
		return sealedDigest(this.keys, secret);
	}

	/** Storage names for a token identity (and a refresh family's), free of secrets and of guessable digests. */
	names(tokenIdentity: string, familyIdentity?: string): SharedNames {
		const token = sealedName(this.keys, `token ${tokenIdentity}`);
		const family = familyIdentity === undefined ? undefined : sealedName(this.keys, `family ${familyIdentity}`);
		const base = `${this.prefix}:oauth2-llm`;
		return {
			token: `${base}:token:${token}`,
			family: family && `${base}:family:${family}`,
			// A refresh family renews under one lease whatever the scope: its refresh token is one.
			lease: `${base}:lease:${family ?? token}`,
		};
	}

	/** False during an outage (for outageRetryMs after a failed call): callers go on alone meanwhile. */
	available(): boolean {
		return this.nowMs() >= this.skipUntilMs;
	}

	/**
	 * Marks the outage over after a call succeeded; true when this ended one. Marks it begun after a
	 * failure; the error says whether this call began it, so it is reported once.
	 */
	private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
		let timer: NodeJS.Timeout | undefined;
		try {
			const result = await Promise.race([
				run(),
				new Promise<never>((_, reject) => {
					timer = setTimeout(() => reject(new ClusterUnavailableError(`no answer to ${what} within ${this.commandTimeoutMs} ms`)), this.commandTimeoutMs);
				}),
			]);
			this.recovered = this.down;
			this.down = false;
			return result;
		} catch (error) {
			this.skipUntilMs = this.nowMs() + this.outageRetryMs;
			const began = !this.down;
			this.down = true;
			const failure = error instanceof ClusterUnavailableError ? error : new ClusterUnavailableError(`${what} failed: ${redisErrorName(error)}`);
			throw Object.assign(failure, { beganOutage: began });
		} finally {
			clearTimeout(timer);
		}
	}

	/** Set when the last call ended an outage; the caller reads and clears it to report the recovery once. */
	recovered = false;

	async read(names: SharedNames): Promise<SharedSnapshot> {
		const keys = names.family ? [names.token, names.family] : [names.token];
		const raw = await this.call('a read', () => this.redis.mget(...keys));
		const snapshot: SharedSnapshot = { generations: raw.map((value) => generationOf(value ?? null)) };
		const token = unseal<StoredToken>(this.keys, names.token, sealedOf(raw[0] ?? null));
		if (token && typeof token.accessToken === 'string' && Number.isFinite(token.expiresAtWallMs) && Number.isFinite(token.obtainedAtWallMs)) {
			snapshot.token = token;
		}
		if (names.family) {
			const family = unseal<{ refreshToken?: unknown }>(this.keys, names.family, sealedOf(raw[1] ?? null));
			if (typeof family?.refreshToken === 'string' && family.refreshToken) snapshot.refreshToken = family.refreshToken;
		}
		return snapshot;
	}

	/**
	 * Publishes a token (and a rotated refresh token) only if nobody committed since `seen` was read.
	 * False: another process did; its state stands.
	 */
	async commit(names: SharedNames, seen: SharedSnapshot, next: { token: StoredToken; refreshToken?: string }, wallNowMs: number): Promise<boolean> {
		const tokenTtlMs = Math.max(1000, Math.ceil(next.token.expiresAtWallMs - wallNowMs));
		const args: Array<string | number> = [seen.generations[0] ?? '', `${newGeneration()} ${seal(this.keys, names.token, next.token)}`, tokenTtlMs];
		const keys = [names.token];
		if (names.family) {
			keys.push(names.family);
			const rotated = next.refreshToken !== undefined && next.refreshToken !== seen.refreshToken;
			args.push(seen.generations[1] ?? '', rotated ? `${newGeneration()} ${seal(this.keys, names.family, { refreshToken: next.refreshToken })}` : '', FAMILY_TTL_MS);
		}
		return (await this.call('a commit', () => this.redis.eval(COMMIT_SCRIPT, keys.length, ...keys, ...args))) === 1;
	}

	/**
	 * Runs `work` holding the lease `names.lease`, kept alive while it runs (a holder that dies or stops
	 * loses it within leaseTtlMs). Waits at most leaseWaitMs (or `waitMs`) for another holder.
	 */
	async withLease<T>(names: SharedNames, work: (lease: HeldLease) => Promise<T>, waitMs = this.leaseWaitMs): Promise<T> {
		const value = randomBytes(16).toString('base64url');
		const giveUpAtMs = this.nowMs() + waitMs;
		for (;;) {
			if ((await this.call('taking the lease', () => this.redis.set(names.lease, value, 'PX', this.leaseTtlMs, 'NX'))) === 'OK') break;
			if (this.nowMs() >= giveUpAtMs) throw new LeaseBusyError();
			await this.sleep(LEASE_POLL_MS + Math.floor(Math.random() * LEASE_POLL_MS));
		}
		const keepAlive = setInterval(() => {
			this.redis.eval(RENEW_LEASE_SCRIPT, 1, names.lease, value, this.leaseTtlMs).catch(() => undefined);
		}, Math.max(1, Math.floor(this.leaseTtlMs / 3)));
		keepAlive.unref();
		try {
			return await work({
				stillHeld: async () => (await this.call('checking the lease', () => this.redis.eval(HOLDS_LEASE_SCRIPT, 1, names.lease, value))) === 1,
			});
		} finally {
			clearInterval(keepAlive);
			// A release that fails leaves the lease to end by itself.
			await this.call('releasing the lease', () => this.redis.eval(RELEASE_LEASE_SCRIPT, 1, names.lease, value)).catch(() => undefined);
		}
	}
}

/** A Redis error's kind, never its text: a reply could quote a value. */
function redisErrorName(error: unknown): string {
	const code = (error as { code?: unknown })?.code;
	if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
	const name = (error as Error)?.name;
	return typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name) ? name : 'error';
}
