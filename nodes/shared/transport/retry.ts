/**
 * Backoff with jitter and Retry-After, shared by token requests and chat calls. The sleep comes from
 * the injected clock, so tests of a 1 s / 2 s / 4 s backoff take no real time.
 */
import type { Clock } from '../core/clock';

export interface RetryPolicy {
	/** Retries after the first attempt; 3 means up to 4 attempts. */
	maxRetries: number;
	/** First backoff; doubles each retry: 1 s, 2 s, 4 s. */
	baseDelayMs: number;
	/** Jitter added on top of each backoff, as a share of it (0.2 → up to +20 %). */
	jitterRatio: number;
	/** A server's Retry-After is honoured up to this; a longer ask is not retried early into the throttle window: the call fails at once. */
	maxRetryAfterMs: number;
}

export const TOKEN_RETRY_POLICY: RetryPolicy = {
	maxRetries: 3,
	baseDelayMs: 1000,
	jitterRatio: 0.2,
	maxRetryAfterMs: 30_000,
};

export interface RetryableFailure {
	retryable: boolean;
	retryAfterMs?: number;
}

/** Delay before retry number `retryIndex` (0-based): exponential backoff plus jitter, or Retry-After (at most the cap) if longer. */
export function retryDelayMs(
	retryIndex: number,
	policy: RetryPolicy,
	random: number,
	retryAfterMs?: number,
): number {
	const backoffMs = policy.baseDelayMs * 2 ** retryIndex;
	const jitteredMs = backoffMs + backoffMs * policy.jitterRatio * random;
	if (retryAfterMs === undefined) return Math.round(jitteredMs);
	return Math.round(Math.max(jitteredMs, Math.min(retryAfterMs, policy.maxRetryAfterMs)));
}

/** A server's pause is believed up to this; beyond, it is read as this (a hostile 9999…9 must not pause a credential forever). */
export const MAX_RETRY_AFTER_READ_MS = 3600_000;

/** RFC 9110 §10.2.3: either delay-seconds or an HTTP-date. Unparseable values are ignored. */
export function parseRetryAfterMs(header: unknown, nowMs: number): number | undefined {
	if (typeof header !== 'string' || header.trim() === '') return undefined;
	const text = header.trim();
	const ms = /^\d+(\.\d+)?$/.test(text) ? Math.round(Number(text) * 1000) : Date.parse(text) - nowMs;
	if (!Number.isFinite(ms)) return undefined;
	return Math.min(MAX_RETRY_AFTER_READ_MS, Math.max(0, ms));
}

/**
 * Runs `attempt` until it succeeds, throws a non-retryable error, or the retries are spent.
 * `classify` says whether an error is worth another try; everything else is rethrown at once.
 */
export async function withRetries<T>(
	attempt: (attemptIndex: number) => Promise<T>,
	classify: (error: unknown) => RetryableFailure,
	options: { policy: RetryPolicy; clock: Clock; signal?: AbortSignal; onRetry?: (error: unknown, delayMs: number, retryIndex: number) => void },
): Promise<T> {
	for (let attemptIndex = 0; ; attemptIndex++) {
		try {
			return await attempt(attemptIndex);
		} catch (error) {
			const failure = classify(error);
			if (!failure.retryable || attemptIndex >= options.policy.maxRetries) throw error;
			if ((failure.retryAfterMs ?? 0) > options.policy.maxRetryAfterMs) throw error;
			const delayMs = retryDelayMs(attemptIndex, options.policy, options.clock.random(), failure.retryAfterMs);
			options.onRetry?.(error, delayMs, attemptIndex);
			await options.clock.sleep(delayMs, options.signal);
		}
	}
}
