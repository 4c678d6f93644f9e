/**
 * A token endpoint that asks for a longer pause (Retry-After) than the retry schedule will wait. Until
 * the pause ends nothing is sent for that configuration and every caller fails fast with the server's
 * reason, instead of each one retrying into the window and lengthening it.
 */
import { OAuth2AuthenticationError } from '../core/errors';

export class ThrottleWindow {
	private untilMs = 0;
	private cause?: OAuth2AuthenticationError;

	/** True while a pause the server asked for is running at `nowMs` (clock ms). */
	holds(nowMs: number): boolean {
		return nowMs < this.untilMs;
	}

	/** Opens the window when `error` asks for a pause beyond `maxRetryAfterMs`, the retry schedule's cap. */
	record(error: unknown, nowMs: number, maxRetryAfterMs: number): void {
		if (error instanceof OAuth2AuthenticationError && (error.retryAfterMs ?? 0) > maxRetryAfterMs) {
			this.untilMs = nowMs + error.retryAfterMs!;
			this.cause = error;
		}
	}

	/** What a caller gets while the window holds: how long it still runs, and the server's reason. */
	error(providerName: string, nowMs: number): OAuth2AuthenticationError {
		const seconds = Math.ceil((this.untilMs - nowMs) / 1000);
		return new OAuth2AuthenticationError(
			`Token requests to ${providerName} are paused for another ${seconds} s: ${this.cause?.message ?? 'the token endpoint asked to wait'}`,
			{ providerName, status: this.cause?.status, retryable: false, hint: 'The provider is throttling this client; wait, or lower how often workflows run.' },
		);
	}
}
