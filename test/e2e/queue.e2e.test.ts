/**
 * Issue 11: n8n's queue mode, for real. Redis and PostgreSQL from Debian's packages (installed by
 * scripts/install-queue-services.sh, started by test/harness/services.ts on 127.0.0.1), `n8n start` as
 * main and two `n8n worker` processes on one user folder, the package installed there as a community
 * package. A published Schedule Trigger runs while short tokens expire several times; one worker is
 * killed in the middle.
 *
 * The workers share their tokens through n8n's Redis (issue 20): token requests follow token
 * lifetimes for the whole cluster, as in one process, not processes × lifetimes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { manualExampleWorkflow, scheduleExampleWorkflow } from '../../examples/workflows';
import { N8nInstance, type N8nWorker } from '../harness/n8n';
import { executionRows, queueModeEnv, startPostgres, startRedis, type Postgres, type Service } from '../harness/services';
import { startSandbox, type Sandbox } from '../sandbox/sandbox';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 240_000;
const CLIENT = { id: 'e2e-queue-client', secret: `QueueSecret${randomBytes(10).toString('hex')}`, authMethod: 'client_secret_post' as const };
const CREDENTIAL = { id: 'e2eQueueCredent1', name: 'Queue LLM (8 s tokens)' };
const TOKEN_TTL_S = 8;
const BUFFER_S = 1;
const EVERY_S = 1;
/** Both workers run for this long, then one is killed and the other runs alone as long again. */
const PHASE_MS = 14_000;

const MANUAL_TRIGGER = 'When clicking ‘Execute workflow’';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let sandbox: Sandbox;
let redis: Service;
let postgres: Postgres;
let n8n: N8nInstance;
let workers: N8nWorker[] = [];
let workflowId: string;
let manualId: string;

/** Execution ids a worker logged as started ("Worker started execution <id> (job …)"). */
function executionsOf(worker: N8nWorker): Set<string> {
	return new Set([...worker.logs().matchAll(/Worker started execution (\d+)/g)].map((match) => match[1]));
}

describe('queue mode: main + 2 workers on Redis and PostgreSQL', () => {
	before(
		async () => {
			sandbox = await startSandbox({ clients: { queue: CLIENT } });
			await sandbox.configure({ tokenTtlSeconds: TOKEN_TTL_S });
			redis = await startRedis();
			postgres = await startPostgres();
			n8n = await N8nInstance.create({ env: queueModeEnv(redis, postgres) });
			await n8n.installCommunityPackage(REPO_ROOT);
			await n8n.importCredentials([
				{
					...CREDENTIAL,
					type: 'llmProviderOAuth2Api',
					data: { baseUrl: sandbox.baseUrl, tokenUrl: sandbox.tokenUrl, clientId: CLIENT.id, clientSecret: CLIENT.secret, expiryBufferSeconds: BUFFER_S },
				},
			]);
			workflowId = await n8n.importWorkflow(
				scheduleExampleWorkflow({ id: 'e2eQueueSchedule', seconds: EVERY_S, credentialId: CREDENTIAL.id, credentialName: CREDENTIAL.name }),
			);
			manualId = await n8n.importWorkflow(
				manualExampleWorkflow({ id: 'e2eQueueManual01', questions: ['Where do I run?'], credentialId: CREDENTIAL.id, credentialName: CREDENTIAL.name }),
			);
			await n8n.start({ timeoutMs: 180_000 });
			await n8n.setupOwner();
			workers = [await n8n.startWorker('w1'), await n8n.startWorker('w2')];
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await postgres?.stop();
		await redis?.stop();
		await sandbox?.stop();
	});

	it('a Schedule Trigger over several token lifetimes: runs on both workers (none on main), no 401, token requests within the single-process bound for the whole cluster; after one worker is killed the other runs everything, and only jobs the dead worker held can be lost', { timeout: RUN_TIMEOUT_MS }, async () => {
		await sandbox.reset();
		await n8n.activateWorkflow(workflowId);
		const started = Date.now();
		await sleep(PHASE_MS);
		await workers[0].kill('SIGKILL');
		const killedAt = Date.now();
		await sleep(PHASE_MS);
		const deactivated = await n8n.rest('POST', `/rest/workflows/${workflowId}/deactivate`);
		assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));
		const span = Date.now() - started;
		await sleep(3000); // a run that started just before the deactivation finishes

		const rows = await executionRows(postgres, workflowId);
		const before = executionsOf(workers[0]);
		const survivor = executionsOf(workers[1]);
		// main runs no scheduled execution: every successful one was started by a worker. A run no worker logged
		// and that did not succeed is a job the killed worker took just before it died, before its log line.
		const unlogged = rows.filter((row) => !before.has(row.id) && !survivor.has(row.id));
		assert.deepEqual(unlogged.filter((row) => row.status === 'success').map((row) => row.id), [], `main ran none: ${JSON.stringify(unlogged)}`);
		process.stderr.write(
			`[e2e queue] ${rows.length} executions in ${span} ms: worker 1 ran ${before.size}, worker 2 ran ${survivor.size}; statuses ${JSON.stringify(rows.map((r) => r.status))}\n`,
		);
		assert.ok(before.size > 0 && survivor.size > 0, 'executions ran on both workers');
		// Runs that started after the kill (plus a second for the queue to notice) all succeeded, on worker 2.
		const later = rows.filter((row) => row.startedAtMs > killedAt + 1000);
		assert.ok(later.length >= 3, `${later.length} runs after the kill`);
		assert.deepEqual(later.filter((row) => row.status !== 'success'), [], 'every run after the kill succeeded');
		assert.ok(later.every((row) => survivor.has(row.id)), 'the surviving worker ran them');
		// Before the kill every run succeeded too, but for those worker 1 had in hand when it died (at most its
		// concurrency, 5): n8n does not hand a dead worker's jobs on (maxStalledCount 0).
		const earlier = rows.filter((row) => row.startedAtMs <= killedAt);
		const lost = [...earlier.filter((row) => row.status !== 'success'), ...unlogged.filter((row) => !earlier.includes(row))];
		assert.ok(lost.length <= 5 && lost.every((row) => before.has(row.id) || unlogged.includes(row)), JSON.stringify(lost));

		const stats = (await sandbox.stats()).clients[CLIENT.id];
		assert.equal(stats.chatRejected401, 0, 'no call reached the chat API with an expired token');
		assert.equal(stats.tokenErrors, 0);
		// For the whole cluster, as for one process, at most one token request per renewal interval: renewal
		// starts no earlier than 3/4 of the usable life (TTL - buffer), plus the first one.
		const renewalMs = 0.75 * (TOKEN_TTL_S - BUFFER_S) * 1000;
		const bound = Math.ceil(span / renewalMs) + 1;
		process.stderr.write(`[e2e queue] ${stats.tokenRequests} token requests (bound ${bound}), ${stats.chatRequests} chat requests\n`);
		assert.ok(stats.tokenRequests <= bound, `${stats.tokenRequests} token requests, bound ${bound}`);
		assert.ok(stats.tokenRequests < rows.length, 'fewer token requests than executions: the cache, not the executions, sets the pace');
	});

	it('an editor-started (manual) run stays on main, and goes to a worker with OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS=true', { timeout: RUN_TIMEOUT_MS }, async () => {
		const runManually = async () => {
			const answer = await n8n.rest('POST', `/rest/workflows/${manualId}/run`, { triggerToStartFrom: { name: MANUAL_TRIGGER } });
			assert.equal(answer.status, 200, JSON.stringify(answer.body));
			const executionId = String(answer.data.executionId);
			for (let waited = 0; waited < 60_000; waited += 500) {
				const status = (await postgres.query(`SELECT status FROM execution_entity WHERE id = ${Number(executionId)}`)).trim();
				if (status === 'success' || status === 'error' || status === 'crashed') return { executionId, status };
				await sleep(500);
			}
			throw new Error(`execution ${executionId} did not finish`);
		};
		const onMain = await runManually();
		assert.equal(onMain.status, 'success');
		assert.ok(!workers.some((worker) => executionsOf(worker).has(onMain.executionId)), 'no worker ran the manual execution: main did');

		await n8n.stop();
		await n8n.start({ timeoutMs: 180_000, env: { OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS: 'true' } });
		await n8n.setupOwner();
		const offloaded = await runManually();
		assert.equal(offloaded.status, 'success');
		assert.ok(executionsOf(workers[1]).has(offloaded.executionId), 'with offloading, the surviving worker ran it');
		process.stderr.write(`[e2e queue] manual run ${onMain.executionId} ran on main; with offloading, ${offloaded.executionId} ran on worker 2\n`);
	});

	it('the client secret is in no PostgreSQL dump and in no process\'s log', { timeout: RUN_TIMEOUT_MS }, async () => {
		const dump = await postgres.dump();
		assert.ok(dump.includes('execution_entity'), 'the dump holds the tables');
		const basic = Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64');
		for (const [where, text] of [['the PostgreSQL dump', dump], ['the logs of main and workers', n8n.logs()]] as const) {
			assert.ok(!text.includes(CLIENT.secret), `the client secret is in ${where}`);
			assert.ok(!text.includes(basic), `the Basic credentials are in ${where}`);
			assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, `an access token is in ${where}`);
		}
	});
});
