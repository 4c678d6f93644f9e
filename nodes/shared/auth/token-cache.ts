/**
 * The process-wide token cache: one access token per provider configuration per process, shared by
 * every item, execution, node and the credential test. Built like the Azure SDK's token cycler: per
 * key, ONE in-flight fetch promise that every caller who needs a token awaits, each racing its own
 * abort signal against it; the fetch itself runs under no caller's signal, so one execution's cancel
 * never fails another's. The pure policy (token-policy.ts) decides use / refresh in the background /
 * wait. Keys share nothing, so one provider's backoff never holds up another's.
 */
import { Mutex } from 'async-mutex';
import { createHash, createHmac, randomBytes } from 'node:crypto';

import { AbortedError, systemClock, type Clock } from '../core/clock';
import { OAuth2AuthenticationError } from '../core/errors';
import { secretsOf, type TokenEndpointConfig } from '../config/provider-config';
import { TOKEN_RETRY_POLICY, withRetries, type RetryPolicy } from '../transport/retry';
import { boundedServerText } from '../core/scrub';
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
	/** No token request at all before this: the server asked for a longer pause than the retry cap. */
	throttledUntilMs: number;
	throttle?: OAuth2AuthenticationError;
	/** When a 401 last made this key drop its token (clock ms). */
	lastRejectionRenewalMs?: number;
}

// Per-process key for hashing secrets into cache keys: a heap dump shows no guessable digest of them.
const KEY_HASH_SECRET = randomBytes(32);

// A config object is parsed once per execution and then asked for a token once per item: hash it once.
const keysByConfig = new WeakMap<TokenEndpointConfig, string>();

/** Everything that makes the token endpoint hand out a different token; secrets only as keyed hashes. */
export function cacheKey(config: TokenEndpointConfig): string {
	let key = keysByConfig.get(config);
	if (key === undefined) {
		key = computeCacheKey(config);
		keysByConfig.set(config, key);
	}
	return key;
}

const digest = (value: string | undefined) => (value ? createHmac('sha256', KEY_HASH_SECRET).update(value).digest('base64url') : '');

/**
 * A refresh token's identity: configurations that differ in scope or parameters but hold the same
 * refresh token rotate ONE token, so they share its rotated value and take turns using it.
 */
function refreshFamilyKey(config: TokenEndpointConfig): string {
	return JSON.stringify([config.tokenUrl, config.clientId, digest(config.refreshToken)]);
}

function computeCacheKey(config: TokenEndpointConfig): string {
	const parameters = Object.entries(config.additionalTokenParameters).sort(([a], [b]) => a.localeCompare(b));
	return createHash('sha256')
		.update(
			JSON.stringify([
				config.tokenUrl,
				config.clientId,
				digest(config.clientSecret),
				config.scope ?? '',
				config.clientAuthentication,
				config.basicAuthEncoding,
				parameters,
				digest(config.refreshToken),
				// A different key, certificate or assertion shape may get a different token (or none).
				digest(config.privateKeyPem ?? config.tls?.privateKeyPem),
				digest(config.tls?.certificatePem),
				digest(config.tls?.caPems?.join('')),
				config.assertion ? [config.assertion.algorithm, config.assertion.audience, config.assertion.keyId ?? '', config.assertion.x5tS256 ?? '', !!config.assertion.x5c] : [],
			]),
		)
		.digest('base64url');
}

/** The shared promise, or this caller's abort, whichever comes first; the promise goes on either way. */
async function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
	if (!signal) return await promise;
	if (signal.aborted) throw new AbortedError();
	let onAbort: (() => void) | undefined;
	try {
		return await Promise.race([
			promise,
			new Promise<never>((_resolve, reject) => {
				onAbort = () => reject(new AbortedError());
				signal.addEventListener('abort', onAbort, { once: true });
			}),
		]);
	} finally {
		if (onAbort) signal.removeEventListener('abort', onAbort);
	}
}

export class TokenCache {
	private readonly entries = new Map<string, CacheEntry>();
	/**
	 * Rotated refresh tokens, outside the LRU: evicting one would make the next fetch replay the
	 * already rotated token, which Auth0, Okta and Keycloak treat as reuse and revoke the whole family.
	 */
	private readonly rotatedRefreshTokens = new Map<string, string>();
	/**
	 * Refresh grants of one refresh token take turns (here a mutex is the right tool: each must send the
	 * token the previous one rotated to; two at once would replay one of them).
	 */
	private readonly refreshTurns = new Map<string, Mutex>();
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
			if (!entry.inflight && nowMs >= entry.backgroundNotBeforeMs && nowMs >= entry.throttledUntilMs) {
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
		if (!entry.inflight && nowMs < entry.throttledUntilMs) throw this.throttledError(entry, context.providerName, nowMs);
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
		this.rotatedRefreshTokens.clear();
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
		entry = { backgroundNotBeforeMs: 0, throttledUntilMs: 0 };
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

	private throttledError(entry: CacheEntry, providerName: string, nowMs: number): OAuth2AuthenticationError {
		const seconds = Math.ceil((entry.throttledUntilMs - nowMs) / 1000);
		return new OAuth2AuthenticationError(
			`Token requests to ${providerName} are paused for another ${seconds} s: ${entry.throttle?.message ?? 'the token endpoint asked to wait'}`,
			{ providerName, status: entry.throttle?.status, retryable: false, hint: 'The provider is throttling this client; wait, or lower how often workflows run.' },
		);
	}

	private refreshTurn(family: string): Mutex {
		let mutex = this.refreshTurns.get(family);
		if (!mutex) {
			mutex = new Mutex();
			this.refreshTurns.set(family, mutex);
		}
		return mutex;
	}

	/** The one fetch for this key: full retry schedule, under no caller's signal, shared by all who join it. */
	private startFetch(entry: CacheEntry, config: TokenEndpointConfig, context: TokenRequestContext): Promise<AccessToken> {
		const logger = context.logger ?? this.logger;
		const family = config.refreshToken ? refreshFamilyKey(config) : undefined;
		const request = async (): Promise<{ issued: IssuedToken; refreshToken?: string }> => {
			const refreshToken = family ? (this.rotatedRefreshTokens.get(family) ?? config.refreshToken) : undefined;
			const issued = await withRetries(
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
					error instanceof OAuth2AuthenticationError
						? { retryable: error.retryable, retryAfterMs: error.retryAfterMs }
						: { retryable: false },
				{ policy: this.retryPolicy, clock: this.clock },
			);
			// Client-credentials answers may carry a refresh token too (RFC 6749 §4.4.3 says they should not); only the refresh grant uses one.
			if (family && refreshToken && issued.refreshToken && issued.refreshToken !== refreshToken) {
				this.rotatedRefreshTokens.set(family, issued.refreshToken);
				logger?.warn(
					`OAuth2 LLM: ${context.providerName} rotated its refresh token; this n8n process uses the new one from now on. ` +
						'It lives in this process only: after a restart, or in another worker, the stored Refresh Token is replayed, which a server that detects reuse answers by revoking it. Put a fresh refresh token in the credential then.',
				);
			}
			return { issued, refreshToken };
		};
		const fetch = (async () => {
			try {
				const { issued } = family ? await this.refreshTurn(family).runExclusive(request) : await request();
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
				if (error instanceof OAuth2AuthenticationError && (error.retryAfterMs ?? 0) > this.retryPolicy.maxRetryAfterMs) {
					entry.throttledUntilMs = this.clock.nowMs() + error.retryAfterMs!;
					entry.throttle = error;
				}
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
