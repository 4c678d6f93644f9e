/**
 * n8n's SSRF protection (n8n 2.x: N8N_SSRF_PROTECTION_ENABLED and N8N_SSRF_* ranges and hosts) for
 * this package's own requests: token endpoint and LLM API. n8n hands nodes its filter through
 * `helpers.getSecureEgressFilter()`; with the protection off it passes everything. n8n 1.x has no
 * such helper, and then nothing is filtered here either.
 *
 * The filter is one process-wide setting, so the one a node was given is kept for the requests that
 * have no node context: the credential's authenticate (n8n's HTTP Request node), the credential
 * dialog's test and the shared token fetch, which serves every execution. Before any node ran, the
 * same filter is taken from n8n's own service container; if even that fails while the protection is
 * on, requests fail closed (see exchange in http.ts).
 */
import type { LookupFunction } from 'node:net';

/** The part of n8n's NodeEgressFilter this package uses (structural: n8n 1.x lacks the type). */
export interface EgressFilter {
	validateUrl(url: string | URL): Promise<{ ok: true } | { ok: false; error: Error }>;
	createSecureLookup(): LookupFunction;
}

const SHARED_FILTER_SYMBOL = Symbol.for('n8n-nodes-oauth2-llm.egressFilter.v1');
type GlobalWithFilter = typeof globalThis & { [SHARED_FILTER_SYMBOL]?: EgressFilter };

/** Takes n8n's filter from a node context's helpers, when this n8n offers one, and keeps it for the process. */
export function rememberEgressFilter(helpers: unknown): void {
	// n8n's 'safe' policy filters only with the protection on; otherwise its filter passes everything,
	// and this package keeps Node's default agents (keep-alive, proxies) untouched.
	if (!egressProtectionEnabled()) return;
	const getFilter = (helpers as { getSecureEgressFilter?: () => EgressFilter } | undefined)?.getSecureEgressFilter;
	if (typeof getFilter !== 'function') return;
	try {
		(globalThis as GlobalWithFilter)[SHARED_FILTER_SYMBOL] = getFilter.call(helpers);
	} catch {
		// An n8n whose helper fails to build a filter: keep whatever was known before.
	}
}

/**
 * Whether an n8n administrator turned n8n's SSRF protection on for this process, read the way n8n's
 * config reads booleans (`true` or `1`, any case), or from `…_FILE`, whose mere presence makes this
 * fail safe: the filter is then applied (and passes everything if n8n says the protection is off).
 */
export function egressProtectionEnabled(): boolean {
	const value = process.env.N8N_SSRF_PROTECTION_ENABLED;
	return (value !== undefined && /^(true|1)$/i.test(value.trim())) || !!process.env.N8N_SSRF_PROTECTION_ENABLED_FILE;
}

/**
 * n8n's OutboundHttp service, the one its nodes get their filter from. n8n puts its own node_modules on
 * NODE_PATH for community packages, so these resolve to n8n's copies (and its singleton container).
 */
function filterFromN8nContainer(): EgressFilter | undefined {
	try {
		const { Container } = require('@n8n/di') as { Container: { get(type: unknown): unknown } };
		const { OutboundHttp } = require('@n8n/backend-network') as { OutboundHttp: unknown };
		const service = Container.get(OutboundHttp) as { egressFilter?: (policy: string) => EgressFilter };
		return typeof service.egressFilter === 'function' ? service.egressFilter('safe') : undefined;
	} catch {
		return undefined;
	}
}

/** The filter to apply now: none while the protection is off (n8n's own 'safe' policy passes everything then). */
export function currentEgressFilter(): EgressFilter | undefined {
	if (!egressProtectionEnabled()) return undefined;
	const holder = globalThis as GlobalWithFilter;
	holder[SHARED_FILTER_SYMBOL] ??= filterFromN8nContainer();
	return holder[SHARED_FILTER_SYMBOL];
}
