/**
 * Benchmark 5: memory of the token cache. Each run is a fresh child process (`node --expose-gc`,
 * bench/memory-child.ts) so heap numbers are its own; the tiny token server it calls runs here.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

import { DEFAULT_MAX_ENTRIES } from '../nodes/shared/auth/token-cache';
import { type BenchOptions, type BenchSection, counts, fmt, median, spread, table } from './lib';

interface ChildResult {
	items: number;
	credentials: number;
	baseline: number;
	afterItems: number;
	itemsMs: number;
	tokenRequestsForItems: number;
	samples: Array<{ credentials: number; heapUsed: number; cacheSize: number }>;
	credentialsMs: number;
	tokenRequestsTotal: number;
	cacheSize: number;
}

/** A token endpoint that answers every POST with a fresh 1-hour token of JWT-like size (~800 chars). */
async function startTinyTokenServer(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
	let requests = 0;
	const server = createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			requests++;
			const body = JSON.stringify({ access_token: randomBytes(600).toString('base64url'), token_type: 'Bearer', expires_in: 3600 });
			res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
			res.end(body);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}/oauth/token`,
		requests: () => requests,
		close: async () => {
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

function runChild(repoRoot: string, env: Record<string, string>): Promise<ChildResult> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(repoRoot, 'bench', 'memory-child.ts')], {
			cwd: repoRoot,
			env: { ...process.env, ...env },
			stdio: ['ignore', 'pipe', 'inherit'],
		});
		let out = '';
		child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
		const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
		child.on('error', reject);
		child.on('exit', (code, signal) => {
			clearTimeout(timer);
			if (code !== 0) return reject(new Error(`memory child exited with ${code ?? signal}`));
			try {
				resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult);
			} catch (error) {
				reject(error instanceof Error ? error : new Error(String(error)));
			}
		});
	});
}

const mb = (bytes: number) => bytes / 2 ** 20;

export async function memoryBench(options: BenchOptions, repoRoot: string): Promise<BenchSection> {
	const items = options.quick ? 10_000 : 100_000;
	const credentials = options.quick ? 1_000 : 10_000;
	// Heap numbers barely move between runs; three fresh processes are plenty and keep the default run short.
	const runs = options.runsGiven ? options.runs : Math.min(options.runs, 3);
	const server = await startTinyTokenServer();
	const results: ChildResult[] = [];
	try {
		for (let run = 0; run < runs; run++) {
			const result = await runChild(repoRoot, { TOKEN_URL: server.url, BENCH_ITEMS: String(items), BENCH_CREDENTIALS: String(credentials) });
			results.push(result);
			options.log(
				`  run ${run + 1}: baseline ${fmt(mb(result.baseline))} MiB, after items ${fmt(mb(result.afterItems))} MiB, after ${credentials} credentials ${fmt(mb(result.samples.at(-1)!.heapUsed))} MiB, cache size ${result.cacheSize}`,
			);
		}
	} finally {
		await server.close();
	}

	const rows: Array<Array<string | number>> = [];
	rows.push(['baseline (code loaded, empty cache)', '0', spread(results.map((r) => mb(r.baseline))), '0', '—', '—']);
	rows.push([
		`after ${items.toLocaleString('en')} getToken calls, one credential`,
		'1',
		spread(results.map((r) => mb(r.afterItems))),
		spread(results.map((r) => mb(r.afterItems - r.baseline)), 3),
		counts(results.map((r) => r.tokenRequestsForItems)),
		spread(results.map((r) => r.itemsMs), 0) + ' ms',
	]);
	const sampleCounts = results[0].samples.map((s) => s.credentials);
	for (const [index, n] of sampleCounts.entries()) {
		rows.push([
			`after ${n.toLocaleString('en')} distinct credentials`,
			counts(results.map((r) => r.samples[index].cacheSize)),
			spread(results.map((r) => mb(r.samples[index].heapUsed))),
			spread(results.map((r) => mb(r.samples[index].heapUsed - r.baseline)), 3),
			'—',
			'—',
		]);
	}

	const last = results.map((r) => r.samples.at(-1)!);
	const atLimit = results.map((r) => r.samples.find((s) => s.credentials >= DEFAULT_MAX_ENTRIES)!);
	const growthBeyondLimit = median(results.map((r, i) => mb(last[i].heapUsed - atLimit[i].heapUsed)));
	const half = results.map((r) => r.samples.find((s) => s.credentials >= credentials / 2)!);
	const growthSecondHalf = median(results.map((r, i) => mb(last[i].heapUsed - half[i].heapUsed)));
	const bounded = last.every((s) => s.cacheSize <= DEFAULT_MAX_ENTRIES);
	const itemsDelta = median(results.map((r) => mb(r.afterItems - r.baseline)));
	const verdicts = [
		`5 (${items.toLocaleString('en')} items): heap after them is ${fmt(itemsDelta, 3)} MiB above the baseline, with ${counts(results.map((r) => r.tokenRequestsForItems))} token request(s): calls leave nothing behind.`,
		bounded
			? `5 (${credentials.toLocaleString('en')} credentials): **bounded**, the cache holds ${counts(last.map((s) => s.cacheSize))} entries (DEFAULT_MAX_ENTRIES = ${DEFAULT_MAX_ENTRIES}); heap grew ${fmt(growthBeyondLimit, 3)} MiB between ${DEFAULT_MAX_ENTRIES} and ${credentials.toLocaleString('en')} credentials, of which ${fmt(growthSecondHalf, 3)} MiB in the second half (${(credentials / 2).toLocaleString('en')} → ${credentials.toLocaleString('en')}): it levels off.`
			: `5 (${credentials.toLocaleString('en')} credentials): **missed**, cache size ${last.map((s) => s.cacheSize).join(', ')} > ${DEFAULT_MAX_ENTRIES}.`,
	];

	return {
		title: '5. Memory',
		about: [
			`Each run is a fresh \`node --expose-gc\` process (\`bench/memory-child.ts\`) with its own \`TokenCache\` (default options); heap used is \`process.memoryUsage().heapUsed\` after three \`global.gc()\` calls. Token requests go to a tiny token server in the benchmark process (a fresh ~800-character token per request, 1-hour life), not the oidc sandbox, to stay quick. ${runs} runs (fresh processes), median (min–max).`,
			`- **${items.toLocaleString('en')} getToken calls**: what ${items.toLocaleString('en')} items through the node ask of the cache (one call per item), 1,000 in flight at a time, one credential. **time** is for all the calls (cache key hashing included).`,
			`- **distinct credentials**: ${credentials.toLocaleString('en')} configurations differing in client id (so each is a token request and a cache entry), 50 at a time; the heap is sampled along the way. The cache keeps at most DEFAULT_MAX_ENTRIES = ${DEFAULT_MAX_ENTRIES}, least recently used dropped first, so the heap should level off after ${DEFAULT_MAX_ENTRIES}.`,
			'- **Δ MiB**: heap used minus the baseline of the same process.',
		].join('\n'),
		tables: [table(['state', 'cache entries', 'heap used MiB', 'Δ MiB', 'token requests', 'time'], rows)],
		verdicts,
		notes: [`The tiny token server answered ${server.requests()} requests in total.`],
	};
}
