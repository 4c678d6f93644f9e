/**
 * Where the node's CPU goes per item (issue 23): a V8 CPU profile (node:inspector) of the benchmark
 * process while it runs benchmark 2's node and, separately, its minimal n8n node, at one concurrency.
 * Self time is summed per function and per origin (this package, n8n-workflow, n8n-core, axios, Node's
 * own code, GC, idle) and divided by the items, so the two sides compare per item.
 *
 *   npm run build && node --import tsx bench/profile.ts [--concurrency=50] [--items=1500] [--rounds=8] [--top=25]
 *
 * It profiles the built `dist` (what n8n loads): build first, or it profiles the last build.
 *
 * The sandbox runs in its own process, so its JWT checks are not in this profile.
 */
import { Session } from 'node:inspector/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { startSandbox, type Sandbox } from '../test/sandbox/sandbox';
import { type BenchOptions, type BenchSection, loadNow, table } from './lib';
import { minimalRun, nodeRun } from './overhead';

const REPO_ROOT = path.resolve(__dirname, '..');

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}
interface Profile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
	startTime: number;
	endTime: number;
}

/** Which code a frame belongs to. */
export function originOf(url: string, functionName: string): string {
	if (functionName === '(garbage collector)') return 'GC';
	if (functionName === '(idle)') return 'idle';
	if (functionName === '(program)') return 'V8 (program)';
	const file = url.replace(/^file:\/\//, '');
	if (file.startsWith(path.join(REPO_ROOT, 'nodes')) || file.startsWith(path.join(REPO_ROOT, 'dist'))) return 'this package';
	if (file.includes('/node_modules/n8n-workflow/')) return 'n8n-workflow';
	if (file.includes('/node_modules/n8n-core/')) return 'n8n-core';
	if (file.includes('/node_modules/axios/')) return 'axios';
	if (file.includes('/node_modules/@n8n/')) return 'n8n other';
	if (file.includes('/node_modules/')) return `other: ${file.split('/node_modules/').at(-1)!.split('/').slice(0, file.includes('/node_modules/@') ? 2 : 1).join('/')}`;
	if (file.startsWith('node:') || url === '') return "Node's own";
	if (file.startsWith(path.join(REPO_ROOT, 'bench')) || file.startsWith(path.join(REPO_ROOT, 'test'))) return 'benchmark harness';
	return 'other';
}

/** Self time in µs per function key and per origin; inclusive time per function name. */
function selfTimes(profile: Profile): { byFunction: Map<string, number>; byOrigin: Map<string, number>; inclusive: Map<string, number>; totalUs: number } {
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const parent = new Map<number, number>();
	for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
	const inclusive = new Map<string, number>();
	const byFunction = new Map<string, number>();
	const byOrigin = new Map<string, number>();
	let totalUs = 0;
	for (let i = 0; i < profile.samples.length; i++) {
		const node = byId.get(profile.samples[i]);
		// DevTools' reading: a sample stands for the time until the next one.
		const us = profile.timeDeltas[i + 1] ?? 0;
		if (!node) continue;
		const { functionName, url, lineNumber } = node.callFrame;
		const seen = new Set<string>();
		for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
			const frame = byId.get(id)!.callFrame;
			const name = `${frame.functionName || '(anonymous)'} ${frame.url ? path.relative(REPO_ROOT, frame.url.replace(/^file:\/\//, '')) : ''}:${frame.lineNumber + 1}`;
			if (seen.has(name)) continue;
			seen.add(name);
			inclusive.set(name, (inclusive.get(name) ?? 0) + us);
		}
		const origin = originOf(url, functionName);
		totalUs += us;
		byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + us);
		const file = url ? path.relative(REPO_ROOT, url.replace(/^file:\/\//, '')) : '';
		const key = `${origin} | ${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
		byFunction.set(key, (byFunction.get(key) ?? 0) + us);
	}
	return { byFunction, byOrigin, inclusive, totalUs };
}

type SideProfile = ReturnType<typeof selfTimes>;

export interface SideProfiles {
	concurrency: number;
	/** Items per side in all (items × rounds). */
	items: number;
	node: SideProfile;
	minimal: SideProfile;
}

/**
 * Profiles benchmark 2's node and its minimal node at one concurrency. Rounds alternate the sides
 * (node, minimal, minimal, node…), each profiled on its own and summed per side: a slower spell of the
 * machine then falls on both sides alike.
 */
export async function profileSides(sandbox: Sandbox, concurrency: number, items: number, rounds: number): Promise<SideProfiles> {
	const session = new Session();
	session.connect();
	try {
		await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
		for (let i = 0; i < 2; i++) {
			await nodeRun(sandbox, 300, concurrency);
			await minimalRun(sandbox, 300, concurrency);
		}
		await session.post('Profiler.enable');
		// 200 µs between samples: fine enough for functions of a few µs per item over thousands of items.
		await session.post('Profiler.setSamplingInterval', { interval: 200 });
		const empty = (): SideProfile => ({ byFunction: new Map(), byOrigin: new Map(), inclusive: new Map(), totalUs: 0 });
		const results = { node: empty(), minimal: empty() };
		const add = (into: Map<string, number>, from: Map<string, number>) => {
			for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
		};
		for (let r = 0; r < rounds; r++) {
			const order = r % 2 === 0 ? (['node', 'minimal'] as const) : (['minimal', 'node'] as const);
			for (const side of order) {
				await session.post('Profiler.start');
				await (side === 'node' ? nodeRun : minimalRun)(sandbox, items, concurrency);
				const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
				const times = selfTimes(profile);
				add(results[side].byFunction, times.byFunction);
				add(results[side].byOrigin, times.byOrigin);
				add(results[side].inclusive, times.inclusive);
				results[side].totalUs += times.totalUs;
			}
			await sandbox.reset();
		}
		await session.post('Profiler.disable');
		return { concurrency, items: items * rounds, ...results };
	} finally {
		session.disconnect();
	}
}

const busyUs = (side: SideProfile) => side.totalUs - (side.byOrigin.get('idle') ?? 0);

/** The report's section: CPU per item by origin, and this package's functions with their share. */
export async function profileBench(sandbox: Sandbox, options: BenchOptions): Promise<BenchSection> {
	const items = options.quick ? 300 : 1000;
	const rounds = options.quick ? 2 : 8;
	const loadBefore = loadNow();
	const p = await profileSides(sandbox, 50, items, rounds);
	const loadAfter = loadNow();
	const perItem = (us: number) => us / p.items;
	const f1 = (us: number) => perItem(us).toFixed(1);
	const origins = [...new Set([...p.node.byOrigin.keys(), ...p.minimal.byOrigin.keys()])]
		.filter((o) => o !== 'idle')
		.sort((a, b) => (p.node.byOrigin.get(b) ?? 0) - (p.node.byOrigin.get(a) ?? 0));
	const originRows = origins
		.filter((o) => perItem(Math.max(p.node.byOrigin.get(o) ?? 0, p.minimal.byOrigin.get(o) ?? 0)) >= 0.5)
		.map((o) => [o, f1(p.node.byOrigin.get(o) ?? 0), f1(p.minimal.byOrigin.get(o) ?? 0), f1((p.node.byOrigin.get(o) ?? 0) - (p.minimal.byOrigin.get(o) ?? 0))]);
	originRows.push(['**busy CPU in all**', f1(busyUs(p.node)), f1(busyUs(p.minimal)), f1(busyUs(p.node) - busyUs(p.minimal))]);
	const own = [...p.node.byFunction.entries()].filter(([k]) => k.startsWith('this package')).sort((a, b) => b[1] - a[1]);
	const ownTotal = own.reduce((sum, [, us]) => sum + us, 0);
	const shown = own.slice(0, 20);
	const functionRows = shown.map(([k, us]) => {
		const [, name] = k.split(' | ');
		return [`\`${name.replace(/ dist\/nodes\//, ' nodes/').replace(/\.js:\d+$/, '.ts')}\``, f1(us), `${((us / busyUs(p.node)) * 100).toFixed(2)} %`];
	});
	const rest = ownTotal - shown.reduce((sum, [, us]) => sum + us, 0);
	functionRows.push([`${own.length - shown.length} other functions of this package`, f1(rest), `${((rest / busyUs(p.node)) * 100).toFixed(2)} %`]);
	functionRows.push(['**this package in all**', f1(ownTotal), `${((ownTotal / busyUs(p.node)) * 100).toFixed(1)} %`]);
	return {
		title: 'CPU profile: where the node\'s time goes',
		about: [
			`A V8 CPU profile (\`bench/profile.ts\`, node:inspector, a sample every 200 µs) of the benchmark process while benchmark 2's built node and its minimal n8n node each process ${p.items} items at concurrency ${p.concurrency}, in ${rounds} alternating rounds (node, minimal, minimal, node…), each side's samples summed. Self time per item: what a function itself ran, not what it called. The sandbox runs in its own process and is not in it. Run it alone with \`node --import tsx bench/profile.ts\` (more detail: top functions, inclusive times).`,
			`- Load average when the profile started: ${loadBefore}; when it ended: ${loadAfter}.`,
			'- By origin: this package\'s own functions; axios; n8n (n8n-workflow, n8n-core, luxon for its expression dates); Node\'s own code (http, streams, timers, promises); the garbage collector. The minimal node uses follow-redirects through axios (it keeps axios\'s default of following redirects), which this package turns off.',
			'- The profiler itself slows both sides alike; compare the columns, not the absolute µs with benchmark 2\'s CPU column.',
		].join('\n'),
		tables: [
			table(['origin', 'node µs/item', 'minimal µs/item', 'node − minimal'], originRows),
			table(['this package\'s function (self time)', 'µs per item', 'share of the node\'s busy CPU'], functionRows),
		],
		verdicts: [],
	};
}

async function main(): Promise<void> {
	const { values } = parseArgs({
		options: {
			concurrency: { type: 'string', default: '50' },
			items: { type: 'string', default: '1500' },
			rounds: { type: 'string', default: '8' },
			top: { type: 'string', default: '25' },
		},
	});
	const concurrency = Number(values.concurrency);
	const items = Number(values.items);
	const rounds = Number(values.rounds);
	const top = Number(values.top);
	const sandbox = await startSandbox();
	try {
		const results = await profileSides(sandbox, concurrency, items, rounds);
		const n = items * rounds;
		const perItem = (us: number) => (us / n).toFixed(1);
		const origins = new Set([...results.node.byOrigin.keys(), ...results.minimal.byOrigin.keys()]);
		process.stdout.write(`concurrency ${concurrency}, ${n} items per side; µs of CPU per item (self time)\n\n| origin | node µs/item | minimal µs/item |\n| --- | --- | --- |\n`);
		for (const o of [...origins].sort((a, b) => (results.node.byOrigin.get(b) ?? 0) - (results.node.byOrigin.get(a) ?? 0))) {
			process.stdout.write(`| ${o} | ${perItem(results.node.byOrigin.get(o) ?? 0)} | ${perItem(results.minimal.byOrigin.get(o) ?? 0)} |\n`);
		}
		process.stdout.write(`| total (busy, without idle) | ${perItem(busyUs(results.node))} | ${perItem(busyUs(results.minimal))} |\n\n`);
		for (const side of ['node', 'minimal'] as const) {
			process.stdout.write(`top ${top} functions, ${side} (µs/item)\n`);
			const sorted = [...results[side].byFunction.entries()].filter(([k]) => !k.startsWith('idle')).sort((a, b) => b[1] - a[1]).slice(0, top);
			for (const [k, us] of sorted) process.stdout.write(`  ${perItem(us).padStart(7)}  ${k}\n`);
			process.stdout.write('\n');
		}
		process.stdout.write('largest differences, node minus minimal, outside this package (µs/item)\n');
		const keys = new Set([...results.node.byFunction.keys(), ...results.minimal.byFunction.keys()]);
		const diffs = [...keys].filter((k) => !k.startsWith('this package') && !k.startsWith('idle')).map((k) => [k, (results.node.byFunction.get(k) ?? 0) - (results.minimal.byFunction.get(k) ?? 0)] as const);
		for (const [k, us] of diffs.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, top)) process.stdout.write(`  ${perItem(us).padStart(7)}  ${k}\n`);
		process.stdout.write('\n');
		for (const side of ['node', 'minimal'] as const) {
			process.stdout.write(`inclusive time, ${side} (µs/item), top ${top * 2}\n`);
			for (const [k, us] of [...results[side].inclusive.entries()].sort((a, b) => b[1] - a[1]).slice(0, top * 2)) process.stdout.write(`  ${perItem(us).padStart(7)}  ${k}\n`);
			process.stdout.write('\n');
		}
		process.stdout.write('this package\'s functions, node side (µs/item)\n');
		for (const [k, us] of [...results.node.byFunction.entries()].filter(([k]) => k.startsWith('this package')).sort((a, b) => b[1] - a[1]).slice(0, 40)) {
			process.stdout.write(`  ${perItem(us).padStart(7)}  ${k}\n`);
		}
	} finally {
		await sandbox.stop();
	}
}

if (require.main === module) main().then(
	() => process.exit(0),
	(error: unknown) => {
		process.stderr.write(`profile failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
		process.exit(1);
	},
);
