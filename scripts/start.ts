/**
 * `npm start`: the main job on a built-in local default. Starts the sandbox provider (a real OAuth2
 * authorization server + an OpenAI-compatible chat API on 127.0.0.1), a real n8n 2.41 with this
 * package loaded, a credential for the sandbox and the example workflows, then prints what to open.
 *
 *   npm start                  editor on http://localhost:5678 until Ctrl-C
 *   npm start -- --headless    runs the Manual Trigger example once, prints the answers, exits
 *   npm start -- --queue       the same on n8n's queue mode: Redis + PostgreSQL, main + two workers;
 *                              prints where each execution ran (with --headless: the Schedule example
 *                              for 35 s, then exits)
 *
 * Environment: N8N_PORT (default 5678), SANDBOX_PORT (default 8787), SANDBOX_TOKEN_TTL (seconds, default 300).
 */
import * as path from 'node:path';

import {
	manualExampleWorkflow,
	sandboxCredential,
	scheduleExampleWorkflow,
	SANDBOX_CREDENTIAL_NAME,
} from '../examples/workflows';
import { DEFAULT_OWNER, ensureN8n, N8nInstance, type N8nWorker } from '../test/harness/n8n';
import { queueModeEnv, startPostgres, startRedis, type Postgres, type Service } from '../test/harness/services';
import { startSandbox } from '../test/sandbox/sandbox';

const repoRoot = path.resolve(__dirname, '..');
const headless = process.argv.includes('--headless');
const queue = process.argv.includes('--queue');

/** Prints "execution N ran on worker X" for every execution a worker starts, as it happens. */
function reportWhereExecutionsRun(workers: N8nWorker[]): () => number {
	const seen = new Set<string>();
	const timer = setInterval(() => {
		for (const worker of workers) {
			for (const match of worker.logs().matchAll(/Worker started execution (\d+)/g)) {
				if (seen.has(match[1])) continue;
				seen.add(match[1]);
				console.log(`execution ${match[1]} ran on worker ${worker.name} (pid ${worker.pid})`);
			}
		}
	}, 500);
	return () => {
		clearInterval(timer);
		return seen.size;
	};
}

async function main(): Promise<number> {
	// n8n 2.x runs on Node 24, which the harness installs; the sandbox runs on it too: on this
	// machine's Node 20, oidc-provider would greet a newcomer with an "Unsupported runtime" warning.
	const install = await ensureN8n();
	const sandbox = await startSandbox({
		nodeBin: install.nodeBin,
		port: Number(process.env.SANDBOX_PORT ?? 8787),
		tokenTtlSeconds: Number(process.env.SANDBOX_TOKEN_TTL ?? 300),
	});
	let n8n: N8nInstance | undefined;
	let redis: Service | undefined;
	let postgres: Postgres | undefined;
	const shutdown = async () => {
		await n8n?.dispose();
		await postgres?.stop();
		await redis?.stop();
		await sandbox.stop();
	};
	try {
		if (queue) {
			redis = await startRedis();
			postgres = await startPostgres();
			console.log(`Queue mode: Redis on 127.0.0.1:${redis.port}, PostgreSQL on 127.0.0.1:${postgres.port}`);
		}
		n8n = await N8nInstance.create({
			port: Number(process.env.N8N_PORT ?? 5678),
			env: redis && postgres ? queueModeEnv(redis, postgres) : undefined,
		});
		// As a community package, the way users install it from npm (the credential dialog's Test needs that).
		await n8n.installCommunityPackage(repoRoot);
		await n8n.importCredentials([sandboxCredential(sandbox)]);
		const manualId = await n8n.importWorkflow(manualExampleWorkflow());

		if (headless && !queue) {
			const run = await n8n.execute(manualId);
			const items = run.runData?.['OAuth2 LLM Chat']?.[0]?.data?.main?.[0] ?? [];
			if (run.exitCode !== 0 || items.length === 0) {
				console.error(`The example workflow failed: ${run.error?.message ?? run.stderr.slice(-2000)}`);
				return 1;
			}
			const stats = await sandbox.stats();
			for (const item of items) console.log(`answer: ${item.json.content}`);
			console.log(
				`\n${items.length} answers from ${items[0].json.model}; token requests at the sandbox: ${stats.totals.tokenRequests}, chat requests: ${stats.totals.chatRequests}`,
			);
			return 0;
		}

		const scheduleSeconds = queue ? 10 : 60;
		const scheduleId = await n8n.importWorkflow(scheduleExampleWorkflow({ seconds: scheduleSeconds }));
		await n8n.publishWorkflow(scheduleId);
		await n8n.start({ timeoutMs: 180_000 });
		await n8n.setupOwner();
		if (queue) {
			const workers = [await n8n.startWorker('w1'), await n8n.startWorker('w2')];
			console.log(`Workers: w1 (pid ${workers[0].pid}) and w2 (pid ${workers[1].pid}); the Schedule example runs every ${scheduleSeconds} s.`);
			const stopReporting = reportWhereExecutionsRun(workers);
			if (headless) {
				await new Promise((resolve) => setTimeout(resolve, 35_000));
				const count = stopReporting();
				const stats = await sandbox.stats();
				console.log(`\n${count} executions on the workers; token requests at the sandbox: ${stats.totals.tokenRequests}, chat requests: ${stats.totals.chatRequests}`);
				return count > 0 ? 0 : 1;
			}
		}
		const editorUrl = `http://localhost:${n8n.port}`;
		console.log(`
n8n ${n8n.install.version} is running with n8n-nodes-oauth2-llm loaded.

  Open        ${editorUrl}
  Log in      ${DEFAULT_OWNER.email} / ${DEFAULT_OWNER.password}
  Workflows   "${manualExampleWorkflow().name}" (open it, click Execute workflow)
              "${scheduleExampleWorkflow().name}" (published: runs every ${scheduleSeconds} s; see Executions)
  Credential  "${SANDBOX_CREDENTIAL_NAME}" (OAuth2 LLM Provider; open it and click Test)

Sandbox provider (a local OAuth2 server and chat API; tokens live ${process.env.SANDBOX_TOKEN_TTL ?? 300} s):
  Token URL   ${sandbox.tokenUrl}
  Base URL    ${sandbox.baseUrl}
  Client      ${sandbox.clients.post.id} / ${sandbox.clients.post.secret}   (a local test client)
  Counters    ${sandbox.controlUrl}/stats

Stop with Ctrl-C.`);
		await new Promise<void>((resolve) => {
			process.once('SIGINT', resolve);
			process.once('SIGTERM', resolve);
		});
		console.log('\nStopping n8n and the sandbox…');
		return 0;
	} finally {
		await shutdown();
	}
}

main().then(
	(code) => process.exit(code),
	(error: unknown) => {
		console.error(error instanceof Error ? error.message : error);
		process.exit(1);
	},
);
