/**
 * The module-level token cache: one access token per provider configuration per process, shared by
 * every item, execution, node and the credential test. Per key: single flight (async-mutex), refresh
 * ahead in the background while the current token is still good, and a failure shared with the callers
 * that waited for it. Keys never share a lock, so one provider's backoff never blocks another's.
 */
import { Mutex } from 'async-mutex';
import { createHash, createHmac, randomBytes } from 'node:crypto';

import { AbortedError, systemClock, type Clock } from './clock';
import { OAuth2AuthenticationError, scrubText } from './errors';
import { secretsOf, type TokenEndpointConfig } from './provider-config';
import { TOKEN_RETRY_POLICY, withRetries, type RetryPolicy } from './retry';
import { requestToken, DEFAULT_TOKEN_TIMEOUT_MS } from './token-client';
import { decide, type AccessToken } from './token-policy';

/** After a failed background refresh, the next one waits this long (the old token is still valid). */
export const BACKGROUND_RETRY_INTERVAL_MS = 3000;
/** Distinct provider configurations kept; least recently used ones beyond this are dropped. */
export const DEFAULT_MAX_ENTRIES = 500;

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
	/** Aborts waiting and retrying for this caller (a cancelled execution). */
	signal?: AbortSignal;
	logger?: TokenCacheLogger;
}

interface CacheEntry {
	mutex: Mutex;
	token?: AccessToken;
	/** The refresh token the server rotated the configured one to (RFC 6749 §6 / OAuth 2.1 §4.3.1). */
	rotatedRefreshToken?: string;
	/** Counts fetches, so a caller that waited can tell a fetch happened meanwhile. */
	fetchGeneration: number;
	lastFailure?: { generation: number; error: unknown };
	backgroundNotBeforeMs: number;
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

function computeCacheKey(config: TokenEndpointConfig): string {
	const digest = (value: string | undefined) =>
		value ? createHmac('sha256', KEY_HASH_SECRET).update(value).digest('base64url') : '';
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
			]),
		)
		.digest('base64url');
}

function isAbort(error: unknown): boolean {
	return error instanceof AbortedError || (error instanceof Error && /cancel|abort/i.test(error.name));
}

export class TokenCache {
	private readonly entries = new Map<string, CacheEntry>();
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
		const decision = decide(this.clock.nowMs(), entry.token, config.expiryBufferSeconds);
		if (decision === 'use') return entry.token!;
		if (decision === 'use-and-refresh') {
			this.refreshInBackground(entry, config, context);
			return entry.token!;
		}

		const generationSeen = entry.fetchGeneration;
		return await entry.mutex.runExclusive(async () => {
			if (decide(this.clock.nowMs(), entry.token, config.expiryBufferSeconds) !== 'must-refresh') return entry.token!;
			// Somebody fetched while we queued and failed: share that answer instead of asking again.
			const failure = entry.lastFailure;
			if (entry.fetchGeneration !== generationSeen && failure?.generation === entry.fetchGeneration) throw failure.error;
			return await this.fetch(entry, config, context, this.retryPolicy);
		});
	}

	/**
	 * Drops the token after the API rejected it (401), but only if it is still the cached one: when
	 * twenty calls fail with the same old token, the first drops it and the rest reuse the new one.
	 */
	invalidate(config: TokenEndpointConfig, accessToken: string): boolean {
		const entry = this.entries.get(cacheKey(config));
		if (!entry?.token || entry.token.accessToken !== accessToken) return false;
		entry.token = undefined;
		return true;
	}

	/** Resolves once no token request for this configuration is in flight (background refreshes included). */
	async settled(config: TokenEndpointConfig): Promise<void> {
		await this.entries.get(cacheKey(config))?.mutex.waitForUnlock();
	}

	clear(): void {
		this.entries.clear();
	}

	private entryFor(key: string): CacheEntry {
		let entry = this.entries.get(key);
		if (entry) {
			// Map order is insertion order: re-inserting keeps the least recently used first.
			this.entries.delete(key);
			this.entries.set(key, entry);
			return entry;
		}
		entry = { mutex: new Mutex(), fetchGeneration: 0, backgroundNotBeforeMs: 0 };
		this.entries.set(key, entry);
		this.evictBeyondLimit();
		return entry;
	}

	private evictBeyondLimit(): void {
		for (const [key, entry] of this.entries) {
			if (this.entries.size <= this.maxEntries) return;
			// An entry with a fetch in flight has waiters holding it; it goes on a later pass.
			if (!entry.mutex.isLocked()) this.entries.delete(key);
		}
	}

	private refreshInBackground(entry: CacheEntry, config: TokenEndpointConfig, context: TokenRequestContext): void {
		if (entry.mutex.isLocked() || this.clock.nowMs() < entry.backgroundNotBeforeMs) return;
		const logger = context.logger ?? this.logger;
		void entry.mutex.runExclusive(async () => {
			if (decide(this.clock.nowMs(), entry.token, config.expiryBufferSeconds) === 'use') return;
			try {
				// One attempt, no backoff sleeps under the lock: callers still have a good token, and the
				// next call after BACKGROUND_RETRY_INTERVAL_MS tries again (Azure SDK token cycler's rule).
				// No caller's abort signal either: this refresh serves every execution.
				await this.fetch(entry, config, { providerName: context.providerName }, { ...this.retryPolicy, maxRetries: 0 }, false);
			} catch (error) {
				// Recorded before the lock is released, so no caller can slip in another attempt meanwhile.
				entry.backgroundNotBeforeMs = this.clock.nowMs() + BACKGROUND_RETRY_INTERVAL_MS;
				logger?.warn(
					`OAuth2 LLM: background token refresh for ${context.providerName} failed; the current token stays in use until it expires`,
					{ error: scrubText((error as Error)?.message ?? String(error), secretsOf(config)) },
				);
			}
		});
	}

	/**
	 * Runs under the entry's mutex. `shareFailure`: whether callers queued behind this fetch get its
	 * error instead of trying themselves. Not for a background refresh's single attempt: a caller
	 * that needs a token now deserves the full retry schedule.
	 */
	private async fetch(
		entry: CacheEntry,
		config: TokenEndpointConfig,
		context: TokenRequestContext,
		retryPolicy: RetryPolicy,
		shareFailure = true,
	): Promise<AccessToken> {
		const generation = ++entry.fetchGeneration;
		const refreshToken = config.refreshToken ? (entry.rotatedRefreshToken ?? config.refreshToken) : undefined;
		try {
			const token = await withRetries(
				async () => {
					this.tokenRequestCount++;
					return await requestToken(config, {
						providerName: context.providerName,
						nowMs: () => this.clock.nowMs(),
						timeoutMs: this.tokenTimeoutMs,
						signal: context.signal,
						refreshToken,
					});
				},
				(error) =>
					error instanceof OAuth2AuthenticationError
						? { retryable: error.retryable, retryAfterMs: error.retryAfterMs }
						: { retryable: false },
				{ policy: retryPolicy, clock: this.clock, signal: context.signal },
			);
			// Client-credentials answers may carry a refresh token too (RFC 6749 §4.4.3 says they should not); only the refresh grant uses one.
			if (config.refreshToken && token.refreshToken) entry.rotatedRefreshToken = token.refreshToken;
			entry.token = token;
			entry.lastFailure = undefined;
			entry.backgroundNotBeforeMs = 0;
			return token;
		} catch (error) {
			// A cancelled execution's abort is its own business, not an answer to share with other waiters.
			if (shareFailure && !isAbort(error)) entry.lastFailure = { generation, error };
			throw error;
		}
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
