/**
 * Times when no token request is sent for a configuration, and every caller fails fast instead:
 * - the token endpoint asked for a longer pause (Retry-After) than the retry schedule will wait; each
 *   caller retrying into the window would only lengthen it;
 * - the token endpoint refused the client itself (invalid_client, unauthorized_client…): the same request
 *   would meet the same answer. With Continue On Fail, 100 items would otherwise send 100 requests with
 *   bad credentials, which an identity provider may count towards locking the client out. The pause is
 *   short, so a fix made at the provider shows within seconds; a fix in the credential is a new
 *   configuration and is not held back at all.
 */
import { markScrubbed, OAuth2AuthenticationError, scrubbedSecretsOf } from '../core/errors';

/** How long a refusal of the client itself is answered from memory. */
export const REFUSED_CLIENT_PAUSE_MS = 10_000;

/** RFC 6749 §5.2 answers that no retry of the same request can change. */
const REFUSALS = new Set(['invalid_client', 'unauthorized_client', 'invalid_grant', 'invalid_scope', 'unsupported_grant_type', 'access_denied']);
const refusesClient = (error: OAuth2AuthenticationError | undefined) => error?.oauthError !== undefined && REFUSALS.has(error.oauthError);

export class ThrottleWindow {
	private untilMs = 0;
	private cause?: OAuth2AuthenticationError;

	/** True while a pause runs at `nowMs` (clock ms). */
	holds(nowMs: number): boolean {
		return nowMs < this.untilMs;
	}

	/** Opens the window when `error` asks for a pause beyond `maxRetryAfterMs` (the retry cap), or refuses the client. */
	record(error: unknown, nowMs: number, maxRetryAfterMs: number): void {
		if (!(error instanceof OAuth2AuthenticationError)) return;
		const pauseMs =
			(error.retryAfterMs ?? 0) > maxRetryAfterMs
				? error.retryAfterMs!
				: refusesClient(error)
					? REFUSED_CLIENT_PAUSE_MS
					: 0;
		if (pauseMs === 0) return;
		this.untilMs = nowMs + pauseMs;
		this.cause = error;
	}

	/** What a caller gets while the window holds: the server's own answer, and how long it is remembered. */
	error(providerName: string, nowMs: number): OAuth2AuthenticationError {
		const seconds = Math.ceil((this.untilMs - nowMs) / 1000);
		const cause = this.cause;
		if (cause && refusesClient(cause)) {
			const remembered = new OAuth2AuthenticationError(`${cause.message} (the same answer is given without asking again for another ${seconds} s)`, {
				providerName,
				status: cause.status,
				oauthError: cause.oauthError,
				oauthErrorDescription: cause.oauthErrorDescription,
				retryable: false,
				hint: cause.hint,
				originalError: cause.originalError,
			});
			markScrubbed(remembered, scrubbedSecretsOf(cause));
			return remembered;
		}
		return new OAuth2AuthenticationError(
			`Token requests to ${providerName} are paused for another ${seconds} s: ${cause?.message ?? 'the token endpoint asked to wait'}`,
			{ providerName, status: cause?.status, retryable: false, hint: 'The provider is throttling this client; wait, or lower how often workflows run.' },
		);
	}
}
