import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { decide, tokenTimeline, MAX_REFRESH_AHEAD_MS } from '../nodes/shared/auth/token-policy';

const HOUR_MS = 3600_000;
const token = (lifetimeMs: number) => ({ accessToken: 't', obtainedAtMs: 0, expiresAtMs: lifetimeMs });

describe('token policy', () => {
	it('a 1-hour token with a 60 s buffer counts as expired 60 s before its end', () => {
		const { usableUntilMs } = tokenTimeline(token(HOUR_MS), 60);
		assert.equal(usableUntilMs, HOUR_MS - 60_000);
		assert.equal(decide(HOUR_MS - 60_001, token(HOUR_MS), 60), 'use-and-refresh');
		assert.equal(decide(HOUR_MS - 60_000, token(HOUR_MS), 60), 'must-refresh');
	});

	it('a 1-hour token is renewed in the background during the 5 minutes before that', () => {
		const { refreshFromMs, usableUntilMs } = tokenTimeline(token(HOUR_MS), 60);
		assert.equal(usableUntilMs - refreshFromMs, MAX_REFRESH_AHEAD_MS);
		assert.equal(decide(refreshFromMs - 1, token(HOUR_MS), 60), 'use');
		assert.equal(decide(refreshFromMs, token(HOUR_MS), 60), 'use-and-refresh');
	});

	it('a token shorter than the buffer is still used for the first half of its life', () => {
		const thirtySeconds = token(30_000);
		assert.equal(tokenTimeline(thirtySeconds, 60).usableUntilMs, 15_000);
		assert.equal(decide(0, thirtySeconds, 60), 'use');
		assert.equal(decide(14_999, thirtySeconds, 60), 'use-and-refresh');
		assert.equal(decide(15_000, thirtySeconds, 60), 'must-refresh');
	});

	it('a zero buffer uses the token to its last millisecond', () => {
		assert.equal(decide(HOUR_MS - 1, token(HOUR_MS), 0), 'use-and-refresh');
		assert.equal(decide(HOUR_MS, token(HOUR_MS), 0), 'must-refresh');
	});

	it('no token, or an already expired one, must be fetched', () => {
		assert.equal(decide(0, undefined, 60), 'must-refresh');
		assert.equal(decide(10, token(0), 60), 'must-refresh');
	});
});
