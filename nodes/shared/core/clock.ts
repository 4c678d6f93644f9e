/**
 * Time and chance, injected. Token lifetimes are hours and backoffs are seconds; tests replace this
 * with a fake clock so a 1-hour token or a 7-second backoff runs in milliseconds.
 */
export interface Clock {
	/**
	 * Monotonic milliseconds, for scheduling (token expiry, refresh windows, throttles): a wall-clock
	 * jump (NTP, a VM resumed, an admin) never makes an expired token look valid or the reverse.
	 */
	nowMs(): number;
	/** Wall-clock milliseconds since the epoch, only to read the server's dates (expires_on, JWT exp, Retry-After dates). */
	wallNowMs(): number;
	/** Resolves after `ms`, or rejects at once when `signal` aborts (a cancelled n8n execution). */
	sleep(ms: number, signal?: AbortSignal): Promise<void>;
	/** Uniform in [0, 1), for backoff jitter. */
	random(): number;
}

export class AbortedError extends Error {
	constructor() {
		super('The execution was cancelled');
		this.name = 'AbortedError';
	}
}

export const systemClock: Clock = {
	// performance.now() is monotonic; timeOrigin only makes the numbers look like epoch milliseconds.
	nowMs: () => performance.timeOrigin + performance.now(),
	wallNowMs: () => Date.now(),
	random: () => Math.random(),
	sleep: async (ms, signal) =>
		await new Promise<void>((resolve, reject) => {
			if (signal?.aborted) {
				reject(new AbortedError());
				return;
			}
			const onAbort = () => {
				clearTimeout(timer);
				reject(new AbortedError());
			};
			const timer = setTimeout(() => {
				signal?.removeEventListener('abort', onAbort);
				resolve();
			}, ms);
			signal?.addEventListener('abort', onAbort, { once: true });
		}),
};

/** The shared promise, or this caller's abort, whichever comes first; the promise goes on either way. */
export async function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
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
