/**
 * Benchmark 2: what the node costs on top of the HTTP calls themselves. Items/s of the node in
 * n8n-core's WorkflowExecute against a zero-latency chat API, vs a plain axios loop with the same
 * concurrency, the same request body and a token fetched once from the same server.
 */
import axios from 'axios';

import { replaceSharedTokenCache } from '../nodes/shared/token-cache';
import { runChatNode } from '../test/harness/workflow-execute';
import type { Sandbox } from '../test/sandbox/sandbox';
import {
	type BenchOptions,
	type BenchSection,
	MODEL,
	SYSTEM_PROMPT,
	chatNodeParameters,
	credentialDataFor,
	fmt,
	median,
	questionItems,
	spread,
	table,
	timed,
} from './lib';

export const OVERHEAD_TARGET = 0.9;

/** The node: Source → OAuth2 LLM Chat in WorkflowExecute. Returns items/s. */
async function nodeRun(sandbox: Sandbox, items: number, concurrency: number): Promise<number> {
	replaceSharedTokenCache(); // includes the one token request, as a real first execution would
	const { ms, value } = await timed(
		async () =>
			await runChatNode({
				items: questionItems(items),
				parameters: chatNodeParameters(concurrency),
				credentialData: credentialDataFor(sandbox),
			}),
	);
	if (value.error || value.items.length !== items) throw new Error(`node run failed: ${value.error?.message ?? `${value.items.length} items`}`);
	return items / (ms / 1000);
}

/**
 * The baseline: `concurrency` workers taking items off one list, one axios POST each, the answer's
 * message kept per item; the token is fetched once (timed, like the node's first token request).
 */
async function plainRun(sandbox: Sandbox, items: number, concurrency: number): Promise<number> {
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

export async function overheadBench(sandbox: Sandbox, options: BenchOptions): Promise<BenchSection> {
	const items = options.quick ? 300 : 2000;
	const concurrencies = [10, 50];
	await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
	await sandbox.reset();

	// Warm-up of both paths (JIT, keep-alive sockets, the sandbox's JWKS): not counted.
	await nodeRun(sandbox, 200, 10);
	await plainRun(sandbox, 200, 10);

	const rows: Array<Array<string | number>> = [];
	const verdicts: string[] = [];
	for (const concurrency of concurrencies) {
		const nodeRates: number[] = [];
		const plainRates: number[] = [];
		const ratios: number[] = [];
		for (let run = 0; run < options.runs; run++) {
			// Alternate which side goes first, so drift in machine load hits both alike.
			let nodeRate: number;
			let plainRate: number;
			if (run % 2 === 0) {
				nodeRate = await nodeRun(sandbox, items, concurrency);
				plainRate = await plainRun(sandbox, items, concurrency);
			} else {
				plainRate = await plainRun(sandbox, items, concurrency);
				nodeRate = await nodeRun(sandbox, items, concurrency);
			}
			nodeRates.push(nodeRate);
			plainRates.push(plainRate);
			ratios.push(nodeRate / plainRate);
			options.log(`  concurrency ${concurrency} run ${run + 1}: node ${fmt(nodeRate)} items/s, plain ${fmt(plainRate)} items/s, ratio ${fmt(nodeRate / plainRate)}`);
			await sandbox.reset();
		}
		const ratio = median(ratios);
		rows.push([concurrency, items, spread(nodeRates, 0), spread(plainRates, 0), spread(ratios)]);
		verdicts.push(
			ratio >= OVERHEAD_TARGET
				? `2 (concurrency ${concurrency}): **met**, the node reaches ${fmt(ratio)} of the plain axios loop's items/s (target ≥ ${OVERHEAD_TARGET}).`
				: `2 (concurrency ${concurrency}): **missed**, the node reaches ${fmt(ratio)} of the plain axios loop's items/s (target ≥ ${OVERHEAD_TARGET}); see the notes of benchmark 2 for what limits it.`,
		);
	}

	return {
		title: '2. Node overhead',
		about: [
			`Items per second through ${items} items against the sandbox chat API with no added latency: the node (Source → OAuth2 LLM Chat in n8n-core's \`WorkflowExecute\`, in the benchmark process, with a fresh token cache so its one token request is included) vs a plain loop of \`concurrency\` axios workers in the same process sending the same request body with a token fetched once from the same token endpoint (that fetch is timed too). The two sides alternate which goes first in each run.`,
			'- **items/s**: items ÷ wall time of the whole run, median (min–max) over the runs. What the node adds: n8n\'s workflow setup, parameter and expression evaluation per item (`={{ $json.q }}`), the token cache lookup per call, its retry wrapper, response mapping and pairedItem.',
			'- **ratio**: node ÷ plain per run, median (min–max); the target is ≥ 0.9.',
			'- Both sides hit the same server, whose per-request cost (JWT signature check with jose, JSON) runs in the sandbox process on the same 2 cores: it dominates and is the same for both, so the ratio is a fair measure of the node\'s own cost but absolute items/s are the sandbox\'s limit, not the node\'s.',
		].join('\n'),
		tables: [table(['concurrency', 'items', 'node items/s', 'plain axios items/s', 'ratio node/plain'], rows)],
		verdicts,
	};
}
