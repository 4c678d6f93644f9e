/**
 * The whole refresh policy, pure: given the time and a token, use it, use it and renew it in the
 * background, or wait for a new one. Modelled on the Azure SDK's token cycler: callers only wait when
 * the token is no longer usable; before that, one background refresh replaces it while they keep going.
 */

export interface AccessToken {
	accessToken: string;
	/** When the token was received (ms since epoch, by the injected clock). */
	obtainedAtMs: number;
	/** When the authorization server says it ends. */
	expiresAtMs: number;
	/** A refresh token the server returned with it (rotation, RFC 6749 §6 / OAuth 2.1 §4.3.1). */
	refreshToken?: string;
	/** Scope the server granted, when it said (RFC 6749 §5.1). */
	scope?: string;
}

export interface TokenTimeline {
	/** From here on the token counts as expired: callers must wait for a new one. */
	usableUntilMs: number;
	/** From here on one background refresh runs while callers keep using the token. */
	refreshFromMs: number;
}

/** Upper bound of the background refresh window: 5 minutes ahead is plenty for any token endpoint. */
export const MAX_REFRESH_AHEAD_MS = 5 * 60_000;
/** The window is also at most this share of the usable life, so short tokens are not refreshed at once. */
export const REFRESH_AHEAD_SHARE = 0.25;

/**
 * A token counts as expired `expiryBufferSeconds` before its end. When the token's whole lifetime is
 * shorter than twice the buffer, the buffer shrinks to half the lifetime: every token is used for at
 * least the first half of its life instead of being thrown away on arrival (a 30 s token with a 60 s
 * buffer is used for 15 s).
 */
export function tokenTimeline(token: AccessToken, expiryBufferSeconds: number): TokenTimeline {
	const lifetimeMs = Math.max(0, token.expiresAtMs - token.obtainedAtMs);
	const bufferMs = Math.min(expiryBufferSeconds * 1000, lifetimeMs / 2);
	const usableUntilMs = token.expiresAtMs - bufferMs;
	const usableMs = usableUntilMs - token.obtainedAtMs;
	const refreshAheadMs = Math.min(MAX_REFRESH_AHEAD_MS, usableMs * REFRESH_AHEAD_SHARE);
	return { usableUntilMs, refreshFromMs: usableUntilMs - refreshAheadMs };
}

export type TokenDecision = 'use' | 'use-and-refresh' | 'must-refresh';

export function decide(nowMs: number, token: AccessToken | undefined, expiryBufferSeconds: number): TokenDecision {
	if (!token) return 'must-refresh';
	const { usableUntilMs, refreshFromMs } = tokenTimeline(token, expiryBufferSeconds);
	if (nowMs >= usableUntilMs) return 'must-refresh';
	if (nowMs >= refreshFromMs) return 'use-and-refresh';
	return 'use';
}
