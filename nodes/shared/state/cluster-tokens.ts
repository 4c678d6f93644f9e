/**
 * Token state shared by every process of an n8n cluster (queue mode), in the Redis n8n itself uses.
 * This file holds the storage side only, with no token policy: sealed entries, a lease, and a commit
 * that refuses to overwrite what it did not see.
 *
 * - `token` entry: the access token of one configuration, with its wall-clock lifetime.
 * - `family` entry: the newest refresh token of one stored refresh token (its seed), once the provider
 *   rotated it. Its name derives from the seed, so a new refresh token in the credential starts afresh.
 * - `lease`: at most one process renews a token (or family) at a time, cluster-wide.
 *
 * A family value is `<generation> <sealed>`: a commit names the generation it read and fails when it
 * changed, so a process whose lease ran out while it was paused cannot overwrite a newer refresh token.
 * A token value is `<generation> <expiresAtWallMs> <sealed>`: a commit replaces the one it read, or one
 * that lives no longer (an entry that expired meanwhile refuses nothing; an older token never replaces a
 * newer one). The generation and expiry are sealed in too (additional data), so a value rolled back or
 * relabelled does not open. Every Redis call is bounded in time; a failure is a ClusterUnavailableError.
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
	/** The provider rotated this family at least once (a lost answer then counts the token as spent). */
	rotated?: boolean;
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
	tokenGeneration: string;
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
/** A family entry outlives long pauses between runs; each commit that writes it renews it. */
export const FAMILY_TTL_MS = 365 * 24 * 3600_000;
/** Waiting for a lease: the first poll after this, then twice as long each time, up to LEASE_POLL_MAX_MS. */
const LEASE_POLL_MS = 50;
const LEASE_POLL_MAX_MS = 500;
/** A value longer than this is not opened (a hostile writer could otherwise make decoding stall n8n). */
export const MAX_VALUE_CHARS = 64 * 1024;

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
 * KEYS: token, [family]. ARGV: [1] token value ('' = none), [2] its expiry (wall ms), [3] its TTL (ms),
 * [4] the token generation read; [5] the family generation read ('' = absent), [6] the new family value
 * ('' = leave it), [7] its TTL, [8] its generation. Returns 0 when the family moved on since it was read
 * (nothing written), else 1; a commit whose earlier try landed but was not answered finds its own
 * generation there and succeeds.
 */
const COMMIT_SCRIPT = `
if #KEYS == 2 then
	local current = redis.call('GET', KEYS[2])
	local generation = ''
	if current then generation = string.match(current, '^([^ ]*) ') or '' end
	local mine = ARGV[8] ~= '' and generation == ARGV[8]
	if generation ~= ARGV[5] and not mine then return 0 end
	if ARGV[6] ~= '' and not mine then redis.call('SET', KEYS[2], ARGV[6], 'PX', ARGV[7]) end
end
if ARGV[1] ~= '' then
	local existing = redis.call('GET', KEYS[1])
	local generation = ''
	local expires = -1
	if existing then
		generation = string.match(existing, '^([^ ]*) ') or ''
		expires = tonumber(string.match(existing, '^[^ ]* (%d+) ') or '-1') or -1
	end
	if generation == ARGV[4] or tonumber(ARGV[2]) >= expires then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) end
end
return 1
`;
// keep-alive: extends the lease to its TTL if it is shorter (a longer hold, below, is never cut short).
const KEEP_ALIVE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 1 else return 0 end`;
// hold: whether the lease is still this caller's and, if so, that it lasts at least ARGV[2] ms more.
const HOLD_LEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 1 else return 0 end -- hold`;
const RELEASE_LEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

const newGeneration = () => randomBytes(12).toString('base64url');
// The same reading as the commit script's: the generation is what precedes the first space ('' without one).
const generationOf = (raw: string | null | undefined) => (raw && raw.includes(' ') ? raw.slice(0, raw.indexOf(' ')) : '');
/** The sealed part and what it was sealed with (the name, the generation, a token's expiry), or nothing. */
function sealedParts(name: string, raw: string | null | undefined): { sealed: string; additionalData: string } | undefined {
	if (!raw || raw.length > MAX_VALUE_CHARS || !raw.includes(' ')) return undefined;
	const cut = raw.lastIndexOf(' ');
	return { sealed: raw.slice(cut + 1), additionalData: `${name} ${raw.slice(0, cut)}` };
}
const COMMIT_RETRY_MS = 250;

export interface HeldLease {
	/**
	 * Whether this process still holds the lease, asked of Redis before every attempt to send a refresh
	 * token; if so, the lease is made to last at least `coverMs` more, so a holder cut off from Redis
	 * while its request is at the provider keeps the lease until that request has ended.
	 */
	stillHeld(coverMs: number): Promise<boolean>;
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
			if (this.down) this.recovered = true;
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
		const snapshot: SharedSnapshot = { tokenGeneration: generationOf(raw[0]), familyGeneration: generationOf(raw[1]) };
		const tokenParts = sealedParts(names.token, raw[0]);
		const token = tokenParts && unseal<StoredToken>(this.keys, tokenParts.additionalData, tokenParts.sealed);
		if (token && typeof token.accessToken === 'string' && Number.isFinite(token.expiresAtWallMs) && Number.isFinite(token.obtainedAtWallMs)) {
			snapshot.token = token;
		}
		const familyParts = names.family ? sealedParts(names.family, raw[1]) : undefined;
		const family = familyParts && unseal<Partial<FamilyState>>(this.keys, familyParts.additionalData, familyParts.sealed);
		if (typeof family?.refreshToken === 'string' && family.refreshToken) {
			snapshot.family = { refreshToken: family.refreshToken, rotated: family.rotated === true };
			if (Number.isFinite(family.lostUntilWallMs)) snapshot.family.lostUntilWallMs = family.lostUntilWallMs;
		}
		return snapshot;
	}

	/**
	 * Publishes a token (over the one read, or one that lives no longer) and a family state, the latter
	 * only if nobody committed to the family since `seen` was read. False: another process did; its state
	 * stands. `familyGeneration`: the generation to write under (the same on every try of one commit).
	 */
	async commit(
		names: SharedNames,
		seen: SharedSnapshot,
		next: { token?: StoredToken; family?: FamilyState },
		wallNowMs: number,
		familyGeneration = newGeneration(),
	): Promise<boolean> {
		const args: Array<string | number> = ['', 0, 1, seen.tokenGeneration];
		if (next.token) {
			const expiresAtWallMs = Math.floor(next.token.expiresAtWallMs);
			const generation = newGeneration();
			const sealed = seal(this.keys, `${names.token} ${generation} ${expiresAtWallMs}`, next.token);
			args.splice(0, 3, `${generation} ${expiresAtWallMs} ${sealed}`, expiresAtWallMs, Math.max(1000, Math.ceil(expiresAtWallMs - wallNowMs)));
		}
		const keys = [names.token];
		if (names.family) {
			keys.push(names.family);
			const value = next.family ? `${familyGeneration} ${seal(this.keys, `${names.family} ${familyGeneration}`, next.family)}` : '';
			args.push(seen.familyGeneration, value, FAMILY_TTL_MS, next.family ? familyGeneration : '');
		}
		return (await this.call('a commit', () => this.redis.eval(COMMIT_SCRIPT, keys.length, ...keys, ...args))) === 1;
	}

	/**
	 * commit(), tried again while Redis does not answer, for at most one lease TTL and while the lease may
	 * still be this process's: a rotated refresh token that never reaches Redis would have the next holder
	 * send the retired one. `afterFirstTry` runs once the first try has ended, whatever its outcome.
	 */
	async commitWhileLeased(
		names: SharedNames,
		seen: SharedSnapshot,
		next: { token?: StoredToken; family?: FamilyState },
		wallNowMs: () => number,
		lease: HeldLease,
		afterFirstTry?: () => void,
	): Promise<CommitOutcome> {
		const giveUpAtMs = this.nowMs() + this.leaseTtlMs;
		const familyGeneration = newGeneration();
		for (let attempt = 0; ; attempt++) {
			try {
				return (await this.commit(names, seen, next, wallNowMs(), familyGeneration)) ? 'committed' : 'refused';
			} catch (error) {
				if (!(error instanceof ClusterUnavailableError)) throw error;
				if (!lease.mayStillHold() || this.nowMs() >= giveUpAtMs) return 'unreachable';
				await this.sleep(COMMIT_RETRY_MS);
			} finally {
				if (attempt === 0) afterFirstTry?.();
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
		let sentAtMs = this.nowMs();
		for (let attempt = 0; ; attempt++) {
			let taken: 'OK' | null;
			sentAtMs = this.nowMs();
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
			const pollMs = Math.min(LEASE_POLL_MAX_MS, LEASE_POLL_MS * 2 ** attempt);
			await this.sleep(pollMs + Math.floor(Math.random() * pollMs));
		}
		// Until when the lease is this process's for sure, by its own clock: the last renewal or hold Redis confirmed.
		let heldUntilMs = sentAtMs + this.leaseTtlMs;
		let lost = false;
		const confirmed = (sentAtMs: number, forMs: number) => (answer: unknown) => {
			if (answer === 1) heldUntilMs = Math.max(heldUntilMs, sentAtMs + forMs);
			else lost = true;
			return answer;
		};
		const keepAlive = setInterval(() => {
			this.redis.eval(KEEP_ALIVE_SCRIPT, 1, names.lease, value, this.leaseTtlMs).then(confirmed(this.nowMs(), this.leaseTtlMs), () => undefined);
		}, Math.max(1, Math.floor(this.leaseTtlMs / 3)));
		keepAlive.unref();
		try {
			return await work({
				stillHeld: async (coverMs) => {
					if (lost) return false;
					const forMs = Math.max(this.leaseTtlMs, Math.ceil(coverMs));
					const sentAtMs = this.nowMs();
					return (await this.call('checking the lease', () => this.redis.eval(HOLD_LEASE_SCRIPT, 1, names.lease, value, forMs).then(confirmed(sentAtMs, forMs)))) === 1;
				},
				mayStillHold: () => !lost && this.nowMs() < heldUntilMs,
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
