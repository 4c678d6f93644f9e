/**
 * Benchmarks of the token cache and the OAuth2 LLM Chat node against the alternatives (issue 5).
 *
 *   node --expose-gc --import tsx bench/run.ts [--only=<name>[,<name>…]] [--runs=N] [--quick] [--out=FILE] [--no-write]
 *
 * Names: tokens, overhead, profile, latency, n8n, memory, scrub, queue, streaming, formats. Default: all, 5 runs each, and the report is written
 * to BENCHMARKS.md (with --quick or --only to $TMPDIR/n8n-nodes-oauth2-llm-bench-last-run.md instead,
 * unless --out says otherwise)
 * and printed to stdout. Progress goes to stderr.
 *
 * The sandbox provider runs in a child process, so its CPU (JWT signing and verification) is not the
 * measured process's; on a 2-core machine they still compete for the same cores.
 * Benchmark "n8n" needs the built package (`npm run build`) and installs n8n 2.41.1 on first use.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { spawn } from 'node:child_process';

import { N8N_VERSION, n8n2NodeBin } from '../test/harness/n8n';
import { startSandbox, type Sandbox } from '../test/sandbox/sandbox';
import { type BenchOptions, type BenchSection, gitRevision, loadNow, machineInfo } from './lib';
import { latencyBench } from './latency';
import { memoryBench } from './memory';
import { n8nCompareBench } from './n8n-compare';
import { overheadBench } from './overhead';
import { profileBench } from './profile';
import { queueBench } from './queue';
import { scrubBench } from './scrub';
import { formatsBench } from './formats';
import { streamingBench } from './streaming';
import { tokenRequestsBench } from './token-requests';

const REPO_ROOT = path.resolve(__dirname, '..');

const BENCHMARKS: Record<string, { title: string; needsSandbox: boolean; run: (sandbox: Sandbox | undefined, options: BenchOptions) => Promise<BenchSection> }> = {
	tokens: { title: 'Token requests', needsSandbox: true, run: async (s, o) => await tokenRequestsBench(s!, o) },
	overhead: { title: 'Node overhead', needsSandbox: true, run: async (s, o) => await overheadBench(s!, o) },
	profile: { title: 'CPU profile', needsSandbox: true, run: async (s, o) => await profileBench(s!, o) },
	latency: { title: 'Latency-bound throughput', needsSandbox: true, run: async (s, o) => await latencyBench(s!, o) },
	n8n: { title: 'Inside a real n8n', needsSandbox: true, run: async (s, o) => await n8nCompareBench(s!, o, REPO_ROOT) },
	memory: { title: 'Memory', needsSandbox: false, run: async (_s, o) => await memoryBench(o, REPO_ROOT) },
	scrub: { title: 'Scrubbing server text', needsSandbox: false, run: async (_s, o) => await scrubBench(o) },
	queue: { title: 'Token requests in queue mode', needsSandbox: true, run: async (s, o) => await queueBench(s!, o, REPO_ROOT) },
	streaming: { title: 'Streaming: time to first token', needsSandbox: true, run: async (s, o) => await streamingBench(s!, o, REPO_ROOT) },
	formats: { title: 'Streaming in every API format', needsSandbox: true, run: async (s, o) => await formatsBench(s!, o) },
};

function log(message: string): void {
	process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * The benchmarks run on the Node that n8n 2.x runs on (24): started on an older one (n8n 1.x's, 20 here),
 * this process hands over to Node 24 and tells it where the first Node is, so that benchmark 2 measures
 * both lines. Returns the exit code of the handover, or undefined when this process is the one to run.
 */
async function onN8n2Node(): Promise<number | undefined> {
	if (Number(process.versions.node.split('.')[0]) >= 24) return undefined;
	// Handed over once: a Node that calls itself 24 and is not would otherwise hand over for ever.
	if (process.env.OAUTH2_LLM_BENCH_HANDED_OVER) throw new Error(`the Node installed for n8n 2.x is ${process.version}, not 24 or later`);
	const nodeBin = await n8n2NodeBin();
	log(`moving to ${nodeBin} (n8n 2.x's Node); benchmark 2 also runs on ${process.execPath} (${process.version})`);
	const child = spawn(nodeBin, [...process.execArgv, ...process.argv.slice(1)], {
		stdio: 'inherit',
		env: { ...process.env, OAUTH2_LLM_BENCH_OTHER_NODE: process.execPath, OAUTH2_LLM_BENCH_HANDED_OVER: '1' },
	});
	for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
	return await new Promise<number>((resolve, reject) => {
		child.on('error', reject);
		child.on('exit', (code) => resolve(code ?? 1));
	});
}

async function main(): Promise<void> {
	const { values } = parseArgs({
		options: {
			only: { type: 'string' },
			runs: { type: 'string' },
			quick: { type: 'boolean', default: false },
			out: { type: 'string' },
			'no-write': { type: 'boolean', default: false },
		},
		strict: true,
	});
	const quick = values.quick ?? false;
	const runs = values.runs !== undefined ? Number(values.runs) : quick ? 1 : 5;
	if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error(`--runs must be an integer 1–50, got ${values.runs}`);
	const names = values.only ? values.only.split(',').map((n) => n.trim()) : Object.keys(BENCHMARKS);
	for (const name of names) {
		if (!BENCHMARKS[name]) throw new Error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHMARKS).join(', ')}`);
	}
	const options: BenchOptions = { runs, runsGiven: values.runs !== undefined, quick, log };
	// The arguments are checked first: a mistyped one does not install Node 24.
	const handedOver = await onN8n2Node();
	if (handedOver !== undefined) process.exit(handedOver);
	const machine = machineInfo();
	const loadBefore = loadNow();
	const revisionAtStart = gitRevision(REPO_ROOT);
	const started = performance.now();

	let sandbox: Sandbox | undefined;
	const sections: BenchSection[] = [];
	try {
		if (names.some((n) => BENCHMARKS[n].needsSandbox)) {
			sandbox = await startSandbox(); // child process
			log(`sandbox provider at ${sandbox.origin} (pid ${sandbox.pid})`);
		}
		for (const name of names) {
			log(`${name}: ${BENCHMARKS[name].title}…`);
			const t0 = performance.now();
			sections.push(await BENCHMARKS[name].run(sandbox, options));
			log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
		}
	} finally {
		await sandbox?.stop();
	}
	const totalS = (performance.now() - started) / 1000;

	const command = [`node${process.execArgv.includes('--expose-gc') ? ' --expose-gc' : ''} --import tsx bench/run.ts`, ...process.argv.slice(2)].join(' ');
	const loadAfter = loadNow();
	const revisionAtEnd = gitRevision(REPO_ROOT);
	const loaded = Math.max(Number(loadBefore.split(' / ')[0]), Number(loadAfter.split(' / ')[0]), Number(loadAfter.split(' / ')[1])) > machine.cores;
	const report = [
		'# Benchmarks',
		'',
		'Generated by `npm run bench` (`bench/run.ts`); do not edit by hand. Every comparison below was measured side by side in the same run, against the local sandbox provider (`test/sandbox`: oidc-provider issuing RFC 9068 JWTs and an OpenAI-compatible chat API that verifies each token with jose), on 127.0.0.1.',
		'',
		'## Machine and run',
		'',
		`- CPU: ${machine.cpuModel}, ${machine.cores} cores; memory ${machine.memoryGiB} GiB; ${machine.os}`,
		`- Node ${machine.node} (benchmark process and sandbox: the Node n8n 2.x runs on; \`npm run bench\` moves to it when started on an older one)${process.env.OAUTH2_LLM_BENCH_OTHER_NODE && names.includes('overhead') ? `, and for benchmark 2 also ${process.env.OAUTH2_LLM_BENCH_OTHER_NODE}` : ''}; n8n ${N8N_VERSION} (benchmark 4 runs it on Node 24 too, see test/harness/n8n.ts)`,
		`- Date: ${machine.date}; commit ${revisionAtStart}${revisionAtEnd !== revisionAtStart ? ` at the start, ${revisionAtEnd} at the end (the code changed during the run: child processes started later, such as benchmark 5's and n8n's, may have run newer code)` : ''}`,
		`- Command: \`${command}\` — ${runs} run(s) per measurement${quick ? ', quick sizes (debugging only, not representative)' : ''}; total ${totalS.toFixed(0)} s`,
		`- Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}. On a ${machine.cores}-core machine, a load above ~${machine.cores} means other work competed for the CPU and absolute numbers (items/s, wall times) are pessimistic; ratios measured side by side suffer less.`,
		...(loaded
			? [
					'',
					`**These numbers were taken on a loaded machine** (load average above the ${machine.cores} cores during the run: other work was competing for the CPU). Counts (token requests, 401s, cache entries) do not depend on it; times and items/s do, and the spread between runs shows by how much. Rerun \`npm run bench\` on a quiet machine for representative times.`,
				]
			: []),
		'',
		'## How to reproduce',
		'',
		'```sh',
		'npm ci',
		'npm run bench                                   # all of them, writes BENCHMARKS.md',
		'node --expose-gc --import tsx bench/run.ts --only=tokens     # one benchmark (tokens, overhead, profile, latency, n8n, memory, scrub, queue, streaming, formats)',
		'node --expose-gc --import tsx bench/run.ts --quick           # small sizes, 1 run: for debugging',
		'node --expose-gc --import tsx bench/run.ts --runs=9          # more runs per median (benchmark 2: rounds, an even number)',
		'```',
		'',
		'Benchmark 4 needs the built package (`npm run build`, which `npm run bench` does first) and installs n8n 2.41.1 into `~/.cache/n8n-nodes-oauth2-llm/` on first use (several minutes, once). Run on a quiet machine: the sandbox, the benchmark process and n8n share the CPU.',
		'',
		'## Targets',
		'',
		...sections.flatMap((s) => s.verdicts.map((v) => `- ${v}`)),
		'',
		...sections.flatMap((s) => [
			`## ${s.title}`,
			'',
			s.about,
			'',
			...s.tables.flatMap((t) => [t, '']),
			...(s.notes && s.notes.length > 0 ? [...s.notes.map((n) => `- ${n}`), ''] : []),
		]),
	].join('\n');

	process.stdout.write(`${report}\n`);
	if (!values['no-write']) {
		// A partial or quick run must not replace the full report.
		const out = values.out ?? (quick || values.only ? path.join(tmpdir(), 'n8n-nodes-oauth2-llm-bench-last-run.md') : 'BENCHMARKS.md');
		writeFileSync(path.resolve(REPO_ROOT, out), report);
		log(`report written to ${out}`);
	}
}

main().then(
	() => process.exit(0), // the harness's n8n-core services may hold timers
	(error: unknown) => {
		process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
		process.exit(1);
	},
);
