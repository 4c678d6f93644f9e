/**
 * A real npm registry on 127.0.0.1 for the install tests (issue 14): verdaccio (a devDependency, from
 * the npm registry), with this package published to it from `npm pack` output, exactly what
 * `npm publish` would upload, and every other package proxied from registry.npmjs.org.
 *
 * n8n's Community Nodes installer asks only https://registry.npmjs.org: its registry setting
 * (N8N_COMMUNITY_PACKAGES_REGISTRY) needs the licence feature feat:communityNodes:customRegistry in
 * 2.41 and 1.123 alike (community-packages.service.js getNpmRegistry). So the test stands where a
 * corporate network would: an HTTPS proxy (HTTPS_PROXY) that terminates TLS for registry.npmjs.org
 * with a certificate from a CA that n8n and npm trust (NODE_EXTRA_CA_CERTS), and hands the requests to
 * verdaccio. Every other host is refused by the proxy.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import type { Identity } from '../helpers/pki';

export const INTERCEPTED_HOST = 'registry.npmjs.org';

export interface LocalRegistry {
	/** verdaccio's own URL, http://127.0.0.1:<port>. */
	url: string;
	/** The intercepting proxy for HTTPS_PROXY / HTTP_PROXY. */
	proxyUrl: string;
	/** A file with the CA certificate that signed the registry.npmjs.org certificate, for NODE_EXTRA_CA_CERTS. */
	caFile: string;
	/** Requests that reached the proxy, by host (what n8n tried to reach). */
	proxied: Array<{ host: string; path?: string; allowed: boolean }>;
	/** Requests for registry.npmjs.org after TLS was ended: method and path, as verdaccio got them. */
	decrypted: Array<{ method: string; path: string }>;
	publish(tarball: string): Promise<void>;
	close(): Promise<void>;
}

interface RunResult {
	code: number | null;
	stdout: string;
	stderr: string;
}

const RUN_TIMEOUT_MS = 5 * 60_000;

function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<RunResult> {
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, { cwd: options.cwd, env: { PATH: process.env.PATH ?? '', HOME: options.cwd, ...(options.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
		child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
		child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
		child.on('error', (error) => {
			clearTimeout(timer);
			reject(error);
		});
		child.on('close', (code) => {
			clearTimeout(timer);
			resolve({ code, stdout, stderr });
		});
	});
}

export async function runChecked(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<RunResult> {
	const result = await run(command, args, options);
	if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
	return result;
}

/** `npm pack` of `dir` into `destination`; returns the tarball's path. */
export async function pack(dir: string, destination: string): Promise<string> {
	const packed = await runChecked('npm', ['pack', '--ignore-scripts', '--pack-destination', destination, dir], { cwd: destination });
	return path.join(destination, packed.stdout.trim().split('\n').at(-1)!.trim());
}

/** The same package as `tarball` with another version: what a release of the next version would upload. */
export async function repackWithVersion(tarball: string, version: string, workDir: string): Promise<string> {
	const dir = await fs.mkdtemp(path.join(workDir, 'repack-'));
	await runChecked('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1'], { cwd: dir });
	const manifest = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8')) as { version: string };
	manifest.version = version;
	await fs.writeFile(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
	const out = await fs.mkdtemp(path.join(workDir, 'repacked-'));
	return await pack(dir, out);
}

function listen(server: Server): Promise<number> {
	return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export async function startLocalRegistry(options: { caPem: string; registryIdentity: Identity }): Promise<LocalRegistry> {
	const dir = mkdtempSync(path.join(os.tmpdir(), 'local-registry-'));
	try {
		return await startIn(dir, options);
	} catch (error) {
		rmSync(dir, { recursive: true, force: true });
		throw error;
	}
}

async function startIn(dir: string, options: { caPem: string; registryIdentity: Identity }): Promise<LocalRegistry> {
	// verdaccio's programmatic API (6.x): runServer(config) returns an http.Server, not yet listening.
	const { runServer } = (await import('verdaccio')) as unknown as { runServer: (config: unknown) => Promise<Server> };
	const registryServer = await runServer({
		self_path: dir,
		storage: path.join(dir, 'storage'),
		auth: { htpasswd: { file: path.join(dir, 'htpasswd'), max_users: 10 } },
		uplinks: { npmjs: { url: 'https://registry.npmjs.org/', timeout: '60s' } },
		packages: {
			'n8n-nodes-oauth2-llm': { access: '$all', publish: 'publisher' },
			'**': { access: '$all', proxy: 'npmjs' },
		},
		log: { type: 'stdout', format: 'pretty', level: 'error' },
		web: { enable: false },
	});
	const registryPort = await listen(registryServer);
	const url = `http://127.0.0.1:${registryPort}`;

	// A user for publishing (verdaccio's CouchDB-style login creates it).
	const login = await fetch(`${url}/-/user/org.couchdb.user:publisher`, {
		method: 'PUT',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ name: 'publisher', password: 'publisher-password-1' }),
	});
	const { token } = (await login.json()) as { token?: string };
	if (!login.ok || !token) throw new Error(`verdaccio refused to create the publishing user (HTTP ${login.status})`);
	// The token goes into npm's config file of this folder (npm runs with HOME here), not onto a command line.
	writeFileSync(path.join(dir, '.npmrc'), `//127.0.0.1:${registryPort}/:_authToken=${token}\n`, { mode: 0o600 });

	const proxied: LocalRegistry['proxied'] = [];
	const decrypted: LocalRegistry['decrypted'] = [];
	// Requests for registry.npmjs.org, decrypted: handed to verdaccio, which builds tarball URLs from Host and X-Forwarded-Proto.
	const forward = (req: IncomingMessage, res: ServerResponse, pathname: string) => {
		const upstream = request(
			{ host: '127.0.0.1', port: registryPort, path: pathname, method: req.method, headers: { ...req.headers, host: INTERCEPTED_HOST, 'x-forwarded-proto': 'https' } },
			(answer) => {
				res.writeHead(answer.statusCode ?? 502, answer.headers);
				answer.pipe(res);
			},
		);
		upstream.on('error', () => res.destroy());
		req.pipe(upstream);
	};
	const inner = createServer((req, res) => {
		decrypted.push({ method: req.method ?? 'GET', path: req.url ?? '/' });
		forward(req, res, req.url ?? '/');
	});
	const secureContext = tls.createSecureContext({ key: options.registryIdentity.keyPem, cert: options.registryIdentity.certPem });
	const proxy = createServer((req, res) => {
		// Plain-HTTP proxying in absolute form (`GET https://registry.npmjs.org/x`), as some clients do.
		let target: URL | undefined;
		try {
			target = new URL(req.url ?? '');
		} catch {
			target = undefined;
		}
		const allowed = target?.hostname === INTERCEPTED_HOST;
		proxied.push({ host: target?.host ?? '(none)', path: target?.pathname, allowed });
		if (!allowed || !target) {
			res.writeHead(502, { 'content-type': 'text/plain' }).end('this proxy only reaches registry.npmjs.org');
			return;
		}
		forward(req, res, `${target.pathname}${target.search}`);
	});
	proxy.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
		const host = (req.url ?? '').split(':')[0];
		const allowed = host === INTERCEPTED_HOST;
		proxied.push({ host: req.url ?? '(none)', allowed });
		if (!allowed) {
			socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
			return;
		}
		socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
		if (head.length > 0) socket.unshift(head);
		const tlsSocket = new tls.TLSSocket(socket, { isServer: true, secureContext });
		tlsSocket.on('error', () => socket.destroy());
		inner.emit('connection', tlsSocket);
	});
	const proxyPort = await listen(proxy);
	const caFile = path.join(dir, 'ca.pem');
	writeFileSync(caFile, options.caPem);

	return {
		url,
		proxyUrl: `http://127.0.0.1:${proxyPort}`,
		caFile,
		proxied,
		decrypted,
		async publish(tarball: string) {
			await runChecked('npm', ['publish', tarball, `--registry=${url}`, '--access=public', '--ignore-scripts'], { cwd: dir });
		},
		async close() {
			for (const server of [proxy, inner, registryServer]) {
				server.closeAllConnections?.();
				await new Promise<void>((resolve) => server.close(() => resolve()));
			}
			rmSync(dir, { recursive: true, force: true });
		},
	};
}
