/**
 * A token renewal for the whole n8n cluster (queue mode, multi-main), over the shared state of
 * state/cluster-tokens.ts, so that the cluster asks the provider once per token lifetime:
 *
 * 1. take the token another process published, if it is usable and newer than this process's own;
 * 2. else renew under the lease, after reading again inside it (the holder before may just have
 *    published), and hand the token to the callers at once;
 * 3. then publish it. A rotated refresh token is committed with the generation check, and tried again
 *    while Redis does not answer and the lease may still be this process's; one that could not be
 *    published stays this process's newest, sent by its next grant while the family has not moved on.
 *
 * The refresh grant sends the family's newest refresh token, and asks Redis before every attempt
 * whether the lease is still this process's: a process paused past its lease must not send what the
 * next holder may have sent already. A grant whose answer was lost marks the family in Redis, so no
 * process sends that token blindly (issue 19 §6, cluster-wide).
 *
 * 'alone': the cluster is unavailable, or (client credentials) another process has held the lease
 * too long; the caller renews by itself under its own rules.
 */
import type { Clock } from '../core/clock';
import { OAuth2AuthenticationError } from '../core/errors';
import { ClusterUnavailableError, LeaseBusyError, type ClusterTokenState, type HeldLease, type SharedNames, type SharedSnapshot, type StoredToken } from '../state/cluster-tokens';
import { LOST_REFRESH_PAUSE_MS, lostRefreshError } from './refresh-turns';
import { decide, type AccessToken } from './token-policy';

/**
 * A renewal that needs the cluster (n8n's Redis) and could not have it: retryable, and it sent no
 * refresh token, since a second process sending it could make the provider revoke it.
 */
export class ClusterRenewalError extends OAuth2AuthenticationError {}

export function clusterRenewalError(providerName: string, reason: string): ClusterRenewalError {
	return new ClusterRenewalError(`The token of ${providerName} could not be renewed: ${reason}, and its refresh token is sent only by the process that holds the cluster's lease`, {
		providerName,
		retryable: true,
		hint: "Retry later (for example with the node's Retry On Fail). A second process sending the same refresh token would make a provider that detects reuse revoke it. If this persists, check n8n's Redis.",
	});
}

export interface RenewalLogger {
	warn(message: string): void;
	info?(message: string): void;
}

export interface ClusterRenewalRequest {
	names: SharedNames;
	/** The token being renewed (undefined: none usable); a published token must be newer to be taken. */
	current?: AccessToken;
	/** An access token the API rejected (401): never taken from Redis again. */
	rejected?: string;
	expiryBufferSeconds: number;
	/** The longest one token request can take: the lease is made to cover it before each attempt. */
	attemptMs: number;
	providerName: string;
	logger?: RenewalLogger;
	clock: Clock;
	/** Any grant but the refresh grant: one token request with its retries. */
	request(): Promise<AccessToken>;
	/** The refresh grant, if this is one: sends `choose(…)`; `beforeAttempt` runs before every attempt and stops it by throwing. */
	refresh?: {
		stored: string;
		grant(choose: (rotatedHere: string | undefined) => Promise<string>, beforeAttempt: () => Promise<void>): Promise<AccessToken>;
		/** This process saw the provider rotate this family. */
		knownToRotate(): boolean;
		/** Another process's refresh token is the family's newest. */
		adopt(refreshToken: string): void;
		/** The family moved on past this process's lost grant: its own pause no longer applies. */
		forgetLost(): void;
	};
}

/** Wall clock minus this process's monotonic clock: Redis holds wall-clock times, which every process reads alike. */
const wallOffsetMs = (clock: Clock) => clock.wallNowMs() - clock.nowMs();

export class ClusterRenewal {
	/** Rotated refresh tokens this process got and could not publish, by family name, with the generation they follow. */
	private readonly unpublished = new Map<string, { refreshToken: string; familyGeneration: string }>();

	constructor(private readonly cluster: ClusterTokenState) {}

	async renew(request: ClusterRenewalRequest): Promise<AccessToken | 'alone'> {
		const { names, logger } = request;
		try {
			const seen = await this.cluster.read(names);
			this.noteRecovery(logger);
			const adopted = this.adoptable(seen, request);
			if (adopted) return adopted;
			let handOver!: (token: AccessToken) => void;
			const handed = new Promise<AccessToken>((resolve) => (handOver = resolve));
			const renewal = this.cluster.withLease(names, async (lease) => {
				const latest = await this.cluster.read(names);
				const adoptedNow = this.adoptable(latest, request);
				if (adoptedNow) return adoptedNow;
				if (!request.refresh) {
					const token = await request.request();
					handOver(token);
					// An access token that does not reach Redis costs another process one token request, nothing more.
					await this.cluster.commit(names, latest, { token: this.stored(token, request.clock) }, request.clock.wallNowMs()).catch((error: unknown) => this.noteOutage(error, logger));
					return token;
				}
				return await this.refreshUnderLease(lease, latest, request, handOver);
			});
			// After the hand-over only publishing is left; its failures are reported where they happen.
			renewal.catch(() => undefined);
			return await Promise.race([handed, renewal]);
		} catch (error) {
			if (error instanceof LeaseBusyError) {
				if (request.refresh) throw clusterRenewalError(request.providerName, 'another n8n process has been renewing it for too long');
				return 'alone';
			}
			if (!(error instanceof ClusterUnavailableError)) throw error;
			this.noteOutage(error, logger);
			return 'alone';
		}
	}

	private async refreshUnderLease(lease: HeldLease, latest: SharedSnapshot, request: ClusterRenewalRequest, handOver: (token: AccessToken) => void): Promise<AccessToken> {
		const { names, clock, providerName, logger } = request;
		const refresh = request.refresh!;
		const familyName = names.family!;
		const family = latest.family;
		if (family?.lostUntilWallMs !== undefined && clock.wallNowMs() < family.lostUntilWallMs) {
			throw lostRefreshError(providerName, family.lostUntilWallMs >= Number.MAX_SAFE_INTEGER ? undefined : family.lostUntilWallMs - clock.wallNowMs());
		}
		const knownToRotate = family?.rotated === true || refresh.knownToRotate();
		// This process's own rotated token, never published: still the newest while nobody committed since.
		const pending = this.unpublished.get(familyName);
		if (pending && pending.familyGeneration !== latest.familyGeneration) this.unpublished.delete(familyName);
		const newest = pending && pending.familyGeneration === latest.familyGeneration ? pending.refreshToken : family?.refreshToken;
		let sent: string | undefined;
		let token: AccessToken;
		try {
			token = await refresh.grant(
				async (rotatedHere) => (sent = newest ?? rotatedHere ?? refresh.stored),
				async () => {
					if (!(await lease.stillHeld(request.attemptMs))) throw clusterRenewalError(providerName, 'this process lost the lease while it was paused');
				},
			);
		} catch (error) {
			if (error instanceof OAuth2AuthenticationError && error.refreshTokenMayBeSpent && sent) {
				// Spent for good where the family is known to rotate; else one more try after the pause, as alone.
				const lostUntilWallMs = knownToRotate ? Number.MAX_SAFE_INTEGER : clock.wallNowMs() + LOST_REFRESH_PAUSE_MS;
				const marked = await this.cluster
					.commitWhileLeased(names, latest, { family: { refreshToken: sent, rotated: knownToRotate, lostUntilWallMs } }, () => clock.wallNowMs(), lease)
					.catch(() => 'unreachable' as const);
				// Refused: another process committed to the family since (this one was paused past its lease): the
				// token it lost is not the newest any more, and its grants go on from Redis's.
				if (marked === 'refused') refresh.forgetLost();
			}
			throw error;
		}
		const rotatedNow = token.refreshToken !== undefined && token.refreshToken !== sent;
		const next = rotatedNow ? token.refreshToken! : sent!;
		// Written when it changes what Redis says (a rotation, an unpublished token, a marker to clear); the
		// credential's own refresh token never needs to be.
		const changed = next !== (family?.refreshToken ?? refresh.stored) || family?.lostUntilWallMs !== undefined;
		const familyNext = changed ? { refreshToken: next, rotated: rotatedNow || knownToRotate } : undefined;
		// The callers get the token after the first try to publish it (at most one Redis call): a process that
		// exits right after its run (`n8n execute`) has then most likely published a rotated refresh token.
		const published = { token: this.stored(token, clock), family: familyNext };
		const wallNowMs = () => clock.wallNowMs();
		// The snapshot the last commit was checked against: what an unpublished token follows.
		let base = latest;
		let outcome = await this.cluster.commitWhileLeased(names, base, published, wallNowMs, lease, () => handOver(token));
		if (outcome === 'refused') {
			const newest = await this.cluster.read(names).catch(() => undefined);
			if (!newest) {
				// Refused, then unreadable: what holds the family now is unknown; keep this grant's token.
				outcome = 'unreachable';
			} else if (familyNext && newest.family && newest.family.refreshToken === sent && newest.family.lostUntilWallMs === undefined) {
				// The family's generation moved but it still holds the token this grant sent, with no marker: nobody
				// rotated it meanwhile, so this grant's rotation is the newest. Commit it over that.
				base = newest;
				outcome = await this.cluster.commitWhileLeased(names, base, published, wallNowMs, lease);
			} else if (newest.family) {
				refresh.adopt(newest.family.refreshToken);
			}
			if (outcome === 'refused') logger?.warn(`OAuth2 LLM: another n8n process renewed the token of ${providerName} while this one was late; its newer state stands`);
		}
		if (outcome !== 'unreachable') {
			this.unpublished.delete(familyName);
		} else if (familyNext) {
			this.unpublished.set(familyName, { refreshToken: next, familyGeneration: base.familyGeneration });
			logger?.warn(
				`OAuth2 LLM: ${providerName} rotated its refresh token and n8n's Redis did not take the new one; this process keeps it and sends it next. Other processes may send the older one meanwhile: if the provider then answers invalid_grant, put a fresh refresh token in the credential.`,
			);
		}
		return token;
	}

	/** A published token this process takes instead of renewing: usable, newer than its own, never a rejected one. */
	private adoptable(snapshot: SharedSnapshot, request: ClusterRenewalRequest): AccessToken | undefined {
		const stored = snapshot.token;
		if (!stored || stored.accessToken === request.current?.accessToken || stored.accessToken === request.rejected) return undefined;
		const offsetMs = wallOffsetMs(request.clock);
		const token: AccessToken = { accessToken: stored.accessToken, obtainedAtMs: stored.obtainedAtWallMs - offsetMs, expiresAtMs: stored.expiresAtWallMs - offsetMs, scope: stored.scope };
		if (decide(request.clock.nowMs(), token, request.expiryBufferSeconds) === 'must-refresh') return undefined;
		if (request.current && token.expiresAtMs <= request.current.expiresAtMs) return undefined;
		return token;
	}

	/** In wall-clock time, which every process of the cluster reads alike. */
	private stored(token: AccessToken, clock: Clock): StoredToken {
		const offsetMs = wallOffsetMs(clock);
		return { accessToken: token.accessToken, obtainedAtWallMs: token.obtainedAtMs + offsetMs, expiresAtWallMs: token.expiresAtMs + offsetMs, scope: token.scope };
	}

	private noteOutage(error: unknown, logger: RenewalLogger | undefined): void {
		if ((error as { beganOutage?: boolean })?.beganOutage) {
			logger?.warn(`OAuth2 LLM: ${(error as Error).message}; each n8n process renews its tokens on its own until Redis answers again (a refresh token is not sent meanwhile)`);
		}
	}

	private noteRecovery(logger: RenewalLogger | undefined): void {
		if (!this.cluster.recovered) return;
		this.cluster.recovered = false;
		const message = "OAuth2 LLM: n8n's Redis answers again; tokens are shared across the cluster again";
		if (logger?.info) logger.info(message);
		else logger?.warn(message);
	}
}
