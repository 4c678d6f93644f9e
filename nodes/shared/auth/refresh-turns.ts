/**
 * Refresh grants of one refresh token, one at a time, each sending the token the previous one rotated
 * to. Here a mutex is the right tool: the grants must take turns, not share one answer, since two at
 * once would replay one token, which Auth0, Okta, Keycloak and Entra treat as reuse and answer by
 * revoking the whole family.
 *
 * A grant whose answer was lost (a deadline, a cut connection) may have consumed the token: the server
 * may have rotated it and the new one never arrived. Sending the old one again would be reuse, so no
 * caller of the family sends it blindly (issue 19 §6):
 * - when the server is known to rotate (this process saw it rotate this family), the token counts as
 *   spent: every later grant fails at once, until the credential holds another refresh token;
 * - otherwise (a server that may not rotate at all, where a replay is harmless) the family pauses for
 *   LOST_REFRESH_PAUSE_MS, and then one grant tries the token again: it either works, or the server
 *   answers invalid_grant, which says clearly what to do.
 */
import { Mutex } from 'async-mutex';

import { OAuth2AuthenticationError } from '../core/errors';

/** How long a family whose last grant lost its answer sends nothing (the server is not known to rotate). */
export const LOST_REFRESH_PAUSE_MS = 60_000;

const FRESH_TOKEN_HINT = 'Put a fresh refresh token in the credential (the provider may have revoked this one, or sent a new one that never arrived).';

interface LostGrant {
	/** No grant before this (clock ms); Infinity when the token counts as spent. */
	untilMs: number;
}

/**
 * A refresh token not sent again because a grant that sent it lost its answer. `waitMs`: how long until
 * one more try; undefined: never (the provider is known to rotate, so it may have used it already).
 */
export function lostRefreshError(providerName: string, waitMs: number | undefined): OAuth2AuthenticationError {
	const spent = waitMs === undefined;
	return new OAuth2AuthenticationError(
		spent
			? `The refresh token of ${providerName} is not sent again: its last refresh got no answer, and ${providerName} rotates refresh tokens, so it may have used this one already`
			: `The refresh token of ${providerName} is not sent for another ${Math.ceil(waitMs / 1000)} s: its last refresh got no answer, and the server may have used it already`,
		{ providerName, retryable: false, hint: spent ? FRESH_TOKEN_HINT : `The next try after the pause sends it once more; if the provider answers invalid_grant then: ${FRESH_TOKEN_HINT}` },
	);
}

export class RefreshTokenTurns {
	/**
	 * The newest refresh token of each family. Kept apart from the access-token cache's LRU: evicting one
	 * would make the next grant replay the stored, already rotated token.
	 */
	private readonly rotated = new Map<string, string>();
	private readonly turns = new Map<string, Mutex>();
	private readonly lost = new Map<string, LostGrant>();
	private readonly rotates = new Map<string, boolean>();

	constructor(private readonly nowMs: () => number) {}

	/**
	 * Runs `grant` in the family's turn with its newest refresh token and keeps the one the server answers
	 * with. `choose` picks the token to send from the one this process last saw the server rotate to
	 * (undefined before that): the cluster's newest wins over it, a file kept by this process falls back
	 * behind it, and the credential's stored token comes last. `rotated`: the server sent a new refresh
	 * token; `sent`: the one this grant sent. Client-credentials answers may carry a refresh token too
	 * (RFC 6749 §4.4.3 says they should not); only grants run here change the family.
	 */
	async run<T extends { refreshToken?: string }>(
		family: string,
		choose: (rotatedHere: string | undefined) => string | Promise<string>,
		grant: (refreshToken: string) => Promise<T>,
		providerName: string,
	): Promise<{ issued: T; rotated: boolean; sent: string }> {
		return await this.turn(family).runExclusive(async () => {
			this.refuseWhileLost(family, providerName);
			const refreshToken = await choose(this.rotated.get(family));
			let issued: T;
			try {
				issued = await grant(refreshToken);
			} catch (error) {
				if (error instanceof OAuth2AuthenticationError && error.refreshTokenMayBeSpent) {
					// Spent for good where this process saw the server rotate (not where it only adopted another process's token).
					this.lost.set(family, { untilMs: this.rotates.get(family) === true ? Infinity : this.nowMs() + LOST_REFRESH_PAUSE_MS });
				}
				throw error;
			}
			this.lost.delete(family);
			const rotated = !!issued.refreshToken && issued.refreshToken !== refreshToken;
			if (rotated) this.rotated.set(family, issued.refreshToken!);
			else if (this.rotated.has(family)) this.rotated.set(family, refreshToken);
			this.rotates.set(family, rotated);
			return { issued, rotated, sent: refreshToken };
		});
	}

	/** Whether the server rotated this family's token at its last grant here (undefined: no grant yet). */
	rotatesAtLastGrant(family: string): boolean | undefined {
		return this.rotates.get(family);
	}

	/** Another process's grant rotated the family further: its token is the newest from now on. */
	adopt(family: string, refreshToken: string): void {
		this.rotated.set(family, refreshToken);
	}

	/** The family moved on past a grant whose answer was lost here (another process rotated it since). */
	forgetLost(family: string): void {
		this.lost.delete(family);
	}

	clear(): void {
		this.rotated.clear();
		this.turns.clear();
		this.lost.clear();
		this.rotates.clear();
	}

	private refuseWhileLost(family: string, providerName: string): void {
		const lost = this.lost.get(family);
		if (!lost) return;
		const nowMs = this.nowMs();
		if (nowMs >= lost.untilMs) {
			this.lost.delete(family);
			return;
		}
		throw lostRefreshError(providerName, lost.untilMs === Infinity ? undefined : lost.untilMs - nowMs);
	}

	private turn(family: string): Mutex {
		let mutex = this.turns.get(family);
		if (!mutex) {
			mutex = new Mutex();
			this.turns.set(family, mutex);
		}
		return mutex;
	}
}
