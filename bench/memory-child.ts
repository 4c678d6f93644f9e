/**
 * Benchmark 5's measured process (started by bench/memory.ts with `node --expose-gc --import tsx`):
 * heap used after many getToken calls for one credential, and after many distinct credentials.
 * Talks to the tiny token server whose URL is in TOKEN_URL (run by the parent process, so its
 * allocations are not in this heap). Prints one JSON line.
 */
import { TokenCache } from '../nodes/shared/auth/token-cache';
import type { TokenEndpointConfig } from '../nodes/shared/config/provider-config';

const ITEMS = Number(process.env.BENCH_ITEMS ?? 100_000);
const CREDENTIALS = Number(process.env.BENCH_CREDENTIALS ?? 10_000);
const TOKEN_URL = process.env.TOKEN_URL ?? '';
const BATCH = 1000;
const CREDENTIAL_CONCURRENCY = 50;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heapUsedAfterGc(): number {
	for (let i = 0; i < 3; i++) gc!();
	return process.memoryUsage().heapUsed;
}

function config(clientId: string): TokenEndpointConfig {
	return {
		grantType: 'clientCredentials',
		tokenUrl: TOKEN_URL,
		clientId,
		clientSecret: `secret-of-${clientId}`,
		scope: 'llm.chat',
		clientAuthentication: 'body',
		basicAuthEncoding: 'formEncoded',
		additionalTokenParameters: {},
		expiryBufferSeconds: 60,
	};
}

async function main(): Promise<void> {
	const cache = new TokenCache();
	const context = { providerName: 'bench' };
	// Load the code paths once (module code, the HTTP client) before the baseline.
	await cache.getToken(config('warm-up'), context);
	cache.clear();
	const baseline = heapUsedAfterGc();

	// 100,000 items through the cache: the calls a node makes, one per item, 1,000 at a time.
	const one = config('client-items');
	const itemsStart = performance.now();
	for (let done = 0; done < ITEMS; done += BATCH) {
		const calls = [];
		for (let i = 0; i < Math.min(BATCH, ITEMS - done); i++) calls.push(cache.getToken(one, context));
		await Promise.all(calls);
	}
	const itemsMs = performance.now() - itemsStart;
	const afterItems = heapUsedAfterGc();
	const tokenRequestsForItems = cache.tokenRequestCount - 1;

	// Distinct credentials: each one a token request to the tiny server and a cache entry (LRU-bounded).
	const samples: Array<{ credentials: number; heapUsed: number; cacheSize: number }> = [];
	const sampleAt = new Set([500, 1000, 2000, 5000, CREDENTIALS]);
	let next = 0;
	const credentialsStart = performance.now();
	// In steps, so the heap can be sampled between them.
	let reached = 0;
	for (const target of [...sampleAt].filter((n) => n <= CREDENTIALS).sort((a, b) => a - b)) {
		next = reached;
		await Promise.all(
			Array.from({ length: CREDENTIAL_CONCURRENCY }, async () => {
				for (;;) {
					const index = next++;
					if (index >= target) return;
					await cache.getToken(config(`client-${index}`), context);
				}
			}),
		);
		reached = target;
		samples.push({ credentials: target, heapUsed: heapUsedAfterGc(), cacheSize: cache.size });
	}
	const credentialsMs = performance.now() - credentialsStart;

	process.stdout.write(
		`${JSON.stringify({
			items: ITEMS,
			credentials: CREDENTIALS,
			baseline,
			afterItems,
			itemsMs,
			tokenRequestsForItems,
			samples,
			credentialsMs,
			tokenRequestsTotal: cache.tokenRequestCount,
			cacheSize: cache.size,
		})}\n`,
	);
}

main().then(
	() => process.exit(0),
	(error: unknown) => {
		process.stderr.write(`memory child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
		process.exit(1);
	},
);
