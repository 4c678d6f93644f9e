/**
 * Issue 20 in a real n8n 2.41 cluster: main + 2 workers on Debian's Redis and PostgreSQL, the package
 * installed as a community package, and a provider of this test's own that rotates refresh tokens and
 * revokes the whole family on reuse (test/helpers/rotating-provider.ts). Published Schedule Triggers
 * run every second with 8 s tokens. Leases are the package's default (10 s).
 *
 * Then regular mode (`n8n execute`, one process per run, so every run is a restart) with Redis
 * configured but unused: no connection reaches it, and a rotated refresh token survives.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { manualExampleWorkflow, scheduleExampleWorkflow } from '../../examples/workflows';
import { N8N_1_VERSION, N8nInstance, type N8nWorker } from '../harness/n8n';
import { executionRows, queueModeEnv, startPostgres, startRedis, type Postgres, type Redis } from '../harness/services';
import { startRotatingProvider, type RotatingProvider } from '../helpers/rotating-provider';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 300_000;
const CLIENT = { clientId: 'cluster-e2e-client', clientSecret: `ClusterE2eSecret${randomBytes(10).toString('hex')}` };
const TOKEN_TTL_S = 8;
const BUFFER_S = 1;
/** Before each refresh attempt the lease is made to last the attempt's deadline (15 s) and a margin (5 s). */
const LEASE_HOLD_MS = 20_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Renewal starts no earlier than 3/4 of the usable life: one process asks at most once per this. */
const RENEWAL_MS = 0.75 * (TOKEN_TTL_S - BUFFER_S) * 1000;
const singleProcessBound = (spanMs: number) => Math.ceil(spanMs / RENEWAL_MS) + 1;

const CC = { id: 'clusterCcCredent', name: 'Cluster LLM (client credentials)' };
const RT = { id: 'clusterRtCredent', name: 'Cluster LLM (rotating refresh token)' };
const WAIT_S = 3;

/** Schedule → Question → Wait → chat: an execution a worker holds while Redis pauses asks for its token then. */
function scheduleWithWait(options: Parameters<typeof scheduleExampleWorkflow>[0]) {
	const workflow = scheduleExampleWorkflow(options);
	const wait = {
		id: 'c0a1e1d2-0000-4000-8000-000000000031',
		name: 'Wait',
		type: 'n8n-nodes-base.wait',
		typeVersion: 1.1,
		position: [330, 0],
		parameters: { amount: WAIT_S, unit: 'seconds' },
	};
	return {
		...workflow,
		nodes: [...workflow.nodes, wait] as object[],
		connections: { ...workflow.connections, Question: { main: [[{ node: 'Wait', type: 'main', index: 0 }]] }, Wait: { main: [[{ node: 'OAuth2 LLM Chat', type: 'main', index: 0 }]] } },
	};
}

let provider: RotatingProvider;
let redis: Redis;
let postgres: Postgres;
let n8n: N8nInstance;
let workers: N8nWorker[] = [];
let ccWorkflow: string;
let waitingWorkflow: string;
let rtWorkflow: string;
let seed: string;

const executions = async (workflowId: string, sinceMs = 0) => await executionRows(postgres, workflowId, sinceMs);

/** Runs a published workflow for `ms`, then unpublishes it and lets running executions end. */
async function runFor(workflowId: string, ms: number, during?: () => Promise<void>): Promise<{ startedMs: number; spanMs: number }> {
	await n8n.activateWorkflow(workflowId);
	const startedMs = Date.now();
	await Promise.all([sleep(ms), during?.()]);
	const answer = await n8n.rest('POST', `/rest/workflows/${workflowId}/deactivate`);
	assert.equal(answer.status, 200, JSON.stringify(answer.body));
	const spanMs = Date.now() - startedMs;
	await sleep(3000);
	return { startedMs, spanMs };
}

async function startWorkers(): Promise<void> {
	workers = [await n8n.startWorker(`w${randomBytes(2).toString('hex')}`), await n8n.startWorker(`w${randomBytes(2).toString('hex')}`)];
}

/** The worker whose socket has local port `port` (the token request it is waiting on). */
function workerOnPort(port: number): N8nWorker | undefined {
	const text = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
	const pids = [...text.matchAll(/pid=(\d+)/g)].map((match) => Number(match[1]));
	return workers.find((worker) => worker.pid !== undefined && pids.includes(worker.pid));
}

/** Waits until a worker's token request is held by the provider, and says which worker sent it. */
async function holdNextTokenRequest(): Promise<N8nWorker> {
	let heldPort: number | undefined;
	provider.holdTokenAnswers(1, (port) => (heldPort = port));
	for (let waited = 0; heldPort === undefined; waited += 50) {
		if (waited > 30_000) throw new Error('no token request within 30 s');
		await sleep(50);
	}
	const holder = workerOnPort(heldPort);
	assert.ok(holder, `the held token request (port ${heldPort}) came from a worker`);
	return holder;
}

/** Main + 2 workers of n8n `version` on fresh Redis and PostgreSQL, the two credentials and schedules. */
async function startCluster(version?: string): Promise<void> {
	provider = await startRotatingProvider({ ...CLIENT, tokenTtlSeconds: TOKEN_TTL_S });
	seed = provider.newFamily();
	redis = await startRedis();
	postgres = await startPostgres();
	n8n = await N8nInstance.create({ version, env: queueModeEnv(redis, postgres) });
	await n8n.installCommunityPackage(REPO_ROOT);
	const data = { baseUrl: provider.baseUrl, tokenUrl: provider.tokenUrl, ...CLIENT, expiryBufferSeconds: BUFFER_S };
	await n8n.importCredentials([
		{ ...CC, type: 'llmProviderOAuth2Api', data },
		{ ...RT, type: 'llmProviderOAuth2Api', data: { ...data, refreshToken: seed } },
	]);
	ccWorkflow = await n8n.importWorkflow(scheduleExampleWorkflow({ id: 'clusterCcSchedul', seconds: 1, credentialId: CC.id, credentialName: CC.name }));
	waitingWorkflow = await n8n.importWorkflow(scheduleWithWait({ id: 'clusterCcWaiting', seconds: 1, credentialId: CC.id, credentialName: CC.name }));
	rtWorkflow = await n8n.importWorkflow(scheduleExampleWorkflow({ id: 'clusterRtSchedul', seconds: 1, credentialId: RT.id, credentialName: RT.name }));
	await n8n.start({ timeoutMs: 180_000 });
	await n8n.setupOwner();
	await startWorkers();
}

async function stopCluster(): Promise<void> {
	await n8n?.dispose();
	await postgres?.stop();
	await redis?.stop();
	await provider?.close();
}

describe('one token per lifetime for the whole cluster; rotated refresh tokens across workers and restarts (n8n 2.41 queue mode)', () => {
	before(async () => await startCluster(), { timeout: SETUP_TIMEOUT_MS });

	after(stopCluster);

	it('client credentials, every second, 8 s tokens: the whole cluster stays within the single-process bound', { timeout: RUN_TIMEOUT_MS }, async () => {
		provider.reset();
		const { startedMs, spanMs } = await runFor(ccWorkflow, 24_000);
		const rows = await executions(ccWorkflow, startedMs - 1000);
		const stats = provider.stats;
		const bound = singleProcessBound(spanMs);
		process.stderr.write(`[e2e cluster] client credentials: ${rows.length} executions, ${stats.tokenRequests} token requests (single-process bound ${bound}) in ${spanMs} ms\n`);
		assert.ok(rows.length >= 15, `${rows.length} executions`);
		assert.deepEqual(rows.filter((row) => row.status !== 'success'), []);
		assert.equal(stats.chat401, 0);
		assert.ok(stats.tokenRequests <= bound, `${stats.tokenRequests} token requests, bound ${bound}`);
		const ran = workers.map((worker) => new Set([...worker.logs().matchAll(/Worker started execution (\d+)/g)].map((match) => match[1])));
		assert.ok(ran.every((set) => rows.some((row) => set.has(row.id))), 'both workers ran executions');
	});

	it('a rotating refresh token, same workload: no invalid_grant and no 401; then every process restarts and it goes on, still none', { timeout: RUN_TIMEOUT_MS }, async () => {
		provider.reset();
		const first = await runFor(rtWorkflow, 16_000);
		await Promise.all(workers.map(async (worker) => await worker.kill('SIGTERM')));
		await n8n.stop();
		await n8n.start({ timeoutMs: 180_000 });
		await n8n.setupOwner();
		await startWorkers();
		const second = await runFor(rtWorkflow, 12_000);
		const rows = await executions(rtWorkflow, first.startedMs - 1000);
		const stats = provider.stats;
		process.stderr.write(`[e2e cluster] rotating refresh token: ${rows.length} executions over a restart, ${stats.refreshGrants} refresh grants, ${stats.invalidGrant} invalid_grant, ${stats.chat401} 401\n`);
		assert.equal(stats.invalidGrant, 0, 'no invalid_grant');
		assert.equal(stats.chat401, 0, 'no 401');
		assert.deepEqual(rows.filter((row) => row.status !== 'success'), []);
		assert.ok(rows.filter((row) => row.startedAtMs >= second.startedMs).length >= 8, 'it went on after the restart');
		assert.ok(stats.refreshGrants <= singleProcessBound(first.spanMs) + singleProcessBound(second.spanMs), `${stats.refreshGrants} grants`);
		assert.notEqual(provider.currentRefreshToken(seed), seed, 'the family rotated');
	});

	it('SIGSTOP of the lease holder in the middle of its refresh, for longer than its lease (held 20 s for a request at the provider), then SIGCONT: it commits nothing over the newer refresh token, which stands, and it goes on with it', { timeout: RUN_TIMEOUT_MS }, async () => {
		provider.reset();
		// The other worker's grant sends the token the stopped one sent: a provider's reuse grace (Okta, Auth0) lets
		// it through. No client can do better when its holder stops mid-request; what it must do is not overwrite.
		provider.setReuseGraceMs(60_000);
		let stopped: N8nWorker | undefined;
		let resumedAt = 0;
		await runFor(rtWorkflow, 45_000, async () => {
			stopped = await holdNextTokenRequest();
			stopped.signal('SIGSTOP');
			provider.releaseHeld();
			await sleep(LEASE_HOLD_MS + 3000);
			stopped.signal('SIGCONT');
			resumedAt = Date.now();
			await sleep(2000);
			provider.setReuseGraceMs(0); // strict again: from now on a retired refresh token revokes the family
		});
		const stats = provider.stats;
		process.stderr.write(`[e2e cluster] SIGSTOP: ${stats.refreshGrants} refresh grants, ${stats.invalidGrant} invalid_grant, ${stats.chat401} 401\n`);
		// Stopped past its request's 15 s deadline, it counts the answer as lost (and its mark is refused, the family
		// having moved on); stopped between the answer and the commit, its commit is refused.
		assert.match(stopped!.logs(), /no complete answer within 15000 ms; the refresh token is not sent again|another n8n process renewed the token of Cluster LLM \(rotating refresh token\) while this one was late/);
		assert.equal(stats.invalidGrant, 0, 'the newer refresh token stood');
		// A worker frozen for 23 s with 8 s tokens resumes executions whose token expired meanwhile: their calls
		// meet a 401 and are replayed once with a new token. That is all a 401 may come from.
		assert.ok(stats.chat401 <= 5, `${stats.chat401} calls rejected`);
		const rows = await executions(rtWorkflow, resumedAt + 3000);
		const resumedRan = new Set([...stopped!.logs().matchAll(/Worker started execution (\d+)/g)].map((match) => match[1]));
		assert.ok(rows.length >= 10 && rows.every((row) => row.status === 'success'), JSON.stringify(rows));
		assert.ok(rows.some((row) => resumedRan.has(row.id)), 'the resumed worker runs executions again, successfully');
	});

	it('SIGKILL of the lease holder while its refresh is in flight: the other worker takes the lease over when it ends, and goes on with the family', { timeout: RUN_TIMEOUT_MS }, async () => {
		provider.reset();
		// The dead worker's grant reached the provider, which rotated; the survivor can only send the token the
		// dead one sent. A provider's reuse grace lets that through; strict again afterwards.
		provider.setReuseGraceMs(60_000);
		let killedAt = 0;
		let killed: N8nWorker | undefined;
		const run = await runFor(rtWorkflow, 40_000, async () => {
			killed = await holdNextTokenRequest();
			await killed.kill('SIGKILL');
			killedAt = Date.now();
			provider.releaseHeld();
			await sleep(LEASE_HOLD_MS + 4000);
			provider.setReuseGraceMs(0);
		});
		const survivor = workers.find((worker) => worker !== killed)!;
		const rows = await executions(rtWorkflow, run.startedMs - 1000);
		const ranBySurvivor = new Set([...survivor.logs().matchAll(/Worker started execution (\d+)/g)].map((match) => match[1]));
		const afterLease = rows.filter((row) => row.startedAtMs > killedAt + LEASE_HOLD_MS);
		const stats = provider.stats;
		process.stderr.write(`[e2e cluster] SIGKILL: ${rows.length} executions, ${afterLease.length} after the lease ended, ${stats.refreshGrants} refresh grants (single-process bound ${singleProcessBound(run.spanMs)}), ${stats.invalidGrant} invalid_grant; statuses ${JSON.stringify(rows.map((row) => row.status))}\n`);
		assert.ok(afterLease.length >= 5);
		assert.deepEqual(afterLease.filter((row) => row.status !== 'success'), [], 'every run after the lease ended succeeded');
		assert.deepEqual(rows.filter((row) => ranBySurvivor.has(row.id) && row.status !== 'success'), [], 'everything the surviving worker ran succeeded');
		assert.equal(stats.invalidGrant, 0);
		// The dead worker's grant counts too: the one the lease covered, then the survivor's, one per renewal.
		assert.ok(stats.refreshGrants <= singleProcessBound(run.spanMs) + 1, `${stats.refreshGrants} refresh grants`);
		workers = [survivor, await n8n.startWorker(`w${randomBytes(2).toString('hex')}`)];
	});

	it('Redis paused for 5 s while a token must be renewed: client-credentials executions all succeed, and sharing resumes', { timeout: RUN_TIMEOUT_MS }, async () => {
		provider.reset();
		const run = await runFor(waitingWorkflow, 26_000, async () => {
			// Pause from just before a renewal is due until after the token has expired, while executions that
			// workers took before the pause wait; they ask for their token during it.
			const before = provider.stats.tokenRequests;
			while (provider.stats.tokenRequests === before) await sleep(20);
			await sleep(RENEWAL_MS - 500);
			redis.pause();
			await sleep(5000);
			redis.resume();
		});
		const rows = await executions(waitingWorkflow, run.startedMs - 1000);
		const logs = workers.map((worker) => worker.logs()).join('\n');
		process.stderr.write(`[e2e cluster] Redis paused: ${rows.length} executions, ${provider.stats.tokenRequests} token requests\n`);
		assert.deepEqual(rows.filter((row) => row.status !== 'success'), []);
		assert.equal(provider.stats.chat401, 0);
		assert.match(logs, /n8n's Redis is unavailable/);
		assert.match(logs, /n8n's Redis answers again; tokens are shared across the cluster again/);
	});

	it('nothing in Redis in clear: no access or refresh token, no client secret, in any key or value', { timeout: RUN_TIMEOUT_MS }, async () => {
		const snapshot = (await redis.snapshot()).toString('latin1');
		assert.match(snapshot, /oauth2-llm:token:/, 'the snapshot holds the package\'s entries');
		for (const secret of [...provider.issued, CLIENT.clientSecret]) assert.ok(!snapshot.includes(secret), 'a token or the client secret is in Redis in clear');
		const logs = n8n.logs();
		for (const secret of [...provider.issued, CLIENT.clientSecret]) assert.ok(!logs.includes(secret), 'a token or the client secret is in a log');
	});
});

describe('regular mode with Redis configured: no connection to it, and a rotated refresh token survives restarts (n8n 2.41)', () => {
	let regular: N8nInstance;
	let regularRedis: Redis;
	let local: RotatingProvider;

	before(
		async () => {
			local = await startRotatingProvider({ ...CLIENT, tokenTtlSeconds: 3600 });
			regularRedis = await startRedis();
			regular = await N8nInstance.create({ env: { QUEUE_BULL_REDIS_HOST: '127.0.0.1', QUEUE_BULL_REDIS_PORT: String(regularRedis.port) } });
			await regular.installCommunityPackage(REPO_ROOT);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);
	after(async () => {
		await regular?.dispose();
		await regularRedis?.stop();
		await local?.close();
	});

	it('three runs, each its own n8n process: each sends the newest refresh token, none is reuse; Redis sees no connection; the kept file is sealed', { timeout: RUN_TIMEOUT_MS }, async () => {
		const family = local.newFamily();
		await regular.importCredentials([{ ...RT, type: 'llmProviderOAuth2Api', data: { baseUrl: local.baseUrl, tokenUrl: local.tokenUrl, ...CLIENT, refreshToken: family } }]);
		const workflowId = await regular.importWorkflow(manualExampleWorkflow({ id: 'regularRtManual1', questions: ['Still the newest?'], credentialId: RT.id, credentialName: RT.name }));
		const connectionsBefore = await regularRedis.cli('INFO', 'stats');
		let printed = '';
		for (let run = 0; run < 3; run++) {
			const result = await regular.execute(workflowId);
			assert.equal(result.status, 'success', result.stderr.slice(-2000));
			printed += result.stdout + result.stderr;
		}
		for (const secret of [...local.issued, CLIENT.clientSecret]) assert.ok(!printed.includes(secret), 'a token or the client secret in what n8n execute printed');
		assert.equal(local.stats.refreshGrants, 3);
		assert.equal(local.stats.invalidGrant, 0, 'every run sent the newest refresh token');
		const connected = (text: string) => Number(/total_connections_received:(\d+)/.exec(text)?.[1]);
		// redis-cli's own INFO calls are the only connections: one before, and this one.
		assert.equal(connected(await regularRedis.cli('INFO', 'stats')) - connected(connectionsBefore), 1, 'no n8n process connected to Redis');
		const kept = readFileSync(path.join(regular.userFolder, '.n8n', 'oauth2-llm-refresh-tokens.json'), 'utf8');
		for (const secret of [...local.issued, CLIENT.clientSecret]) assert.ok(!kept.includes(secret));
		const exported = await regular.cli(['export:credentials', '--all', '--decrypted']);
		for (const secret of [...local.issued].filter((token) => token !== family)) assert.ok(!exported.stdout.includes(secret), 'no rotated token in n8n\'s credential export');
	});
});

describe(`n8n ${N8N_1_VERSION} queue mode (main + 2 workers): its Redis and config serve the package too`, () => {
	before(async () => await startCluster(N8N_1_VERSION), { timeout: SETUP_TIMEOUT_MS });

	after(stopCluster);

	it('client credentials within the single-process bound; a rotating refresh token with no invalid_grant across a restart of every process', { timeout: RUN_TIMEOUT_MS }, async () => {
		provider.reset();
		const cc = await runFor(ccWorkflow, 16_000);
		const ccRows = await executions(ccWorkflow, cc.startedMs - 1000);
		const ccTokens = provider.stats.tokenRequests;
		assert.deepEqual(ccRows.filter((row) => row.status !== 'success'), []);
		assert.ok(ccRows.length >= 10);
		assert.ok(ccTokens <= singleProcessBound(cc.spanMs), `${ccTokens} token requests, bound ${singleProcessBound(cc.spanMs)}`);
		provider.reset();
		const first = await runFor(rtWorkflow, 12_000);
		await Promise.all(workers.map(async (worker) => await worker.kill('SIGTERM')));
		await n8n.stop();
		await n8n.start({ timeoutMs: 180_000 });
		await n8n.setupOwner();
		await startWorkers();
		await runFor(rtWorkflow, 10_000);
		const rows = await executions(rtWorkflow, first.startedMs - 1000);
		process.stderr.write(`[e2e cluster 1.123] ${ccRows.length} executions, ${ccTokens} token requests; rotating: ${rows.length} executions, ${provider.stats.refreshGrants} grants, ${provider.stats.invalidGrant} invalid_grant\n`);
		assert.equal(provider.stats.invalidGrant, 0);
		assert.equal(provider.stats.chat401, 0);
		assert.deepEqual(rows.filter((row) => row.status !== 'success'), []);
		const snapshot = (await redis.snapshot()).toString('latin1');
		assert.match(snapshot, /n8n:oauth2-llm:family:/, 'the rotated refresh token is in 1.123\'s Redis, under n8n\'s prefix');
		for (const secret of [...provider.issued, CLIENT.clientSecret]) assert.ok(!snapshot.includes(secret));
	});
});
