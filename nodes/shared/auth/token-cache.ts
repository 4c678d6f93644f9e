/**
 * The process-wide token cache: one access token per provider configuration per process, shared by
 * every item, execution, node and the credential test. Built like the Azure SDK's token cycler: per
 * key, ONE in-flight fetch promise that every caller who needs a token awaits, each racing its own
 * abort signal against it; the fetch itself runs under no caller's signal, so one execution's cancel
 * never fails another's. The pure policy (token-policy.ts) decides use / refresh in the background /
 * wait. Keys share nothing, so one provider's backoff never holds up another's.
 */
import { AbortedError, raceAbort, systemClock, type Clock } from '../core/clock';
import { OAuth2AuthenticationError } from '../core/errors';
import { boundedServerText } from '../core/scrub';
import { secretsOf, type TokenEndpointConfig } from '../config/provider-config';
import { TOKEN_RETRY_POLICY, withRetries, type RetryPolicy } from '../transport/retry';
import { cacheKey, refreshFamilyKey } from './cache-key';
import { RefreshTokenTurns } from './refresh-turns';
import { ThrottleWindow } from './throttle';
import { requestToken, DEFAULT_TOKEN_TIMEOUT_MS, type IssuedToken } from './token-client';
import { decide, type AccessToken } from './token-policy';

/** After a failed background refresh, the next one waits this long (the old token is still valid). */
export const BACKGROUND_RETRY_INTERVAL_MS = 3000;
/** Distinct provider configurations kept; least recently used ones beyond this are dropped. */
export const DEFAULT_MAX_ENTRIES = 500;
/**
 * At most one new token per this interval because the API rejected the cached one (401). When the
 * token fetched after a 401 is rejected too, the cause is the configuration (audience, scope), not the
 * token's age: more tokens would fare no better, so token requests stay bounded while the 401s persist.
 */
export const MIN_REJECTION_RENEWAL_INTERVAL_MS = 30_000;

export interface TokenCacheLogger {
	warn(message: string, meta?: Record<string, unknown>): void;
	debug?(message: string, meta?: Record<string, unknown>): void;
}

export interface TokenCacheOptions {
	clock?: Clock;
	maxEntries?: number;
	retryPolicy?: RetryPolicy;
	tokenTimeoutMs?: number;
	logger?: TokenCacheLogger;
}

export interface TokenRequestContext {
	providerName: string;
	/** This caller stops waiting when it aborts (a cancelled execution); the shared fetch goes on for the others. */
	signal?: AbortSignal;
	logger?: TokenCacheLogger;
}

interface CacheEntry {
	token?: AccessToken;
	/** The one fetch in flight for this key, awaited by every caller that needs a token now. */
	inflight?: Promise<AccessToken>;
	/** No background refresh before this (clock ms): the last one failed. */
	backgroundNotBeforeMs: number;
	throttle: ThrottleWindow;
	/** When a 401 last made this key drop its token (clock ms). */
	lastRejectionRenewalMs?: number;
}

export class TokenCache {
	private readonly entries = new Map<string, CacheEntry>();
	private readonly refreshTurns: RefreshTokenTurns;
	private readonly clock: Clock;
	private readonly maxEntries: number;
	private readonly retryPolicy: RetryPolicy;
	private readonly tokenTimeoutMs: number;
	private readonly logger?: TokenCacheLogger;
	/** Token requests sent (every attempt, retries included), for tests and benchmarks. */
	tokenRequestCount = 0;

	constructor(options: TokenCacheOptions = {}) {
		this.clock = options.clock ?? systemClock;
		this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
		this.retryPolicy = options.retryPolicy ?? TOKEN_RETRY_POLICY;
		this.tokenTimeoutMs = options.tokenTimeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
		this.logger = options.logger;
		this.refreshTurns = new RefreshTokenTurns(() => this.clock.nowMs());
	}

	get size(): number {
		return this.entries.size;
	}

	/** A usable access token for this configuration: cached, or fetched once for all concurrent callers. */
	async getToken(config: TokenEndpointConfig, context: TokenRequestContext): Promise<AccessToken> {
		const key = cacheKey(config);
		const entry = this.entryFor(key);
		const nowMs = this.clock.nowMs();
		const decision = decide(nowMs, entry.token, config.expiryBufferSeconds);
		if (decision === 'use') return entry.token!;
		if (decision === 'use-and-refresh') {
			if (!entry.inflight && nowMs >= entry.backgroundNotBeforeMs && !entry.throttle.holds(nowMs)) {
				this.startFetch(entry, config, context).catch((error: unknown) => {
					entry.backgroundNotBeforeMs = this.clock.nowMs() + BACKGROUND_RETRY_INTERVAL_MS;
					(context.logger ?? this.logger)?.warn(
						`OAuth2 LLM: background token refresh for ${context.providerName} failed; the current token stays in use until it expires`,
						{ error: boundedServerText((error as Error)?.message ?? String(error), secretsOf(config)) },
					);
				});
			}
			return entry.token!;
		}
		// A caller cancelled already starts nothing.
		if (context.signal?.aborted) throw new AbortedError();
		if (!entry.inflight && entry.throttle.holds(nowMs)) throw entry.throttle.error(context.providerName, nowMs);
		return await raceAbort(entry.inflight ?? this.startFetch(entry, config, context), context.signal);
	}

	/**
	 * After the API rejected `accessToken` (401). Drops the token only if it is still the cached one
	 * (twenty calls that failed with the same old token cost one new token), and at most once per
	 * MIN_REJECTION_RENEWAL_INTERVAL_MS. `dropped`: this call dropped it; `replaced`: another token is
	 * (or is being) fetched already; `kept`: it stays, and a replay would meet the same answer.
	 */
	invalidate(config: TokenEndpointConfig, accessToken: string): 'dropped' | 'replaced' | 'kept' {
		const entry = this.entries.get(cacheKey(config));
		if (!entry?.token || entry.token.accessToken !== accessToken) return 'replaced';
		const nowMs = this.clock.nowMs();
		if (entry.lastRejectionRenewalMs !== undefined && nowMs - entry.lastRejectionRenewalMs < MIN_REJECTION_RENEWAL_INTERVAL_MS) {
			return 'kept';
		}
		entry.token = undefined;
		entry.lastRejectionRenewalMs = nowMs;
		return 'dropped';
	}

	/** Seconds until the token ends, by this cache's clock. */
	secondsLeft(token: AccessToken): number {
		return Math.round((token.expiresAtMs - this.clock.nowMs()) / 1000);
	}

	/** The token cached now for this configuration, if any: for scrubbing it out of errors, never for use. */
	cachedAccessToken(config: TokenEndpointConfig): string | undefined {
		return this.entries.get(cacheKey(config))?.token?.accessToken;
	}

	/** Resolves once no token request for this configuration is in flight (background refreshes included). */
	async settled(config: TokenEndpointConfig): Promise<void> {
		await this.entries.get(cacheKey(config))?.inflight?.catch(() => undefined);
	}

	clear(): void {
		this.entries.clear();
		this.refreshTurns.clear();
	}

	private entryFor(key: string): CacheEntry {
		let entry = this.entries.get(key);
		if (entry) {
			// Map order is insertion order: re-inserting keeps the least recently used first.
			this.entries.delete(key);
			this.entries.set(key, entry);
			return entry;
		}
		entry = { backgroundNotBeforeMs: 0, throttle: new ThrottleWindow() };
		this.entries.set(key, entry);
		this.evictBeyondLimit();
		return entry;
	}

	private evictBeyondLimit(): void {
		for (const [key, entry] of this.entries) {
			if (this.entries.size <= this.maxEntries) return;
			// An entry with a fetch in flight has callers awaiting it; it goes on a later pass.
			if (!entry.inflight) this.entries.delete(key);
		}
	}

	/** The one fetch for this key: full retry schedule, under no caller's signal, shared by all who join it. */
	private startFetch(entry: CacheEntry, config: TokenEndpointConfig, context: TokenRequestContext): Promise<AccessToken> {
		const fetch = (async () => {
			try {
				const issued = config.grantType === 'refreshToken' ? await this.refreshGrant(config, context) : await this.tokenRequest(config, context);
				const obtainedAtMs = this.clock.nowMs();
				const token: AccessToken = {
					accessToken: issued.accessToken,
					obtainedAtMs,
					expiresAtMs: obtainedAtMs + issued.lifetimeSeconds * 1000,
					refreshToken: issued.refreshToken,
					scope: issued.scope,
				};
				entry.token = token;
				entry.backgroundNotBeforeMs = 0;
				return token;
			} catch (error) {
				// A pause longer than the retry cap: no retry into the throttle window, and every caller fails fast until it ends.
				entry.throttle.record(error, this.clock.nowMs(), this.retryPolicy.maxRetryAfterMs);
				throw error;
			} finally {
				entry.inflight = undefined;
			}
		})();
		entry.inflight = fetch;
		// Every caller may have given up (cancelled) by the time it fails: that is not an unhandled rejection.
		fetch.catch(() => undefined);
		return fetch;
	}

	/** The refresh_token grant, in its family's turn, with the family's newest refresh token. */
	private async refreshGrant(config: TokenEndpointConfig, context: TokenRequestContext): Promise<IssuedToken> {
		const { issued, rotated } = await this.refreshTurns.run(
			refreshFamilyKey(config),
			config.refreshToken!,
			(refreshToken) => this.tokenRequest(config, context, refreshToken),
			context.providerName,
		);
		if (rotated) {
			(context.logger ?? this.logger)?.warn(
				`OAuth2 LLM: ${context.providerName} rotated its refresh token; this n8n process uses the new one from now on. ` +
					'It lives in this process only: after a restart, or in another worker, the stored Refresh Token is replayed, which a server that detects reuse answers by revoking it. Put a fresh refresh token in the credential then.',
			);
		}
		return issued;
	}

	/** One token request with the full retry schedule; every attempt counts in tokenRequestCount. */
	private async tokenRequest(config: TokenEndpointConfig, context: TokenRequestContext, refreshToken?: string): Promise<IssuedToken> {
		return await withRetries(
			async () => {
				this.tokenRequestCount++;
				return await requestToken(config, {
					providerName: context.providerName,
					wallNowMs: () => this.clock.wallNowMs(),
					timeoutMs: this.tokenTimeoutMs,
					refreshToken,
				});
			},
			(error) =>
				error instanceof OAuth2AuthenticationError ? { retryable: error.retryable, retryAfterMs: error.retryAfterMs } : { retryable: false },
			{ policy: this.retryPolicy, clock: this.clock },
		);
	}
}

// On globalThis, not just in this module: n8n may load the credential and the node files through
// separate module instances, and they must still share one cache. Versioned, so two incompatible
// copies of the package never share one.
const SHARED_CACHE_SYMBOL = Symbol.for('n8n-nodes-oauth2-llm.tokenCache.v1');
type GlobalWithCache = typeof globalThis & { [SHARED_CACHE_SYMBOL]?: TokenCache };

export function sharedTokenCache(): TokenCache {
	const holder = globalThis as GlobalWithCache;
	holder[SHARED_CACHE_SYMBOL] ??= new TokenCache();
	return holder[SHARED_CACHE_SYMBOL];
}

/** Replaces the process-wide cache (tests inject a fake clock this way). */
export function replaceSharedTokenCache(options: TokenCacheOptions = {}): TokenCache {
	const cache = new TokenCache(options);
	(globalThis as GlobalWithCache)[SHARED_CACHE_SYMBOL] = cache;
	return cache;
}
