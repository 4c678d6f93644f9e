/**
 * Refresh grants of one refresh token, one at a time, each sending the token the previous one rotated
 * to. Here a mutex is the right tool: the grants must take turns, not share one answer, since two at
 * once would replay one token, which Auth0, Okta, Keycloak and Entra treat as reuse and answer by
 * revoking the whole family.
 */
import { Mutex } from 'async-mutex';

export class RefreshTokenTurns {
	/**
	 * The newest refresh token of each family. Kept apart from the access-token cache's LRU: evicting one
	 * would make the next grant replay the stored, already rotated token.
	 */
	private readonly rotated = new Map<string, string>();
	private readonly turns = new Map<string, Mutex>();

	/**
	 * Runs `grant` in the family's turn with its newest refresh token (`storedRefreshToken` until the
	 * server first rotates it) and keeps the one the server answers with. `rotated`: the server sent a
	 * new refresh token. Client-credentials answers may carry a refresh token too (RFC 6749 §4.4.3 says
	 * they should not); only grants run here change the family.
	 */
	async run<T extends { refreshToken?: string }>(
		family: string,
		storedRefreshToken: string,
		grant: (refreshToken: string) => Promise<T>,
	): Promise<{ issued: T; rotated: boolean }> {
		return await this.turn(family).runExclusive(async () => {
			const refreshToken = this.rotated.get(family) ?? storedRefreshToken;
			const issued = await grant(refreshToken);
			const rotated = !!issued.refreshToken && issued.refreshToken !== refreshToken;
			if (rotated) this.rotated.set(family, issued.refreshToken!);
			return { issued, rotated };
		});
	}

	clear(): void {
		this.rotated.clear();
		this.turns.clear();
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
