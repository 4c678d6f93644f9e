/**
 * Benchmark 3: latency-bound throughput. The chat API adds 50 ms to every call; the node at
 * concurrency 1, 10 and 50 vs the ideal N × latency ÷ concurrency.
 */
import { replaceSharedTokenCache } from '../nodes/shared/auth/token-cache';
import { runChatNode } from '../test/harness/workflow-execute';
import type { Sandbox } from '../test/sandbox/sandbox';
import { plainRun } from './overhead';
import { type BenchOptions, type BenchSection, chatNodeParameters, credentialDataFor, fmt, median, questionItems, spread, table, timed } from './lib';

const LATENCY_MS = 50;

export async function latencyBench(sandbox: Sandbox, options: BenchOptions): Promise<BenchSection> {
	const q = options.quick;
	// Concurrency 1 would take 25 s per run for 500 items; 60 items (3 s) measure the same thing.
	const cases = [
		{ concurrency: 1, items: q ? 20 : 60 },
		{ concurrency: 10, items: q ? 100 : 500 },
		{ concurrency: 50, items: q ? 200 : 500 },
	];
	await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: LATENCY_MS });
	const rows: Array<Array<string | number>> = [];
	const verdicts: string[] = [];
	try {
		// Warm-up: not counted.
		await runChatNode({ items: questionItems(20), parameters: chatNodeParameters(10), credentialData: credentialDataFor(sandbox) });
		for (const { concurrency, items } of cases) {
			const idealS = (items * LATENCY_MS) / concurrency / 1000;
			const walls: number[] = [];
			const plainWalls: number[] = [];
			for (let run = 0; run < options.runs; run++) {
				const nodeSide = async () => {
					replaceSharedTokenCache(); // includes the first token request
					const { ms, value } = await timed(
						async () =>
							await runChatNode({ items: questionItems(items), parameters: chatNodeParameters(concurrency), credentialData: credentialDataFor(sandbox) }),
					);
					if (value.error || value.items.length !== items) throw new Error(`node run failed: ${value.error?.message ?? `${value.items.length} items`}`);
					walls.push(ms / 1000);
				};
				const plainSide = async () => {
					plainWalls.push(items / (await plainRun(sandbox, items, concurrency)));
				};
				await sandbox.reset();
				// Alternate which side goes first.
				for (const side of run % 2 === 0 ? [nodeSide, plainSide] : [plainSide, nodeSide]) await side();
				options.log(`  concurrency ${concurrency} run ${run + 1}: node ${fmt(walls.at(-1)!)} s, plain axios ${fmt(plainWalls.at(-1)!)} s (ideal ${fmt(idealS)} s)`);
			}
			const efficiency = walls.map((w) => idealS / w);
			rows.push([
				concurrency,
				items,
				fmt(idealS),
				spread(walls),
				spread(efficiency),
				fmt(((median(walls) - idealS) * 1000) / items, 2),
				spread(plainWalls),
				spread(plainWalls.map((w) => idealS / w)),
			]);
			verdicts.push(
				`3 (concurrency ${concurrency}, ${items} items): wall ${fmt(median(walls))} s vs ideal ${fmt(idealS)} s, ${fmt(median(efficiency) * 100, 0)} % of ideal (plain axios loop on the same server: ${fmt(median(plainWalls))} s, ${fmt((idealS / median(plainWalls)) * 100, 0)} %).`,
			);
		}
	} finally {
		await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
	}
	return {
		title: '3. Latency-bound throughput',
		about: [
			`The sandbox chat API waits ${LATENCY_MS} ms before answering each call. The node (in n8n-core's \`WorkflowExecute\`, fresh token cache per run, so the one token request is included) processes the items at the given concurrency.`,
			`- **ideal s** = items × ${LATENCY_MS} ms ÷ concurrency: what a client with no overhead at all would need.`,
			'- **node wall s**: the whole run, median (min–max). **ideal ÷ wall**: 1 = perfect. **overhead ms/item** = (wall − ideal) ÷ items.',
			'- **plain axios**: the same items through benchmark 2\'s plain axios loop (same concurrency, token fetched once), measured alternately with the node in the same runs: what the sandbox and the machine allow at all, so the gap between the two columns is the node\'s (and n8n\'s) share.',
			`- Concurrency 1 runs ${cases[0].items} items instead of 500 (500 would take 25 s per run and per side, and the ratio is the same); the other rows run the issue's 500 items.`,
			'- At concurrency 50 the ideal is 0.5 s, so fixed costs (workflow setup, the token request, the sandbox verifying 50 JWTs at once on a shared core) weigh more.',
		].join('\n'),
		tables: [table(['concurrency', 'items', 'ideal s', 'node wall s', 'node: ideal ÷ wall', 'node overhead ms/item', 'plain axios wall s', 'plain: ideal ÷ wall'], rows)],
		verdicts,
	};
}
