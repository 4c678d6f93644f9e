/**
 * Benchmark 7 (issue 11): token requests per credential per token lifetime when n8n runs in queue mode
 * (main + 2 workers on Redis and PostgreSQL) against the same work in a single n8n process. The work: a
 * published Schedule Trigger every second through the OAuth2 LLM Chat node, for several token lifetimes.
 * Each worker has its own process-wide token cache, so queue mode costs about one token per worker per
 * renewal interval; a single process about one.
 */
import * as path from 'node:path';

import { scheduleExampleWorkflow } from '../examples/workflows';
import { N8nInstance } from '../test/harness/n8n';
import { queueModeEnv, startPostgres, startRedis } from '../test/harness/services';
import type { Sandbox } from '../test/sandbox/sandbox';
import { type BenchOptions, type BenchSection, fmt, table } from './lib';

const TOKEN_TTL_S = 8;
const BUFFER_S = 1;
const CREDENTIAL = { id: 'benchQueueCred01', name: 'Bench queue (8 s tokens)' };

interface Outcome {
	tokens: number;
	executions: number;
	rejected401: number;
	spanMs: number;
}

async function runSchedule(sandbox: Sandbox, repoRoot: string, runForMs: number, queue: boolean, log: (message: string) => void): Promise<Outcome> {
	const redis = queue ? await startRedis() : undefined;
	const postgres = queue ? await startPostgres() : undefined;
	const n8n = await N8nInstance.create({ env: redis && postgres ? queueModeEnv(redis, postgres) : undefined });
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
		const id = await n8n.importWorkflow(
			scheduleExampleWorkflow({ id: queue ? 'benchQueueSched1' : 'benchSingleSched', seconds: 1, credentialId: CREDENTIAL.id, credentialName: CREDENTIAL.name }),
		);
		await n8n.start({ timeoutMs: 180_000 });
		await n8n.setupOwner();
		if (queue) await Promise.all([n8n.startWorker('w1'), n8n.startWorker('w2')]);
		await sandbox.reset();
		await sandbox.configure({ tokenTtlSeconds: TOKEN_TTL_S });
		log(`  ${queue ? 'queue mode (main + 2 workers)' : 'single process'}: schedule every 1 s for ${runForMs / 1000} s…`);
		const started = Date.now();
		await n8n.activateWorkflow(id);
		await new Promise((resolve) => setTimeout(resolve, runForMs));
		await n8n.rest('POST', `/rest/workflows/${id}/deactivate`);
		const spanMs = Date.now() - started;
		await new Promise((resolve) => setTimeout(resolve, 3000));
		const counts = (await sandbox.stats()).clients[client.id];
		return { tokens: counts?.tokensIssued ?? 0, executions: counts?.chatRequests ?? 0, rejected401: counts?.chatRejected401 ?? 0, spanMs };
	} finally {
		await n8n.dispose();
		await postgres?.stop();
		await redis?.stop();
	}
}

export async function queueBench(sandbox: Sandbox, options: BenchOptions, repoRoot: string): Promise<BenchSection> {
	const runForMs = options.quick ? 16_000 : 40_000;
	const root = path.resolve(repoRoot);
	const single = await runSchedule(sandbox, root, runForMs, false, options.log);
	const queued = await runSchedule(sandbox, root, runForMs, true, options.log);
	await sandbox.configure({ tokenTtlSeconds: 3600 });
	const boundOf = (processes: number, outcome: Outcome) =>
		processes * (Math.ceil(outcome.spanMs / (0.75 * (TOKEN_TTL_S - BUFFER_S) * 1000)) + 1);
	const row = (what: string, processes: number, outcome: Outcome) => {
		const lifetimes = outcome.spanMs / (TOKEN_TTL_S * 1000);
		return [what, outcome.executions, outcome.tokens, fmt(outcome.tokens / lifetimes, 2), boundOf(processes, outcome), outcome.rejected401];
	};
	return {
		title: 'Token requests in queue mode',
		about: `A published Schedule Trigger every second through the OAuth2 LLM Chat node for ${runForMs / 1000} s, tokens of ${TOKEN_TTL_S} s with a ${BUFFER_S} s Expiry Buffer (about ${fmt(runForMs / 1000 / TOKEN_TTL_S, 1)} lifetimes), once in a single n8n process (regular mode, SQLite) and once in queue mode (main + 2 workers, Redis and PostgreSQL from Debian's packages). One credential; tokens counted at the sandbox. Bound: processes × (⌈span ÷ (¾ × usable life)⌉ + 1), the README's queue-mode rule. One run each.`,
		tables: [table(['setup', 'executions', 'tokens issued', 'tokens per lifetime', 'bound', 'calls rejected with 401'], [row('single process', 1, single), row('queue mode, 2 workers', 2, queued)])],
		verdicts: [
			`queue mode issued ${queued.tokens} tokens for ${queued.executions} executions against ${single.tokens} for ${single.executions} in one process: tokens follow processes × lifetimes, not executions (within the bound: queue ${queued.tokens <= boundOf(2, queued) ? 'yes' : 'NO'}, single ${single.tokens <= boundOf(1, single) ? 'yes' : 'NO'})`,
		],
	};
}
