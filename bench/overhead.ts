/**
 * Benchmark 2: what the node costs on top of the HTTP calls themselves. Items/s of the node in
 * n8n-core's WorkflowExecute against a zero-latency chat API, vs a plain axios loop with the same
 * concurrency, the same request body and a token fetched once from the same server.
 */
import axios from 'axios';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
	NodeConnectionTypes,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
} from 'n8n-workflow';

import { CHAT_NODE_TYPE, SOURCE_NODE_TYPE, outputItems, runChatNode, runWorkflow } from '../test/harness/workflow-execute';
import type { Sandbox } from '../test/sandbox/sandbox';
import {
	type BenchOptions,
	type BenchSection,
	MODEL,
	SYSTEM_PROMPT,
	chatNodeParameters,
	credentialDataFor,
	fmt,
	loadNow,
	median,
	medianWithIqr,
	quantile,
	questionItems,
	spread,
	table,
	timed,
} from './lib';


const MINIMAL_NODE_TYPE = 'benchMinimalChat';
const REPO_ROOT = path.resolve(__dirname, '..');

/**
 * The least a node inside n8n can do for the same job: the same `messages` parameter (with the same
 * `={{ $json.q }}` expression) read per item through n8n's getNodeParameter, one axios POST per item
 * with a bearer token given as a parameter, `concurrency` workers. No token cache, no retries, no
 * error mapping, no output shaping. It separates n8n's own per-item cost from this package's.
 */
class MinimalChatNode implements INodeType {
	description: INodeType['description'] = {
		displayName: 'Bench Minimal Chat',
		name: MINIMAL_NODE_TYPE,
		group: ['transform'],
		version: 1,
		description: 'Benchmark only',
		defaults: { name: 'Minimal Chat' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		properties: [
			{ displayName: 'URL', name: 'url', type: 'string', default: '' },
			{ displayName: 'Token', name: 'token', type: 'string', default: '' },
			{ displayName: 'Model', name: 'model', type: 'string', default: '' },
			{ displayName: 'Concurrency', name: 'concurrency', type: 'number', default: 5 },
			{
				displayName: 'Messages',
				name: 'messages',
				type: 'fixedCollection',
				typeOptions: { multipleValues: true },
				default: {},
				options: [
					{
						displayName: 'Message',
						name: 'values',
						values: [
							{ displayName: 'Role', name: 'role', type: 'string', default: 'user' },
							{ displayName: 'Content', name: 'content', type: 'string', default: '' },
						],
					},
				],
			},
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const url = this.getNodeParameter('url', 0) as string;
		const token = this.getNodeParameter('token', 0) as string;
		const concurrency = this.getNodeParameter('concurrency', 0) as number;
		const out: INodeExecutionData[] = new Array(items.length);
		let next = 0;
		const worker = async () => {
			for (;;) {
				const index = next++;
				if (index >= items.length) return;
				const messages = this.getNodeParameter('messages.values', index, []) as IDataObject[];
				const model = this.getNodeParameter('model', index) as string;
				const response = await axios.post<{ choices: Array<{ message: IDataObject }> }>(
					url,
					{ model, messages },
					{ headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } },
				);
				out[index] = { json: response.data.choices[0].message, pairedItem: { item: index } };
			}
		};
		await Promise.all(Array.from({ length: concurrency }, worker));
		return [out];
	}
}

/** The minimal node in WorkflowExecute; the token is fetched (and timed) first. Returns items/s. */
export async function minimalRun(sandbox: Sandbox, items: number, concurrency: number): Promise<number> {
	const { ms, value } = await timed(async () => {
		const token = (await sandbox.fetchToken('post', { scope: 'llm.chat llm.models' })).access_token;
		return await runWorkflow({
			nodes: [
				{ id: 'bench-source', name: 'Source', type: SOURCE_NODE_TYPE, typeVersion: 1, position: [0, 0], parameters: { items: JSON.stringify(questionItems(items)) } },
				{
					id: 'bench-minimal',
					name: 'Minimal Chat',
					type: MINIMAL_NODE_TYPE,
					typeVersion: 1,
					position: [200, 0],
					parameters: {
						url: `${sandbox.baseUrl}/chat/completions`,
						token,
						model: MODEL,
						concurrency,
						messages: { values: [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: '={{ $json.q }}' }] },
					},
				},
			],
			connections: { Source: { main: [[{ node: 'Minimal Chat', type: NodeConnectionTypes.Main, index: 0 }]] } },
			nodeTypes: { [MINIMAL_NODE_TYPE]: new MinimalChatNode() },
		});
	});
	if (value.error || outputItems(value.runData, 'Minimal Chat').length !== items) throw new Error(`minimal node run failed: ${value.error?.message}`);
	return items / (ms / 1000);
}

/**
 * The node as it ships: the built `dist` (what n8n loads), not the TypeScript source that tsx
 * transpiles for the tests, whose helpers (esbuild's `__name` on every closure) cost time per call.
 */
function built<T>(...segments: string[]): T {
	const file = path.join(REPO_ROOT, 'dist', ...segments);
	if (!existsSync(file)) throw new Error('benchmark 2 runs the built node: run `npm run build` first (`npm run bench` does)');
	return require(file) as T;
}

function builtChatNode(): INodeType {
	const { OAuth2LlmChat } = built<{ OAuth2LlmChat: new () => INodeType }>('nodes', 'OAuth2LlmChat', 'OAuth2LlmChat.node.js');
	return new OAuth2LlmChat();
}

/** A fresh process-wide cache (one global slot, shared by the source and the built copy), of the built code. */
function freshBuiltTokenCache(): void {
	built<{ replaceSharedTokenCache(): unknown }>('nodes', 'shared', 'auth', 'token-cache.js').replaceSharedTokenCache();
}

/** The node: Source → OAuth2 LLM Chat (built) in WorkflowExecute. Returns items/s. */
export async function nodeRun(sandbox: Sandbox, items: number, concurrency: number): Promise<number> {
	freshBuiltTokenCache(); // includes the one token request, as a real first execution would
	const { ms, value } = await timed(
		async () =>
			await runChatNode({
				items: questionItems(items),
				parameters: chatNodeParameters(concurrency),
				credentialData: credentialDataFor(sandbox),
				nodeTypes: { [CHAT_NODE_TYPE]: builtChatNode() },
			}),
	);
	if (value.error || value.items.length !== items) throw new Error(`node run failed: ${value.error?.message ?? `${value.items.length} items`}`);
	return items / (ms / 1000);
}

/**
 * The baseline: `concurrency` workers taking items off one list, one axios POST each, the answer's
 * message kept per item; the token is fetched once (timed, like the node's first token request).
 */
export async function plainRun(sandbox: Sandbox, items: number, concurrency: number): Promise<number> {
	const inputs = questionItems(items);
	const url = `${sandbox.baseUrl}/chat/completions`;
	const { ms } = await timed(async () => {
		const token = (await sandbox.fetchToken('post', { scope: 'llm.chat llm.models' })).access_token;
		const outputs: unknown[] = new Array(items);
		let next = 0;
		const worker = async () => {
			for (;;) {
				const index = next++;
				if (index >= items) return;
				const response = await axios.post<{ choices: Array<{ message: unknown }> }>(
					url,
					{ model: MODEL, messages: [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: inputs[index].q }] },
					{ headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } },
				);
				outputs[index] = response.data.choices[0].message;
			}
		};
		await Promise.all(Array.from({ length: concurrency }, worker));
		if (outputs.some((o) => o === undefined)) throw new Error('plain loop lost an answer');
	});
	return items / (ms / 1000);
}

/** Paired rounds per concurrency when --runs does not say: enough for a narrow interquartile range. */
const DEFAULT_ROUNDS = 18;

/**
 * The runs of one round, mirror-symmetric: node and minimal twice each around the plain loop (N M P M N,
 * then M N P N M in the next round), so a drift of the machine that is linear over the round falls on
 * node and minimal alike, and each is first in half the rounds. A side's rate in the round is its items
 * over its two runs' time together.
 */
const ROUND_ORDERS: ReadonlyArray<ReadonlyArray<'node' | 'minimal' | 'plain'>> = [
	['node', 'minimal', 'plain', 'minimal', 'node'],
	['minimal', 'node', 'plain', 'node', 'minimal'],
];

/** A full collection between sides, outside the timed part, where the process allows it (`npm run bench` runs with --expose-gc): one side's garbage is not collected on the next side's time. */
const collectGarbage = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
/** Items per run (node and minimal run twice per round): long enough that one GC or timer tick weighs little. */
const ITEMS = 1500;
export const NODE_VS_MINIMAL_TARGET = 0.97;

export async function overheadBench(sandbox: Sandbox, options: BenchOptions): Promise<BenchSection> {
	const items = options.quick ? 300 : ITEMS;
	// An even number, so that node and minimal each come first equally often.
	const rounds = options.quick ? 2 : options.runsGiven ? Math.max(4, Math.ceil(options.runs / 2) * 2) : DEFAULT_ROUNDS;
	const concurrencies = [10, 50];
	await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
	await sandbox.reset();
	const loadBefore = loadNow();

	// Warm-up of all three paths (JIT, keep-alive sockets, the sandbox's JWKS): not counted.
	for (let i = 0; i < 3; i++) {
		await nodeRun(sandbox, 300, 50);
		await minimalRun(sandbox, 300, 50);
		await plainRun(sandbox, 300, 50);
	}

	const rows: Array<Array<string | number>> = [];
	const verdicts: string[] = [];
	for (const concurrency of concurrencies) {
		const rates = { node: [] as number[], plain: [] as number[], minimal: [] as number[] };
		// CPU of this process per item (process.cpuUsage, user + system): the sandbox's share is not in it,
		// so it moves less with the machine than items/s does.
		const cpu = { node: [] as number[], plain: [] as number[], minimal: [] as number[] };
		const cpuNodeVsMinimal: number[] = [];
		const nodeVsMinimal: number[] = [];
		const nodeVsPlain: number[] = [];
		const minimalVsPlain: number[] = [];
		const run = { node: nodeRun, minimal: minimalRun, plain: plainRun };
		for (let round = 0; round < rounds; round++) {
			// The ratio is taken within the round, never across rounds.
			const order = ROUND_ORDERS[round % ROUND_ORDERS.length];
			const seconds = { node: 0, minimal: 0, plain: 0 };
			const cpuMicros = { node: 0, minimal: 0, plain: 0 };
			const done = { node: 0, minimal: 0, plain: 0 };
			for (const name of order) {
				collectGarbage();
				const before = process.cpuUsage();
				seconds[name] += items / (await run[name](sandbox, items, concurrency));
				const used = process.cpuUsage(before);
				cpuMicros[name] += used.user + used.system;
				done[name] += items;
			}
			const rate: Record<keyof typeof rates, number> = { node: done.node / seconds.node, minimal: done.minimal / seconds.minimal, plain: done.plain / seconds.plain };
			const cpuUs: Record<keyof typeof rates, number> = { node: cpuMicros.node / done.node, minimal: cpuMicros.minimal / done.minimal, plain: cpuMicros.plain / done.plain };
			for (const name of Object.keys(rates) as Array<keyof typeof rates>) {
				rates[name].push(rate[name]);
				cpu[name].push(cpuUs[name]);
			}
			cpuNodeVsMinimal.push(cpuUs.node / cpuUs.minimal);
			nodeVsMinimal.push(rate.node / rate.minimal);
			nodeVsPlain.push(rate.node / rate.plain);
			minimalVsPlain.push(rate.minimal / rate.plain);
			options.log(
				`  concurrency ${concurrency} round ${round + 1}/${rounds} (${order.join(', ')}): node ${fmt(rate.node)} items/s, minimal ${fmt(rate.minimal)}, plain ${fmt(rate.plain)}; node/minimal ${rate.node / rate.minimal >= 0 ? (rate.node / rate.minimal).toFixed(3) : ''}`,
			);
			await sandbox.reset();
		}
		rows.push([
			concurrency,
			items,
			rounds,
			spread(rates.node, 0),
			spread(rates.minimal, 0),
			spread(rates.plain, 0),
			medianWithIqr(nodeVsMinimal),
			medianWithIqr(minimalVsPlain),
			medianWithIqr(nodeVsPlain),
			`${fmt(median(cpu.node), 0)} / ${fmt(median(cpu.minimal), 0)} / ${fmt(median(cpu.plain), 0)}`,
			medianWithIqr(cpuNodeVsMinimal),
		]);
		const own = median(nodeVsMinimal);
		const q1 = quantile(nodeVsMinimal, 0.25);
		verdicts.push(
			`2 (concurrency ${concurrency}): ${own >= NODE_VS_MINIMAL_TARGET ? '**met**' : '**missed**'}, the node reaches ${own.toFixed(3)} of the minimal n8n node's items/s, median of ${rounds} paired rounds (IQR ${q1.toFixed(3)}–${quantile(nodeVsMinimal, 0.75).toFixed(3)}; target ≥ ${NODE_VS_MINIMAL_TARGET}). Inside n8n any node reaches ${median(minimalVsPlain).toFixed(2)} of a plain axios loop (n8n's workflow set-up and per-item parameter evaluation); this node ${median(nodeVsPlain).toFixed(2)}.`,
		);
	}
	const loadAfter = loadNow();

	return {
		title: '2. Node overhead',
		about: [
			`Items per second through ${items} items against the sandbox chat API with no added latency, three sides in paired rounds: **the node** (Source → OAuth2 LLM Chat in n8n-core's \`WorkflowExecute\`, in the benchmark process, the built \`dist\` code that n8n loads, a fresh token cache per run so its one token request is included), **a minimal n8n node** in the same \`WorkflowExecute\`, and **a plain axios loop** outside n8n.`,
			'- **minimal n8n node**: a benchmark-only node that does the least possible for the same job: reads the same `messages` parameter (same `={{ $json.q }}` expression) and `model` per item through n8n\'s `getNodeParameter`, one axios POST per item with a token fetched once (timed), same concurrency; no token cache, deadline, size limit, SSRF or proxy rule, retries, error mapping or output shaping. **node ÷ minimal** is what this package adds; the target is ≥ 0.97.',
			'- **plain axios loop**: `concurrency` workers sending the same body with a token fetched once (timed). **minimal ÷ plain** is what running inside n8n costs any node.',
			`- **Paired rounds**: each round runs every side once, back to back, mirror-symmetric: node, minimal, plain, minimal, node, and the next round minimal, node, plain, node, minimal (a drift of the machine that is linear over a round falls on node and minimal alike; each comes first in half the rounds), a side\'s rate in the round being its items over its runs\' time together, with a full garbage collection before each run, outside the timed part; each ratio is taken within its round. The table gives the median of the ${rounds} per-round ratios with its interquartile range (IQR, the middle half of the rounds) and the extremes. items/s columns: median (min–max) over the rounds.`,
			`- Load average (1/5/15 min) when this benchmark started: ${loadBefore}; when it ended: ${loadAfter}.`,
			'- All three hit the same sandbox, whose per-request work (a JWT signature check with jose, JSON) runs in its own process on the same 2 cores: absolute items/s are the machine\'s limit; the ratios are what the sides add.',
			'- **CPU µs per item**: CPU time of the benchmark process (user + system, `process.cpuUsage`) during that side\'s run, divided by the items, median over the rounds; the sandbox\'s CPU is not in it, and every thread of the process is (GC helpers, libuv), where the CPU profile sees the main thread only. **CPU per item: node ÷ minimal** is the per-round ratio (median, IQR): what the package adds in CPU, steadier than items/s, which also move with the sandbox and the machine.',
			'- Where the node\'s CPU goes per item, against the minimal node: the "CPU profile" section below (`bench/profile.ts`).',
		].join('\n'),
		tables: [
			table(
				['concurrency', 'items', 'rounds', 'node items/s', 'minimal n8n node items/s', 'plain axios items/s', 'node ÷ minimal', 'minimal ÷ plain', 'node ÷ plain', 'CPU µs per item: node / minimal / plain', 'CPU per item: node ÷ minimal'],
				rows,
			),
		],
		verdicts,
	};
}
