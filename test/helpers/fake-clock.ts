/**
 * A clock for tests: time moves only when a test (or a sleep) moves it, so a 1-hour token or a
 * 7-second backoff takes no real time. Sleeps are recorded so tests can assert the backoff schedule.
 */
import type { Clock } from '../../nodes/shared/core/clock';
import { AbortedError } from '../../nodes/shared/core/clock';

export class FakeClock implements Clock {
	now: number;
	/** Every sleep asked for, in ms, in order. */
	readonly sleeps: number[] = [];
	/** What random() returns: 0.5 puts jitter in the middle of its range. */
	randomValue = 0.5;
	/** When true, sleeps wait for release() instead of resolving at once (to catch locks held across them). */
	holdSleeps = false;
	private readonly held: Array<() => void> = [];

	constructor(startMs = Date.UTC(2026, 0, 1)) {
		this.now = startMs;
	}

	/** Wall clock minus monotonic clock: jumpWallClock() moves only the wall clock, as NTP or a resumed VM do. */
	wallOffsetMs = 0;

	nowMs(): number {
		return this.now;
	}

	wallNowMs(): number {
		return this.now + this.wallOffsetMs;
	}

	jumpWallClock(ms: number): void {
		this.wallOffsetMs += ms;
	}

	advance(ms: number): void {
		this.now += ms;
	}

	random(): number {
		return this.randomValue;
	}

	async sleep(ms: number, signal?: AbortSignal): Promise<void> {
		if (signal?.aborted) throw new AbortedError();
		this.sleeps.push(ms);
		if (this.holdSleeps) await new Promise<void>((resolve) => this.held.push(resolve));
		this.now += ms;
	}

	get heldSleeps(): number {
		return this.held.length;
	}

	releaseSleeps(): void {
		for (const resolve of this.held.splice(0)) resolve();
	}
}
