/**
 * Benchmark 7 (issues 11 and 20): token requests per credential per token lifetime in queue mode (main +
 * 2 and + 4 workers on Redis and PostgreSQL) against the same work in one n8n process, and what sharing
 * tokens through Redis costs a queue-mode execution. The work: a published Schedule Trigger every second
 * through the OAuth2 LLM Chat node, for several token lifetimes. Workers share their tokens through n8n's
 * Redis (issue 20), so the cluster should ask about as often as one process.
 */
import * as path from 'node:path';

import { scheduleExampleWorkflow } from '../examples/workflows';
import { N8nInstance } from '../test/harness/n8n';
import { queueModeEnv, startPostgres, startRedis } from '../test/harness/services';
import type { Sandbox } from '../test/sandbox/sandbox';
import { type BenchOptions, type BenchSection, fmt, median, quantile, table } from './lib';

const TOKEN_TTL_S = 8;
const BUFFER_S = 1;
const CREDENTIAL = { id: 'benchQueueCred01', name: 'Bench queue (8 s tokens)' };

interface Outcome {
	tokens: number;
	executions: number;
	rejected401: number;
	spanMs: number;
	/** Per execution, startedAt → stoppedAt as n8n recorded it (queue mode only: PostgreSQL). */
	durationsMs: number[];
}

interface Setup {
	workers: number;
	sharing: boolean;
}

async function runSchedule(sandbox: Sandbox, repoRoot: string, runForMs: number, setup: Setup, log: (message: string) => void): Promise<Outcome> {
	const queue = setup.workers > 0;
	const redis = queue ? await startRedis() : undefined;
	const postgres = queue ? await startPostgres() : undefined;
	const env = { ...(redis && postgres ? queueModeEnv(redis, postgres) : {}), ...(setup.sharing ? {} : { OAUTH2_LLM_SHARED_TOKENS: 'false' }) };
	const n8n = await N8nInstance.create({ env });
	try {
		await n8n.installCommunityPackage(repoRoot);
		const client = sandbox.clients.post;
		await n8n.importCredentials([
			{
				...CREDENTIAL,
				type: 'llmProviderOAuth2Api',
				data: { baseUrl: sandbox.baseUrl, tokenUrl: sandbox.tokenUrl, clientId: client.id, clientSecret: client.secret, expiryBufferSeconds: BUFFER_S },
			},
		]);
		const id = await n8n.importWorkflow(scheduleExampleWorkflow({ id: 'benchQueueSched1', seconds: 1, credentialId: CREDENTIAL.id, credentialName: CREDENTIAL.name }));
		await n8n.start({ timeoutMs: 180_000 });
		await n8n.setupOwner();
		for (let worker = 1; worker <= setup.workers; worker++) await n8n.startWorker(`w${worker}`);
		await sandbox.reset();
		await sandbox.configure({ tokenTtlSeconds: TOKEN_TTL_S });
		log(`  ${describe(setup)}: schedule every 1 s for ${runForMs / 1000} s…`);
		const started = Date.now();
		await n8n.activateWorkflow(id);
		await new Promise((resolve) => setTimeout(resolve, runForMs));
		await n8n.rest('POST', `/rest/workflows/${id}/deactivate`);
		const spanMs = Date.now() - started;
		await new Promise((resolve) => setTimeout(resolve, 3000));
		const counts = (await sandbox.stats()).clients[client.id];
		const durationsMs = postgres
			? (await postgres.query(`SELECT (extract(epoch from "stoppedAt" - "startedAt") * 1000)::int FROM execution_entity WHERE "workflowId" = '${id}' AND status = 'success'`))
					.trim()
					.split('\n')
					.filter(Boolean)
					.map(Number)
			: [];
		return { tokens: counts?.tokensIssued ?? 0, executions: counts?.chatRequests ?? 0, rejected401: counts?.chatRejected401 ?? 0, spanMs, durationsMs };
	} finally {
		await n8n.dispose();
		await postgres?.stop();
		await redis?.stop();
	}
}

const describe = (setup: Setup) =>
	setup.workers === 0 ? 'single process' : `queue mode, ${setup.workers} workers${setup.sharing ? '' : ', sharing off'}`;

export async function queueBench(sandbox: Sandbox, options: BenchOptions, repoRoot: string): Promise<BenchSection> {
	const runForMs = options.quick ? 16_000 : 40_000;
	const root = path.resolve(repoRoot);
	const setups: Setup[] = [
		{ workers: 0, sharing: true },
		{ workers: 2, sharing: true },
		{ workers: 4, sharing: true },
		{ workers: 2, sharing: false },
	];
	const outcomes: Outcome[] = [];
	for (const setup of setups) outcomes.push(await runSchedule(sandbox, root, runForMs, setup, options.log));
	await sandbox.configure({ tokenTtlSeconds: 3600 });
	const [single, queue2, queue4, queue2Off] = outcomes;
	const perLifetime = (outcome: Outcome) => outcome.tokens / (outcome.spanMs / (TOKEN_TTL_S * 1000));
	const boundOf = (outcome: Outcome) => Math.ceil(outcome.spanMs / (0.75 * (TOKEN_TTL_S - BUFFER_S) * 1000)) + 1;
	const tokenRow = (setup: Setup, outcome: Outcome) => [
		describe(setup),
		outcome.executions,
		outcome.tokens,
		fmt(perLifetime(outcome), 2),
		`${fmt(perLifetime(outcome) / perLifetime(single), 2)}×`,
		boundOf(outcome),
		outcome.rejected401,
	];
	const durationRow = (setup: Setup, outcome: Outcome) => [describe(setup), outcome.durationsMs.length, median(outcome.durationsMs), quantile(outcome.durationsMs, 0.9)];
	const tokenRatio = Math.max(perLifetime(queue2), perLifetime(queue4)) / perLifetime(single);
	const durationRatio = median(queue2.durationsMs) / median(queue2Off.durationsMs);
	return {
		title: 'Token requests in queue mode',
		about:
			`A published Schedule Trigger every second through the OAuth2 LLM Chat node for ${runForMs / 1000} s, tokens of ${TOKEN_TTL_S} s with a ${BUFFER_S} s Expiry Buffer (about ${fmt(runForMs / 1000 / TOKEN_TTL_S, 1)} lifetimes): in one n8n process (regular mode, SQLite), and in queue mode (main + 2 or 4 workers, Redis and PostgreSQL from Debian's packages) with tokens shared through Redis, and with 2 workers and OAUTH2_LLM_SHARED_TOKENS=false. One credential; tokens counted at the sandbox. Bound: ⌈span ÷ (¾ × usable life)⌉ + 1, the single-process rule. ` +
			'The second table is the cost of sharing for an execution: n8n\'s own startedAt → stoppedAt of each successful execution (Schedule → Set → OAuth2 LLM Chat, one call to the sandbox), sharing on against off. A cache hit never touches Redis; a renewal (once per lifetime for the cluster) reads, takes the lease, reads again, commits and releases. One run each.',
		tables: [
			table(['setup', 'executions', 'tokens issued', 'tokens per lifetime', 'against one process', 'single-process bound', 'calls rejected with 401'], setups.map((setup, index) => tokenRow(setup, outcomes[index]))),
			table(['setup', 'executions', 'median duration (ms)', 'p90 (ms)'], [durationRow(setups[1], queue2), durationRow(setups[3], queue2Off)]),
		],
		verdicts: [
			`tokens per lifetime, queue mode against one process: ${fmt(perLifetime(queue2) / perLifetime(single), 2)}× with 2 workers, ${fmt(perLifetime(queue4) / perLifetime(single), 2)}× with 4 (goal ≤ 1.1×: ${tokenRatio <= 1.1 ? 'met' : 'NOT met'}); sharing off, 2 workers: ${fmt(perLifetime(queue2Off) / perLifetime(single), 2)}×`,
			`execution duration in queue mode, sharing on against off: ${fmt(durationRatio, 3)}× the median (goal ≤ 1.03×: ${durationRatio <= 1.03 ? 'met' : 'NOT met'})`,
		],
	};
}
