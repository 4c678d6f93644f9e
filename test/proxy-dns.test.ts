/**
 * Issue 19 §3: with n8n's SSRF protection on, every DIRECT connection keeps n8n's secure DNS lookup,
 * whichever proxy variables are set; only a connection to the administrator's proxy goes without it.
 * The filter here stands in for n8n's: its lookup answers 127.0.0.1 the first time a host is looked
 * up and "blocked" after that, as a host that rebinds from a public address to 169.254.169.254 would
 * be answered by n8n's (every connection is new: the servers close each one).
 */
import assert from 'node:assert/strict';
import { lookup as dnsLookup } from 'node:dns';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { rememberEgressFilter, type EgressFilter } from '../nodes/shared/transport/egress';
import { exchange, TransportFailure } from '../nodes/shared/transport/http';
import { proxyFor } from '../nodes/shared/transport/proxy';
import { createTestPki, type TestPki } from './helpers/pki';

const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'];

/** A filter whose lookup resolves each host once, then reports it rebound to the metadata address. */
function rebindingFilter() {
	const lookups: string[] = [];
	const filter: EgressFilter = {
		validateUrl: async () => ({ ok: true }),
		createSecureLookup: (): LookupFunction =>
			((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
				lookups.push(hostname);
				if (lookups.filter((seen) => seen === hostname).length > 1) {
					callback(new Error(`The request was blocked because ${hostname} resolves to 169.254.169.254, a restricted IP`));
				} else if (options?.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
				else callback(null, '127.0.0.1', 4);
			}) as unknown as LookupFunction,
	};
	return { filter, lookups };
}

function answer(_request: IncomingMessage, res: ServerResponse): void {
	res.writeHead(200, { 'Content-Type': 'application/json', Connection: 'close' });
	res.end('{"ok":true}');
}

async function listen(server: Server): Promise<number> {
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return (server.address() as AddressInfo).port;
}

let pki: TestPki;
const servers: Server[] = [];
let httpPort: number;
let httpsPort: number;
/** A forward proxy of the administrator's: records what it is asked and answers itself. */
const proxied: string[] = [];
let proxyPort: number;

before(async () => {
	pki = await createTestPki();
	const http = createHttpServer(answer);
	const https = createHttpsServer({ key: pki.server.keyPem, cert: pki.server.certPem }, answer);
	const proxy = createHttpServer((request, res) => {
		proxied.push(String(request.url));
		answer(request, res);
	});
	servers.push(http, https, proxy);
	[httpPort, httpsPort, proxyPort] = [await listen(http), await listen(https), await listen(proxy)];
});

after(async () => {
	for (const server of servers) server.closeAllConnections();
	await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

async function withEnvironment<T>(variables: Record<string, string>, run: () => Promise<T>): Promise<T> {
	const saved = Object.fromEntries([...PROXY_VARIABLES, 'N8N_SSRF_PROTECTION_ENABLED'].map((name) => [name, process.env[name]]));
	for (const name of PROXY_VARIABLES) delete process.env[name];
	Object.assign(process.env, { N8N_SSRF_PROTECTION_ENABLED: 'true' }, variables);
	try {
		return await run();
	} finally {
		for (const [name, value] of Object.entries(saved)) {
			if (value === undefined) delete process.env[name];
			else process.env[name] = value;
		}
	}
}

const get = (url: string) => exchange({ method: 'GET', url, headers: {}, maxResponseBytes: 1024, deadlineMs: 5000, tls: { caPems: [pki.caPem] } });

describe('the secure DNS lookup on direct connections, whatever proxy variables are set', () => {
	const proxyUrl = () => `http://127.0.0.1:${proxyPort}`;
	const cases: Array<[string, () => Record<string, string>, 'http' | 'https']> = [
		['no proxy variable', () => ({}), 'http'],
		['HTTPS_PROXY only, an http URL', () => ({ HTTPS_PROXY: proxyUrl() }), 'http'],
		['HTTP_PROXY only, an https URL', () => ({ HTTP_PROXY: proxyUrl() }), 'https'],
		['http_proxy (lower case) with NO_PROXY naming the host', () => ({ http_proxy: proxyUrl(), NO_PROXY: 'localhost' }), 'http'],
		['HTTPS_PROXY with no_proxy naming the host and its port', () => ({ HTTPS_PROXY: proxyUrl(), no_proxy: `example.com, localhost:${httpsPort}` }), 'https'],
		['ALL_PROXY with NO_PROXY naming the host', () => ({ ALL_PROXY: proxyUrl(), NO_PROXY: 'localhost' }), 'http'],
		['all_proxy with NO_PROXY=*', () => ({ all_proxy: proxyUrl(), NO_PROXY: '*' }), 'https'],
	];
	for (const [what, variables, scheme] of cases) {
		it(`${what}: the first connection resolves through n8n's filter, the rebound second one is blocked`, async () => {
			const { filter, lookups } = rebindingFilter();
			await withEnvironment(variables(), async () => {
				rememberEgressFilter({ getSecureEgressFilter: () => filter });
				const url = scheme === 'http' ? `http://localhost:${httpPort}/v1` : `https://localhost:${httpsPort}/v1`;
				assert.equal(proxyFor(url), undefined, 'this request goes direct');
				assert.equal((await get(url)).status, 200);
				await assert.rejects(get(url), (error: unknown) => error instanceof TransportFailure && error.kind === 'blocked');
				assert.deepEqual(lookups, ['localhost', 'localhost']);
			});
		});
	}

	for (const name of ['HTTP_PROXY', 'ALL_PROXY', 'all_proxy']) {
		it(`${name} for an http URL: the request goes to the administrator's proxy, whose address the lookup does not block`, async () => {
			const { filter, lookups } = rebindingFilter();
			const before = proxied.length;
			// By name: a lookup of the proxy's own host would show in `lookups`, and n8n's filter would block a private one.
			await withEnvironment({ [name]: `http://localhost:${proxyPort}` }, async () => {
				rememberEgressFilter({ getSecureEgressFilter: () => filter });
				const url = `http://api.example.test:${httpPort}/v1/models`;
				assert.equal(proxyFor(url)?.port, String(proxyPort));
				assert.equal((await get(url)).status, 200);
				assert.equal((await get(url)).status, 200);
			});
			assert.deepEqual(proxied.slice(before), [`http://api.example.test:${httpPort}/v1/models`, `http://api.example.test:${httpPort}/v1/models`]);
			assert.deepEqual(lookups, []);
		});
	}

	it('proxyFor follows proxy-from-env: scheme first, then ALL_PROXY; NO_PROXY by exact host, suffix, wildcard and port', () => {
		const env = { HTTPS_PROXY: 'http://secure-proxy:3128', all_proxy: 'fallback:8080', NO_PROXY: 'internal.example, .corp.example, *.svc, api.example:8443' };
		assert.equal(proxyFor('https://llm.example/v1', env)?.host, 'secure-proxy:3128');
		assert.equal(proxyFor('http://llm.example/v1', env)?.href, 'http://fallback:8080/');
		assert.equal(proxyFor('https://internal.example/v1', env), undefined);
		assert.equal(proxyFor('https://a.corp.example/v1', env), undefined);
		assert.equal(proxyFor('https://db.svc/v1', env), undefined);
		assert.equal(proxyFor('https://api.example:8443/v1', env), undefined);
		assert.equal(proxyFor('https://api.example/v1', env)?.host, 'secure-proxy:3128');
		assert.equal(proxyFor('https://llm.example/v1', {}), undefined);
	});
});

describe('an https request through the administrator\'s HTTPS_PROXY', () => {
	it("goes in a CONNECT tunnel: the proxy sees only host and port, the lookup is not applied to the proxy, and the origin's certificate is still checked against the credential's CA", async () => {
		const { connect } = await import('node:net');
		const tunnels: string[] = [];
		const proxy = createHttpServer((_request, res) => res.writeHead(405).end());
		proxy.on('connect', (request: IncomingMessage, client: import('node:net').Socket, head: Buffer) => {
			tunnels.push(String(request.url));
			const [host, port] = String(request.url).split(':');
			const upstream = connect(Number(port), host === 'localhost' ? '127.0.0.1' : host, () => {
				client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
				upstream.write(head);
				upstream.pipe(client);
				client.pipe(upstream);
			});
			upstream.on('error', () => client.destroy());
			client.on('error', () => upstream.destroy());
		});
		servers.push(proxy);
		const tunnelPort = await listen(proxy);
		const { filter, lookups } = rebindingFilter();
		const url = `https://localhost:${httpsPort}/v1`;
		await withEnvironment({ HTTPS_PROXY: `http://localhost:${tunnelPort}` }, async () => {
			rememberEgressFilter({ getSecureEgressFilter: () => filter });
			assert.equal(proxyFor(url)?.port, String(tunnelPort));
			assert.equal((await get(url)).status, 200);
			assert.equal((await get(url)).status, 200, 'the proxy by name is not put through the rebinding lookup');
			// Another CA than the one that issued the server's certificate: the tunnel does not loosen TLS.
			await assert.rejects(
				exchange({ method: 'GET', url, headers: {}, maxResponseBytes: 1024, deadlineMs: 5000, tls: { caPems: [pki.otherCaPem] } }),
				(error: unknown) => error instanceof TransportFailure && /CERT|certificate|SELF_SIGNED|UNABLE/i.test(`${error.code} ${error.message}`),
			);
		});
		assert.ok(tunnels.length >= 2 && tunnels.every((target) => target === `localhost:${httpsPort}`), tunnels.join(', '));
		assert.deepEqual(lookups, []);
	});
});

describe("n8n's SSRF check under the exchange's deadline", () => {
	it('a DNS answer that never comes during the check does not hold the exchange past its deadline, nor past the execution being cancelled', { timeout: 30_000 }, async () => {
		// n8n's filter as it behaves when its resolver never answers.
		// (The last test of this file: the filter it leaves in place meets no other test; each file runs in its own process.)
		const silent: EgressFilter = { validateUrl: async () => await new Promise<never>(() => undefined), createSecureLookup: () => dnsLookup as unknown as LookupFunction };
		await withEnvironment({}, async () => {
			rememberEgressFilter({ getSecureEgressFilter: () => silent });
			await assert.rejects(
				exchange({ method: 'GET', url: `http://localhost:${httpPort}/`, headers: {}, maxResponseBytes: 1024, deadlineMs: 1000 }),
				(error: unknown) => error instanceof TransportFailure && error.kind === 'deadline',
			);
			const execution = new AbortController();
			const pending = exchange({ method: 'GET', url: `http://localhost:${httpPort}/`, headers: {}, maxResponseBytes: 1024, deadlineMs: 60_000, signal: execution.signal });
			setTimeout(() => execution.abort(), 100);
			await assert.rejects(pending, (error: unknown) => error instanceof TransportFailure && error.kind === 'aborted');
		});
	});
});
