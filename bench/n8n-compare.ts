/**
 * Benchmark 4: inside a real n8n 2.41 (`n8n execute` of imported workflows): this package's node vs
 * n8n's HTTP Request node with n8n's built-in OAuth2 credential (oAuth2Api, Client Credentials), on
 * the same sandbox, same items, same parallelism, while tokens expire several times during a run.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { N8N_VERSION, N8nInstance, stagePackage } from '../test/harness/n8n';
import type { Sandbox } from '../test/sandbox/sandbox';
import { type BenchOptions, type BenchSection, MODEL, SYSTEM_PROMPT, clientCounts, counts, credentialDataFor, fmt, median, spread, table, timed } from './lib';

const OUR_CREDENTIAL = { id: 'benchOAuth2Llm', name: 'Bench: OAuth2 LLM Provider (sandbox)' };
const N8N_CREDENTIAL = { id: 'benchN8nOAuth2', name: 'Bench: n8n OAuth2 API (sandbox, client credentials)' };
const TARGET_NODE = 'LLM call';

function node(name: string, type: string, typeVersion: number, parameters: Record<string, unknown>, x: number, extra: object = {}) {
	return { id: `00000000-0000-4000-8000-${String(x).padStart(12, '0')}`, name, type, typeVersion, position: [x, 0], parameters, ...extra };
}

/** Manual Trigger → Set (one array field) → Split Out (one item per question, field `q`) → `last`. */
function workflow(name: string, items: number, last: ReturnType<typeof node>) {
	const questions = Array.from({ length: items }, (_, i) => `question ${i}`);
	return {
		name,
		nodes: [
			node('Manual', 'n8n-nodes-base.manualTrigger', 1, {}, 0),
			node('Questions', 'n8n-nodes-base.set', 3.4, { mode: 'raw', jsonOutput: JSON.stringify({ questions }), options: {} }, 200),
			node('One item per question', 'n8n-nodes-base.splitOut', 1, { fieldToSplitOut: 'questions', options: { destinationFieldName: 'q' } }, 400),
			last,
		],
		connections: {
			Manual: { main: [[{ node: 'Questions', type: 'main', index: 0 }]] },
			Questions: { main: [[{ node: 'One item per question', type: 'main', index: 0 }]] },
			'One item per question': { main: [[{ node: TARGET_NODE, type: 'main', index: 0 }]] },
		},
		settings: { executionOrder: 'v1' },
	};
}

function ourWorkflow(items: number, concurrency: number) {
	return workflow(
		'bench: OAuth2 LLM Chat',
		items,
		node(
			TARGET_NODE,
			'CUSTOM.oAuth2LlmChat',
			1,
			{
				model: { __rl: true, mode: 'id', value: MODEL },
				messages: { values: [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: '={{ $json.q }}' }] },
				options: { concurrency },
			},
			600,
			{ credentials: { llmProviderOAuth2Api: OUR_CREDENTIAL } },
		),
	);
}

/**
 * HTTP Request v4.2 with the generic OAuth2 credential. It starts every item's request at once unless
 * batching paces it: `batchSize` items, then `batchInterval` ms, then the next batch (it does not wait
 * for answers). With the interval = the chat latency, about `batchSize` calls are in flight at a time.
 */
function httpRequestWorkflow(items: number, batchSize: number, batchIntervalMs: number, baseUrl: string) {
	return workflow(
		'bench: HTTP Request + n8n OAuth2 (client credentials)',
		items,
		node(
			TARGET_NODE,
			'n8n-nodes-base.httpRequest',
			4.2,
			{
				method: 'POST',
				url: `${baseUrl}/chat/completions`,
				authentication: 'genericCredentialType',
				genericAuthType: 'oAuth2Api',
				sendBody: true,
				specifyBody: 'json',
				jsonBody: `={{ JSON.stringify({ model: ${JSON.stringify(MODEL)}, messages: [{ role: 'system', content: ${JSON.stringify(SYSTEM_PROMPT)} }, { role: 'user', content: $json.q }] }) }}`,
				options: { batching: { batch: { batchSize, batchInterval: batchIntervalMs } } },
			},
			600,
			{ credentials: { oAuth2Api: N8N_CREDENTIAL } },
		),
	);
}

interface Measurement {
	/** The LLM node's own execution time in n8n's run data, ms. */
	nodeMs: number;
	/** The whole `n8n execute` process (start, migrations check, run, exit), ms. */
	processMs: number;
	outputItems: number;
	status: string;
	tokenRequests: number;
	chatRequests: number;
	chatRejected401: number;
}

async function measure(n8n: N8nInstance, sandbox: Sandbox, workflowId: string, clientId: string): Promise<Measurement> {
	await sandbox.reset();
	const { ms, value: result } = await timed(async () => await n8n.execute(workflowId, { timeoutMs: 300_000 }));
	const task = result.runData?.[TARGET_NODE]?.[0];
	const counts = await clientCounts(sandbox, clientId);
	return {
		nodeMs: Number(task?.executionTime ?? Number.NaN),
		processMs: ms,
		outputItems: (task?.data?.main?.[0] ?? []).length,
		status: `${result.status ?? `exit ${result.exitCode}`}${result.error ? `: ${String(result.error.message ?? '').slice(0, 120)}` : ''}`,
		tokenRequests: counts.tokenRequests,
		chatRequests: counts.chatRequests,
		chatRejected401: counts.chatRejected401,
	};
}

export async function n8nCompareBench(sandbox: Sandbox, options: BenchOptions, repoRoot: string): Promise<BenchSection> {
	const q = options.quick;
	const items = q ? 60 : 300;
	const parallelism = 10;
	const latencyMs = 300;
	const ttlSeconds = 3;
	// Each `n8n execute` costs several seconds of start-up on top of the run: 3 runs by default.
	const runs = options.runsGiven ? options.runs : Math.min(options.runs, 3);
	const idealS = (items * latencyMs) / parallelism / 1000;

	if (!existsSync(path.join(repoRoot, 'dist', 'nodes', 'OAuth2LlmChat', 'OAuth2LlmChat.node.js'))) {
		throw new Error('benchmark n8n needs the built package: run `npm run build` first');
	}
	const extensionsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'oauth2-llm-bench-ext-'));
	let n8n: N8nInstance | undefined;
	const ours: Measurement[] = [];
	const theirs: Measurement[] = [];
	try {
		options.log('  staging the package and preparing n8n (first use installs n8n 2.41.1: several minutes)…');
		await stagePackage({ repoRoot, destDir: extensionsDir });
		n8n = await N8nInstance.create({ extensionsDir });
		const client = sandbox.clients.post;
		await n8n.importCredentials([
			{ ...OUR_CREDENTIAL, type: 'llmProviderOAuth2Api', data: credentialDataFor(sandbox, 'post') },
			{
				...N8N_CREDENTIAL,
				type: 'oAuth2Api',
				data: {
					grantType: 'clientCredentials',
					accessTokenUrl: sandbox.tokenUrl,
					clientId: client.id,
					clientSecret: client.secret,
					scope: 'llm.chat llm.models',
					authentication: 'body',
				},
			},
		]);
		const ourId = await n8n.importWorkflow(ourWorkflow(items, parallelism));
		const theirId = await n8n.importWorkflow(httpRequestWorkflow(items, parallelism, latencyMs, sandbox.baseUrl));

		await sandbox.configure({ tokenTtlSeconds: ttlSeconds, chatLatencyMs: latencyMs });
		for (let run = 0; run < runs; run++) {
			// Alternate which goes first. Both read the same client's counters, reset before each execution.
			const order = run % 2 === 0 ? (['ours', 'theirs'] as const) : (['theirs', 'ours'] as const);
			for (const which of order) {
				const m = await measure(n8n, sandbox, which === 'ours' ? ourId : theirId, client.id);
				(which === 'ours' ? ours : theirs).push(m);
				options.log(
					`  run ${run + 1} ${which === 'ours' ? 'OAuth2 LLM Chat' : 'HTTP Request + oAuth2Api'}: node ${fmt(m.nodeMs / 1000)} s (process ${fmt(m.processMs / 1000)} s), ${m.outputItems} items, ${m.tokenRequests} token requests, ${m.chatRequests} chat requests, ${m.chatRejected401} × 401, ${m.status}`,
				);
			}
		}
	} finally {
		await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
		await n8n?.dispose();
		await fs.rm(extensionsDir, { recursive: true, force: true });
	}

	const row = (label: string, ms: Measurement[]) => [
		label,
		spread(ms.map((m) => m.nodeMs / 1000)),
		spread(ms.map((m) => m.processMs / 1000)),
		counts(ms.map((m) => m.outputItems)),
		counts(ms.map((m) => m.tokenRequests)),
		counts(ms.map((m) => m.chatRequests)),
		counts(ms.map((m) => m.chatRejected401)),
		counts(ms.map((m) => m.status)),
	];
	const lifetimes = median(ours.map((m) => m.nodeMs / 1000 / ttlSeconds));
	const ourTokens = median(ours.map((m) => m.tokenRequests));
	const theirTokens = median(theirs.map((m) => m.tokenRequests));
	const our401 = median(ours.map((m) => m.chatRejected401));
	const their401 = median(theirs.map((m) => m.chatRejected401));
	const ourWall = median(ours.map((m) => m.nodeMs / 1000));
	const theirWall = median(theirs.map((m) => m.nodeMs / 1000));
	const verdicts = [
		`4: in a real n8n, over a run spanning ~${fmt(lifetimes, 1)} token lifetimes of ${ttlSeconds} s (medians): **this node** ${fmt(ourTokens)} token requests, ${fmt(our401)} chat calls rejected with 401, node time ${fmt(ourWall)} s; **HTTP Request + oAuth2Api** ${fmt(theirTokens)} token requests, ${fmt(their401)} rejected with 401 (each one a wasted call, then a token request and a replay), node time ${fmt(theirWall)} s; ideal ${fmt(idealS)} s. This node asks for more tokens here because it renews ${ttlSeconds} s tokens after ${fmt((ttlSeconds * 0.375), 2)} s, before they expire (see 1c: with 1-hour tokens that is ~1.1 per lifetime); n8n's credential asks only after calls have failed.`,
	];
	return {
		title: '4. Inside a real n8n',
		about: [
			`A real n8n ${N8N_VERSION} (test/harness/n8n.ts: its own user folder and sqlite database, this package staged as a custom extension), each workflow run with \`n8n execute --id=… --rawOutput\`: Manual Trigger → Set (an array of ${items} questions) → Split Out → the LLM call, against the sandbox with **tokens living ${ttlSeconds} s** and the chat API adding **${latencyMs} ms** per call, so one run spans several token lifetimes. ${runs} runs, alternating which workflow goes first; median (min–max), or each run's value when they differ.`,
			`- **OAuth2 LLM Chat**: this package's node with its credential (\`llmProviderOAuth2Api\`, client_secret_post), Concurrency ${parallelism}.`,
			`- **HTTP Request + oAuth2Api**: n8n's HTTP Request node 4.2, Authentication → Generic → OAuth2 API, n8n's built-in credential with Grant Type Client Credentials, the same client, scope and token URL, Authentication "Send credentials in body"; the same request body. Its parallelism is its Batching option: ${parallelism} items per batch, ${latencyMs} ms between batches (it does not wait for answers; every item of a batch is sent at once), so about ${parallelism} calls are in flight, as with Concurrency ${parallelism}.`,
			'- n8n\'s oAuth2Api stores the token in the credential (database) and renews it only after a 401 (then it asks for a new token and replays that call, for every call that got the 401). The token stored by one run is long expired when the next run starts, so after the first run every run begins with 401s — which is what a scheduled workflow with tokens shorter than its interval sees. This node\'s cache lives in the process: each `n8n execute` is a new process and starts with one token request.',
			`- **node s**: the LLM node's own execution time from n8n's run data (ideal ${fmt(idealS)} s = ${items} × ${latencyMs} ms ÷ ${parallelism}). **process s**: the whole \`n8n execute\` command (n8n start-up, run, exit). **token requests**, **chat requests**, **401s**: the sandbox's counters for the client during that execution. **status**: n8n's run status.`,
		].join('\n'),
		tables: [
			table(
				['node', 'node s', 'process s', 'output items', 'token requests', 'chat requests', '401s', 'status'],
				[row('OAuth2 LLM Chat (this package)', ours), row('HTTP Request + n8n oAuth2Api (client credentials)', theirs)],
			),
		],
		verdicts,
	};
}
