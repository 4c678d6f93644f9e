/**
 * Benchmark 1: token endpoint hits when many items and executions run at once through the node
 * (n8n-core's WorkflowExecute, in this process) against the sandbox provider (child process).
 */
import { replaceSharedTokenCache } from '../nodes/shared/auth/token-cache';
import { tokenTimeline } from '../nodes/shared/auth/token-policy';
import { runChatNode } from '../test/harness/workflow-execute';
import type { Sandbox } from '../test/sandbox/sandbox';
import {
	type BenchOptions,
	type BenchSection,
	chatNodeParameters,
	clientCounts,
	counts,
	credentialDataFor,
	fmt,
	median,
	questionItems,
	spread,
	table,
	timed,
} from './lib';

interface ScenarioResult {
	wallMs: number;
	/** Per credential (client id): token requests, tokens issued, chat requests, 401s. */
	perClient: Array<{ client: string; tokenRequests: number; chatRequests: number; chatRejected401: number }>;
	items: number;
	errors: number;
	/** Token lifetime scenario only: token requests the refresh policy calls for at this wall time. */
	expectedTokens?: number;
}

async function runOnce(
	sandbox: Sandbox,
	executions: Array<{ client: 'post' | 'basic'; items: number; concurrency: number }>,
): Promise<ScenarioResult> {
	replaceSharedTokenCache(); // a fresh process-wide cache: as if n8n had just started
	await sandbox.reset();
	const { ms, value: results } = await timed(
		async () =>
			await Promise.all(
				executions.map(
					async (execution, index) =>
						await runChatNode({
							items: questionItems(execution.items, `execution ${index} question`),
							parameters: chatNodeParameters(execution.concurrency),
							credentialData: credentialDataFor(sandbox, execution.client),
						}),
				),
			),
	);
	const clients = [...new Set(executions.map((e) => e.client))];
	const perClient = [];
	for (const client of clients) {
		const c = await clientCounts(sandbox, sandbox.clients[client].id);
		perClient.push({ client, tokenRequests: c.tokenRequests, chatRequests: c.chatRequests, chatRejected401: c.chatRejected401 });
	}
	return {
		wallMs: ms,
		perClient,
		items: results.reduce((n, r) => n + r.items.length, 0),
		errors: results.filter((r) => r.error).length,
	};
}

/**
 * Token requests the policy makes for a run of `wallMs` with tokens of `ttlSeconds`: the first, then
 * one each time the current token enters its refresh window (refresh-ahead, while it is still valid).
 * Token round trips make each cycle a little longer than the window; this counts whole cycles.
 */
function expectedTokenRequests(wallMs: number, ttlSeconds: number, expiryBufferSeconds: number): { expected: number; cycleMs: number } {
	const { refreshFromMs } = tokenTimeline({ accessToken: '', obtainedAtMs: 0, expiresAtMs: ttlSeconds * 1000 }, expiryBufferSeconds);
	return { expected: 1 + Math.floor(wallMs / refreshFromMs), cycleMs: refreshFromMs };
}

export async function tokenRequestsBench(sandbox: Sandbox, options: BenchOptions): Promise<BenchSection> {
	const q = options.quick;
	const single = { items: q ? 200 : 1000, concurrency: 50 };
	const manyCount = q ? 6 : 20;
	const manyItems = q ? 20 : 50;
	const manyConcurrency = 10;
	// Token lifetime scenario: short tokens, slow chat, so one run spans several token lifetimes.
	// 3 s tokens: the policy renews after 1.125 s; a 100 ms call sent at the end of the usable 1.5 s still
	// arrives well before the JWT's exp (whole seconds, so at least 2 s after issue).
	const ttlSeconds = 3;
	const lifetime = { items: q ? 200 : 900, concurrency: 10, latencyMs: 100 };
	// This scenario lasts ~9 s a run: 3 runs unless --runs says otherwise.
	const lifetimeRuns = options.runsGiven ? options.runs : Math.min(options.runs, 3);

	const rows: Array<Array<string | number>> = [];
	const verdicts: string[] = [];
	const notes: string[] = [];

	// Warm-up (module loading, JIT, the sandbox's JWKS cache): not counted.
	await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
	await runOnce(sandbox, [{ client: 'post', items: 20, concurrency: 5 }]);

	// (a) one execution, many items
	const a: ScenarioResult[] = [];
	for (let run = 0; run < options.runs; run++) {
		a.push(await runOnce(sandbox, [{ client: 'post', ...single }]));
		options.log(`  1a run ${run + 1}: ${a.at(-1)!.perClient[0].tokenRequests} token requests, ${fmt(a.at(-1)!.wallMs)} ms`);
	}
	const aTokens = a.map((r) => r.perClient[0].tokenRequests);
	rows.push([
		`1 execution × ${single.items} items, concurrency ${single.concurrency}`,
		'1',
		counts(aTokens),
		'< 1',
		counts(a.map((r) => r.perClient[0].chatRequests)),
		counts(a.map((r) => r.perClient[0].chatRejected401)),
		spread(a.map((r) => r.wallMs / 1000)),
	]);
	verdicts.push(
		aTokens.every((n) => n === 1)
			? `1a: **met**, one token request for ${single.items} items at concurrency ${single.concurrency} in every run.`
			: `1a: **missed**, token requests per run: ${aTokens.join(', ')} (expected 1).`,
	);

	// (b) concurrent executions, two credentials
	const executions = Array.from({ length: manyCount }, (_, i) => ({
		client: (i % 2 === 0 ? 'post' : 'basic') as 'post' | 'basic',
		items: manyItems,
		concurrency: manyConcurrency,
	}));
	const b: ScenarioResult[] = [];
	for (let run = 0; run < options.runs; run++) {
		b.push(await runOnce(sandbox, executions));
		options.log(`  1b run ${run + 1}: ${b.at(-1)!.perClient.map((c) => `${c.client} ${c.tokenRequests}`).join(', ')} token requests`);
	}
	for (const client of ['post', 'basic'] as const) {
		const per = b.map((r) => r.perClient.find((c) => c.client === client)!);
		rows.push([
			`${manyCount} concurrent executions × ${manyItems} items (concurrency ${manyConcurrency} each), credential "${client}" (${manyCount / 2} executions)`,
			'1',
			counts(per.map((c) => c.tokenRequests)),
			'< 1',
			counts(per.map((c) => c.chatRequests)),
			counts(per.map((c) => c.chatRejected401)),
			spread(b.map((r) => r.wallMs / 1000)),
		]);
	}
	const bTokens = b.flatMap((r) => r.perClient.map((c) => c.tokenRequests));
	verdicts.push(
		bTokens.every((n) => n === 1)
			? `1b: **met**, one token request per credential for ${manyCount} concurrent executions (${manyCount * manyItems} items) in every run.`
			: `1b: **missed**, token requests per credential per run: ${bTokens.join(', ')} (expected 1 each).`,
	);

	// (c) a run spanning several token lifetimes
	await sandbox.configure({ tokenTtlSeconds: ttlSeconds, chatLatencyMs: lifetime.latencyMs });
	const c: ScenarioResult[] = [];
	try {
		for (let run = 0; run < lifetimeRuns; run++) {
			const result = await runOnce(sandbox, [{ client: 'post', items: lifetime.items, concurrency: lifetime.concurrency }]);
			result.expectedTokens = expectedTokenRequests(result.wallMs, ttlSeconds, 60).expected;
			c.push(result);
			options.log(`  1c run ${run + 1}: ${result.perClient[0].tokenRequests} token requests (policy: ${result.expectedTokens}), ${fmt(result.wallMs)} ms`);
		}
	} finally {
		await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
	}
	const cycle = expectedTokenRequests(0, ttlSeconds, 60).cycleMs;
	const lifetimes = c.map((r) => r.wallMs / (ttlSeconds * 1000));
	rows.push([
		`1 execution × ${lifetime.items} items, concurrency ${lifetime.concurrency}, chat +${lifetime.latencyMs} ms, token life ${ttlSeconds} s (run spans ${fmt(median(lifetimes), 1)} lifetimes)`,
		counts(c.map((r) => r.expectedTokens!)),
		counts(c.map((r) => r.perClient[0].tokenRequests)),
		`${fmt(median(lifetimes), 1)} lifetimes`,
		counts(c.map((r) => r.perClient[0].chatRequests)),
		counts(c.map((r) => r.perClient[0].chatRejected401)),
		spread(c.map((r) => r.wallMs / 1000)),
	]);
	const cOk = c.every((r) => r.perClient[0].tokenRequests <= r.expectedTokens! && r.perClient[0].chatRejected401 === 0);
	const perLifetime = median(c.map((r) => r.perClient[0].tokenRequests / (r.wallMs / (ttlSeconds * 1000))));
	const hourly = (3600 * 1000) / expectedTokenRequests(0, 3600, 60).cycleMs;
	verdicts.push(
		cOk
			? `1c: "exactly one per token lifetime" is **not met literally, by design**: with ${ttlSeconds} s tokens the node made ${fmt(perLifetime, 1)} token requests per lifetime (median), exactly what its renewal policy asks for (one per ${fmt(cycle / 1000, 2)} s renewal interval, never more) and no chat call was rejected. A token shorter than twice the Expiry Buffer is renewed after 37.5 % of its life; a 1-hour token with the default 60 s buffer is renewed after 54 min, ${fmt(hourly, 2)} requests per lifetime (table below).`
			: `1c: **missed**: token requests ${c.map((r) => r.perClient[0].tokenRequests).join(', ')} vs the renewal policy's ${c.map((r) => r.expectedTokens).join(', ')}; 401s ${c.map((r) => r.perClient[0].chatRejected401).join(', ')}.`,
	);
	if (c.some((r) => r.errors > 0) || a.some((r) => r.errors > 0) || b.some((r) => r.errors > 0)) {
		notes.push('Some executions ended with an error (see the progress log): their counts are still shown.');
	}

	// What the same policy means for real token lifetimes (computed, not measured).
	const policyRows = [3, 60, 300, 3600, 86_400].map((ttl) => {
		const cycleMs = expectedTokenRequests(0, ttl, 60).cycleMs;
		return [`${ttl} s`, fmt(cycleMs / 1000, 1), fmt((ttl * 1000) / cycleMs, 2)];
	});
	notes.push(
		'Renewal policy with the default Expiry Buffer of 60 s (computed from `tokenTimeline`, not measured): one token request per renewal interval, while the current token is still valid. Short test tokens are renewed early in their life (the buffer shrinks to half the life); real ones at about 90 % of it:\n\n' +
			table(['token lifetime', 'renewed after s', 'token requests per lifetime'], policyRows),
	);

	return {
		title: '1. Token requests',
		about: [
			'The OAuth2 LLM Chat node in n8n-core\'s real `WorkflowExecute` (test harness `runChatNode`, in the benchmark process), against the sandbox provider (oidc-provider token endpoint + token-verifying chat API, in its own process). Each run starts with a fresh process-wide token cache, as a freshly started n8n would, and zeroed sandbox counters.',
			'- **token requests** = requests that reached the sandbox\'s token endpoint for that credential (its own counter), per run; one value when every run agreed, else each run\'s value.',
			'- **expected**: the target, one per credential per token lifetime. For the short-token row it is what the renewal policy asks for at that wall time: the first token, then one renewal each time the current token enters its refresh window (`nodes/shared/auth/token-policy.ts`: with a 3 s token the expiry buffer shrinks to half the life, 1.5 s, and renewal starts 25 % of the usable life before that, so every 1.125 s plus a token round trip). That row runs ' + String(lifetimeRuns) + ' times (about 9 s each).',
			'- **chat requests** / **401s**: requests to `/v1/chat/completions` and those the chat API rejected for a bad or expired token.',
			'- **wall s**: the whole `runChatNode` call(s), median (min–max) over the runs.',
			'- The two credentials in the concurrent-executions row are the sandbox clients `sandbox-client` (client_secret_post) and `sandbox-basic-client` (client_secret_basic), alternating between executions.',
		].join('\n'),
		tables: [table(['scenario', 'expected token requests', 'token requests', 'token lifetimes', 'chat requests', '401s', 'wall s'], rows)],
		verdicts,
		notes,
	};
}
