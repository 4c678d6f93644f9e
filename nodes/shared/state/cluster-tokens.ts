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
 * A family value is `<generation> <sealed>`: a commit names the generation it read and fails when it
 * changed, so a process whose lease ran out while it was paused cannot overwrite a newer refresh token.
 * A token value is `<generation> <expiresAtWallMs> <sealed>`: a commit replaces it only with a token that
 * lives at least as long (an access token that expired from Redis meanwhile refuses nothing; an older one
 * never replaces a newer one; the one renewed after a 401 replaces the rejected one). Every Redis call is bounded in time, and a failure makes the caller go on
 * without the cluster.
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

/** A refresh token family's shared state. */
export interface FamilyState {
	/** The newest refresh token. */
	refreshToken: string;
	/**
	 * A grant sent `refreshToken` and its answer was lost: the provider may have rotated it. No process
	 * sends it before this (wall ms; Number.MAX_SAFE_INTEGER: never, the provider is known to rotate).
	 */
	lostUntilWallMs?: number;
}

/** What a process read: the values, and the family generation a commit must find unchanged. */
export interface SharedSnapshot {
	token?: StoredToken;
	family?: FamilyState;
	familyGeneration: string;
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
/**
 * A renewal with its retries rarely takes longer (four 15 s attempts and their backoff); a holder that
 * died or stopped loses its lease within DEFAULT_LEASE_TTL_MS, so waiting longer only waits for a live one.
 */
export const DEFAULT_LEASE_WAIT_MS = 90_000;
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

/**
 * KEYS: token, [family]. ARGV: token value ('' = none), its expiry (wall ms), its TTL (ms); then for the
 * family: the generation read ('' = absent), the new value ('' = leave it), its TTL. Returns 0 when the
 * family moved on since it was read (nothing written), else 1.
 */
const COMMIT_SCRIPT = `
if #KEYS == 2 then
	local current = redis.call('GET', KEYS[2])
	local generation = ''
	if current then generation = string.match(current, '^(%S*) ') or '' end
	if generation ~= ARGV[4] then return 0 end
	if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6]) end
end
if ARGV[1] ~= '' then
	local existing = redis.call('GET', KEYS[1])
	local expires = -1
	if existing then expires = tonumber(string.match(existing, '^%S* (%d+) ') or '-1') or -1 end
	if tonumber(ARGV[2]) >= expires then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) end
end
return 1
`;
const RENEW_LEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_LEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const HOLDS_LEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 else return 0 end`;

const newGeneration = () => randomBytes(12).toString('base64url');
// The same reading as the commit script's: the generation is what precedes the first space ('' without one).
const generationOf = (raw: string | null | undefined) => (raw && raw.includes(' ') ? raw.slice(0, raw.indexOf(' ')) : '');
const sealedOf = (raw: string | null | undefined) => (raw ? raw.slice(raw.lastIndexOf(' ') + 1) : undefined);
const COMMIT_RETRY_MS = 250;

export interface HeldLease {
	/** Whether this process still holds the lease, asked of Redis: before every attempt to send a refresh token. */
	stillHeld(): Promise<boolean>;
	/** Whether the lease can still be this process's by its own clock (last renewal + TTL), without asking Redis. */
	mayStillHold(): boolean;
}

export type CommitOutcome = 'committed' | 'refused' | 'unreachable';

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
	 * One bounded Redis call. A success ends an outage (`recovered`, reported once); a failure begins one
	 * or continues it (`beganOutage` on the error, so it is reported once) and skips the cluster a while.
	 */
	private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
		try {
			const result = await withTimeout(run(), this.commandTimeoutMs, () => new ClusterUnavailableError(`no answer to ${what} within ${this.commandTimeoutMs} ms`));
			this.recovered = this.down;
			this.down = false;
			this.skipUntilMs = 0;
			return result;
		} catch (error) {
			this.skipUntilMs = this.nowMs() + this.outageRetryMs;
			const began = !this.down;
			this.down = true;
			const failure = error instanceof ClusterUnavailableError ? error : new ClusterUnavailableError(`${what} failed: ${redisErrorName(error)}`);
			throw Object.assign(failure, { beganOutage: began });
		}
	}

	/** Set when the last call ended an outage; the caller reads and clears it to report the recovery once. */
	recovered = false;

	async read(names: SharedNames): Promise<SharedSnapshot> {
		const keys = names.family ? [names.token, names.family] : [names.token];
		const raw = await this.call('a read', () => this.redis.mget(...keys));
		const snapshot: SharedSnapshot = { familyGeneration: generationOf(raw[1]) };
		const token = unseal<StoredToken>(this.keys, names.token, sealedOf(raw[0]));
		if (token && typeof token.accessToken === 'string' && Number.isFinite(token.expiresAtWallMs) && Number.isFinite(token.obtainedAtWallMs)) {
			snapshot.token = token;
		}
		if (names.family) {
			const family = unseal<Partial<FamilyState>>(this.keys, names.family, sealedOf(raw[1]));
			if (typeof family?.refreshToken === 'string' && family.refreshToken) {
				snapshot.family = { refreshToken: family.refreshToken };
				if (Number.isFinite(family.lostUntilWallMs)) snapshot.family.lostUntilWallMs = family.lostUntilWallMs;
			}
		}
		return snapshot;
	}

	/**
	 * Publishes a token (unless a longer-lived one is there) and a family state, the latter only if nobody
	 * committed to the family since `seen` was read. False: another process did; its state stands.
	 */
	async commit(names: SharedNames, seen: SharedSnapshot, next: { token?: StoredToken; family?: FamilyState }, wallNowMs: number): Promise<boolean> {
		const args: Array<string | number> = ['', 0, 1];
		if (next.token) {
			const expiresAtWallMs = Math.floor(next.token.expiresAtWallMs);
			args.splice(0, 3, `${newGeneration()} ${expiresAtWallMs} ${seal(this.keys, names.token, next.token)}`, expiresAtWallMs, Math.max(1000, Math.ceil(expiresAtWallMs - wallNowMs)));
		}
		const keys = [names.token];
		if (names.family) {
			keys.push(names.family);
			args.push(seen.familyGeneration, next.family ? `${newGeneration()} ${seal(this.keys, names.family, next.family)}` : '', FAMILY_TTL_MS);
		}
		return (await this.call('a commit', () => this.redis.eval(COMMIT_SCRIPT, keys.length, ...keys, ...args))) === 1;
	}

	/**
	 * commit(), tried again while Redis does not answer, for at most one lease TTL and while the lease may
	 * still be this process's: a rotated refresh token that never reaches Redis would have the next holder
	 * send the retired one.
	 */
	async commitWhileLeased(names: SharedNames, seen: SharedSnapshot, next: { token?: StoredToken; family?: FamilyState }, wallNowMs: () => number, lease: HeldLease): Promise<CommitOutcome> {
		const giveUpAtMs = this.nowMs() + this.leaseTtlMs;
		for (;;) {
			try {
				return (await this.commit(names, seen, next, wallNowMs())) ? 'committed' : 'refused';
			} catch (error) {
				if (!(error instanceof ClusterUnavailableError)) throw error;
				if (!lease.mayStillHold() || this.nowMs() >= giveUpAtMs) return 'unreachable';
				await this.sleep(COMMIT_RETRY_MS);
			}
		}
	}

	/**
	 * Runs `work` holding the lease `names.lease`, kept alive while it runs (a holder that dies or stops
	 * loses it within leaseTtlMs). Waits at most leaseWaitMs (or `waitMs`) for another holder.
	 */
	async withLease<T>(names: SharedNames, work: (lease: HeldLease) => Promise<T>, waitMs = this.leaseWaitMs): Promise<T> {
		const value = randomBytes(16).toString('base64url');
		const giveUpAtMs = this.nowMs() + waitMs;
		for (;;) {
			let taken: 'OK' | null;
			try {
				taken = await this.call('taking the lease', () => this.redis.set(names.lease, value, 'PX', this.leaseTtlMs, 'NX'));
			} catch (error) {
				// A SET that timed out on a stalled Redis still runs when it wakes: the release queued behind it on
				// the same connection undoes it, instead of leaving a lease nobody holds for its whole TTL.
				this.redis.eval(RELEASE_LEASE_SCRIPT, 1, names.lease, value).catch(() => undefined);
				throw error;
			}
			if (taken === 'OK') break;
			if (this.nowMs() >= giveUpAtMs) throw new LeaseBusyError();
			await this.sleep(LEASE_POLL_MS + Math.floor(Math.random() * LEASE_POLL_MS));
		}
		let renewedAtMs = this.nowMs();
		let lost = false;
		const keepAlive = setInterval(() => {
			const sentAtMs = this.nowMs();
			this.redis.eval(RENEW_LEASE_SCRIPT, 1, names.lease, value, this.leaseTtlMs).then(
				(renewed) => {
					if (renewed === 1) renewedAtMs = sentAtMs;
					else lost = true;
				},
				() => undefined,
			);
		}, Math.max(1, Math.floor(this.leaseTtlMs / 3)));
		keepAlive.unref();
		try {
			return await work({
				stillHeld: async () => !lost && (await this.call('checking the lease', () => this.redis.eval(HOLDS_LEASE_SCRIPT, 1, names.lease, value))) === 1,
				mayStillHold: () => !lost && this.nowMs() < renewedAtMs + this.leaseTtlMs,
			});
		} finally {
			clearInterval(keepAlive);
			// A release that fails leaves the lease to end by itself; it is no news of an outage of its own.
			await withTimeout(this.redis.eval(RELEASE_LEASE_SCRIPT, 1, names.lease, value), this.commandTimeoutMs).catch(() => undefined);
		}
	}
}

async function withTimeout<T>(promise: Promise<T>, ms: number, failure: () => Error = () => new Error('timeout')): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	try {
		return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(failure()), ms)))]);
	} finally {
		clearTimeout(timer);
	}
}

/** A Redis error's kind, never its text: a reply could quote a value. */
function redisErrorName(error: unknown): string {
	const code = (error as { code?: unknown })?.code;
	if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
	const name = (error as Error)?.name;
	return typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name) ? name : 'error';
}
