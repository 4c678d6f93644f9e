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
import type { ClusterTokenState, SharedNames } from '../state/cluster-tokens';
import { clusterByEnvironment, tokenStateFromN8n, type TokenStateBackend } from '../state/n8n-token-state';
import type { RefreshTokenFile } from '../state/refresh-file';
import { TOKEN_RETRY_POLICY, withRetries, type RetryPolicy } from '../transport/retry';
import { cacheKey, refreshFamilyKey, tokenIdentity } from './cache-key';
import { ClusterRenewal, ClusterRenewalError, clusterRenewalError } from './cluster-renewal';
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
/** Beyond one token request's deadline, how long the cluster's lease is held for its answer. */
const ATTEMPT_MARGIN_MS = 5_000;

export interface TokenCacheLogger {
	warn(message: string, meta?: Record<string, unknown>): void;
	info?(message: string, meta?: Record<string, unknown>): void;
	debug?(message: string, meta?: Record<string, unknown>): void;
}

export interface TokenCacheOptions {
	clock?: Clock;
	maxEntries?: number;
	retryPolicy?: RetryPolicy;
	tokenTimeoutMs?: number;
	logger?: TokenCacheLogger;
	/** Where token state beyond this process lives; resolved once, at the first token request. Default: none. */
	tokenState?: () => TokenStateBackend;
}

export { ClusterRenewalError } from './cluster-renewal';

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
	/** The token the API last rejected: never taken back from the cluster's shared state. */
	rejectedAccessToken?: string;
}

export class TokenCache {
	private readonly entries = new Map<string, CacheEntry>();
	private readonly refreshTurns: RefreshTokenTurns;
	private readonly clock: Clock;
	private readonly maxEntries: number;
	private readonly retryPolicy: RetryPolicy;
	private readonly tokenTimeoutMs: number;
	private readonly logger?: TokenCacheLogger;
	private readonly resolveTokenState: () => TokenStateBackend;
	private tokenStateBackend?: TokenStateBackend;
	private clusterRenewal?: ClusterRenewal;
	private readonly sharedNames = new WeakMap<TokenEndpointConfig, SharedNames>();
	/** Refresh families whose newest token (in memory) could not be kept in n8n's user folder. */
	private readonly unsavedFamilies = new Set<string>();
	/** Token requests sent (every attempt, retries included), for tests and benchmarks. */
	tokenRequestCount = 0;

	constructor(options: TokenCacheOptions = {}) {
		this.clock = options.clock ?? systemClock;
		this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
		this.retryPolicy = options.retryPolicy ?? TOKEN_RETRY_POLICY;
		this.tokenTimeoutMs = options.tokenTimeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
		this.logger = options.logger;
		this.resolveTokenState = options.tokenState ?? (() => ({ kind: 'none', why: 'not configured' }));
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
					// The cluster's state was reported once already; the current token stays in use meanwhile.
					if (error instanceof ClusterRenewalError) return;
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
		entry.rejectedAccessToken = entry.token.accessToken;
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
		this.unsavedFamilies.clear();
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
				const backend = this.tokenState(context);
				let token: AccessToken | 'alone' = 'alone';
				if (backend.kind === 'cluster' && backend.cluster.available()) token = await this.renewAcrossCluster(backend.cluster, entry, config, context);
				if (token === 'alone') token = await this.renewAlone(config, context, backend);
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

	/** The state backend, resolved at the first token request (n8n picks its Redis after loading the nodes). */
	private tokenState(context: TokenRequestContext): TokenStateBackend {
		if (!this.tokenStateBackend) {
			const logger = context.logger ?? this.logger;
			try {
				this.tokenStateBackend = this.resolveTokenState();
			} catch (error) {
				// n8n runs as a cluster by its environment: a refresh token is then not sent without the lease.
				this.tokenStateBackend = { kind: 'none', why: 'unreadable n8n settings', clusterExpected: clusterByEnvironment(process.env) };
				logger?.warn(`OAuth2 LLM: n8n's settings could not be read (${(error as Error)?.name ?? 'error'}); this process keeps its tokens to itself, in memory`);
			}
			const backend = this.tokenStateBackend;
			logger?.debug?.(`OAuth2 LLM: token state beyond this process: ${backend.kind === 'cluster' ? "n8n's Redis" : backend.kind === 'file' ? "a sealed file in n8n's user folder" : `none (${backend.why})`}`);
		}
		return this.tokenStateBackend;
	}

	private tokenOf(issued: IssuedToken): AccessToken {
		const obtainedAtMs = this.clock.nowMs();
		return { accessToken: issued.accessToken, obtainedAtMs, expiresAtMs: obtainedAtMs + issued.lifetimeSeconds * 1000, refreshToken: issued.refreshToken, scope: issued.scope };
	}

	/** A renewal by this process alone: no cluster, the cluster in an outage, or it gave up waiting. */
	private async renewAlone(config: TokenEndpointConfig, context: TokenRequestContext, backend: TokenStateBackend): Promise<AccessToken> {
		if (config.grantType !== 'refreshToken') return this.tokenOf(await this.tokenRequest(config, context));
		const clusterExpected = backend.kind === 'cluster' || (backend.kind === 'none' && backend.clusterExpected);
		if (clusterExpected && this.refreshTurns.rotatesAtLastGrant(refreshFamilyKey(config)) !== false) {
			throw clusterRenewalError(context.providerName, backend.kind === 'cluster' ? "n8n's Redis is unavailable" : "n8n's settings could not be read");
		}
		return this.tokenOf(await this.refreshGrant(config, context, backend.kind === 'file' ? backend.file : undefined));
	}

	/** A renewal for the whole cluster (cluster-renewal.ts), with this cache's grants. */
	private async renewAcrossCluster(cluster: ClusterTokenState, entry: CacheEntry, config: TokenEndpointConfig, context: TokenRequestContext): Promise<AccessToken | 'alone'> {
		this.clusterRenewal ??= new ClusterRenewal(cluster);
		const family = refreshFamilyKey(config);
		return await this.clusterRenewal.renew({
			names: this.namesIn(cluster, config),
			current: entry.token,
			rejected: entry.rejectedAccessToken,
			expiryBufferSeconds: config.expiryBufferSeconds,
			// One attempt's deadline (three with issuer discovery, which may try two metadata URLs before the
			// request), and a margin for the answer's way back.
			attemptMs: this.tokenTimeoutMs * (config.issuerUrl ? 3 : 1) + Math.min(ATTEMPT_MARGIN_MS, this.tokenTimeoutMs),
			providerName: context.providerName,
			logger: context.logger ?? this.logger,
			clock: this.clock,
			request: async () => this.tokenOf(await this.tokenRequest(config, context)),
			refresh:
				config.grantType === 'refreshToken'
					? {
							stored: config.refreshToken!,
							grant: async (choose, beforeAttempt) => this.tokenOf(await this.refreshGrant(config, context, undefined, choose, beforeAttempt)),
							knownToRotate: () => this.refreshTurns.rotatesAtLastGrant(family) === true,
							adopt: (refreshToken) => this.refreshTurns.adopt(family, refreshToken),
							forgetLost: () => this.refreshTurns.forgetLost(family),
						}
					: undefined,
		});
	}

	private namesIn(cluster: ClusterTokenState, config: TokenEndpointConfig): SharedNames {
		let names = this.sharedNames.get(config);
		if (!names) {
			const digest = (secret: string | undefined) => cluster.digest(secret);
			names = cluster.names(tokenIdentity(config, digest), config.grantType === 'refreshToken' ? refreshFamilyKey(config, digest) : undefined);
			this.sharedNames.set(config, names);
		}
		return names;
	}

	/**
	 * The refresh_token grant, in its family's turn. The token sent: the cluster's newest (`choose`, under
	 * the lease), else the one this process saw the server rotate to, else one kept in n8n's user folder
	 * (regular mode), else the credential's.
	 */
	private async refreshGrant(
		config: TokenEndpointConfig,
		context: TokenRequestContext,
		file?: RefreshTokenFile,
		choose?: (rotatedHere: string | undefined) => Promise<string>,
		beforeAttempt?: () => Promise<void>,
	): Promise<IssuedToken> {
		const family = refreshFamilyKey(config);
		const stableFamily = file ? refreshFamilyKey(config, (secret) => file.digest(secret)) : undefined;
		const { issued, rotated } = await this.refreshTurns.run(
			family,
			// The file first: it is this process's newest, or newer (`n8n execute` beside it on the same folder);
			// unless this process's newest could not be saved there.
			choose ??
				(async (rotatedHere) =>
					(rotatedHere !== undefined && this.unsavedFamilies.has(family) ? rotatedHere : undefined) ??
					(file && stableFamily ? await this.keptRefreshToken(file, stableFamily, context.providerName) : undefined) ??
					rotatedHere ??
					config.refreshToken!),
			(refreshToken) => this.tokenRequest(config, context, refreshToken, beforeAttempt),
			context.providerName,
		);
		if (!rotated) return issued;
		const logger = context.logger ?? this.logger;
		if (file && stableFamily) {
			await file.save(stableFamily, issued.refreshToken!).then(() => this.unsavedFamilies.delete(family), (error: unknown) => {
				this.unsavedFamilies.add(family);
				logger?.warn(
					`OAuth2 LLM: ${context.providerName} rotated its refresh token, and it could not be kept in n8n's user folder (${(error as NodeJS.ErrnoException)?.code ?? 'error'}); this process goes on with it, but after a restart an older refresh token is sent (the one kept before, or the credential's). Put a fresh refresh token in the credential if the provider then rejects it.`,
				);
			});
		} else if (!choose) {
			logger?.warn(
				`OAuth2 LLM: ${context.providerName} rotated its refresh token; this n8n process uses the new one from now on. ` +
					'It lives in this process only: after a restart, or in another worker, the stored Refresh Token is replayed, which a server that detects reuse answers by revoking it. Put a fresh refresh token in the credential then.',
			);
		}
		return issued;
	}

	private async keptRefreshToken(file: RefreshTokenFile, stableFamily: string, providerName: string): Promise<string | undefined> {
		try {
			return await file.load(stableFamily);
		} catch (error) {
			throw new OAuth2AuthenticationError(
				`The refresh token of ${providerName} kept in n8n's user folder could not be read (${(error as NodeJS.ErrnoException)?.code ?? 'error'}); the credential's older one is not sent instead, since it may have been used already`,
				{ providerName, retryable: true, hint: "Check the file oauth2-llm-refresh-tokens.json in n8n's user folder (~/.n8n): its owner, permissions, and that it is the package's." },
			);
		}
	}

	/**
	 * One token request with the full retry schedule; every attempt counts in tokenRequestCount.
	 * `beforeAttempt` runs before every attempt (the cluster's lease check) and ends it all by throwing.
	 */
	private async tokenRequest(config: TokenEndpointConfig, context: TokenRequestContext, refreshToken?: string, beforeAttempt?: () => Promise<void>): Promise<IssuedToken> {
		return await withRetries(
			async () => {
				await beforeAttempt?.();
				this.tokenRequestCount++;
				return await requestToken(config, {
					providerName: context.providerName,
					wallNowMs: () => this.clock.wallNowMs(),
					timeoutMs: this.tokenTimeoutMs,
					refreshToken,
				});
			},
			(error) =>
				error instanceof OAuth2AuthenticationError && !(error instanceof ClusterRenewalError)
					? { retryable: error.retryable, retryAfterMs: error.retryAfterMs }
					: { retryable: false },
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
	holder[SHARED_CACHE_SYMBOL] ??= new TokenCache({ tokenState: () => tokenStateFromN8n() });
	return holder[SHARED_CACHE_SYMBOL];
}

/** Replaces the process-wide cache (tests inject a fake clock this way); state beyond the process as n8n is configured, unless given. */
export function replaceSharedTokenCache(options: TokenCacheOptions = {}): TokenCache {
	const cache = new TokenCache({ tokenState: () => tokenStateFromN8n(), ...options });
	(globalThis as GlobalWithCache)[SHARED_CACHE_SYMBOL] = cache;
	return cache;
}
