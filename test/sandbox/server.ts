/**
 * One HTTP server (127.0.0.1 only) that hosts the whole sandbox:
 *
 *   /oauth/…        oidc-provider (auth-server.ts): /oauth/token, /oauth/jwks, /oauth/.well-known/openid-configuration
 *   /v1/…           OpenAI-compatible API (chat-server.ts)
 *   /__sandbox/…    control: GET stats, GET requests, GET info, POST reset, POST config
 *   /               GET → same JSON as /__sandbox/info
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

import { AUTH_PREFIX, createAuthServer } from './auth-server';
import { API_PREFIX, createChatServer } from './chat-server';
import { type SandboxClient, type SandboxConfig, SandboxState } from './state';

export const CONTROL_PREFIX = '/__sandbox';

export const DEFAULT_CLIENTS = {
	/** client_secret_post */
	post: { id: 'sandbox-client', secret: 'sandbox-secret', authMethod: 'client_secret_post' },
	/** client_secret_basic with a secret that must be form-encoded inside the Basic header. */
	basic: { id: 'sandbox-basic-client', secret: 's3cr:t/+&%', authMethod: 'client_secret_basic' },
	/** SAP XSUAA-style client id ('!' and '|'), client_secret_basic. */
	xsuaa: { id: 'sb-abc!a1|aicore!b2', secret: 'xsuaa-secret', authMethod: 'client_secret_basic' },
} as const satisfies Record<string, SandboxClient>;

export type SandboxClients = Record<string, SandboxClient> & {
	post: SandboxClient;
	basic: SandboxClient;
	xsuaa: SandboxClient;
};

export interface SandboxServerOptions extends Partial<SandboxConfig> {
	/** 0 (default) = a random free port. */
	port?: number;
	/** Extra or replacement clients, merged over DEFAULT_CLIENTS by key. */
	clients?: Record<string, SandboxClient>;
	/**
	 * Serve HTTPS with this server certificate, and ask every client for a certificate issued by
	 * `caPem` (verified ones count as authorized; others still connect, for the methods to refuse).
	 */
	tls?: { keyPem: string; certPem: string; caPem: string };
	/** With `tls`: the LLM API answers 403 without a verified client certificate. */
	requireClientCertificateForApi?: boolean;
}

/** What a running sandbox tells its users; also the JSON line main.ts prints first. */
export interface SandboxInfo {
	origin: string;
	/** OpenAI-compatible base URL, `${origin}/v1`. */
	baseUrl: string;
	tokenUrl: string;
	issuer: string;
	jwksUri: string;
	discoveryUrl: string;
	/** Resource indicator = `aud` of the access tokens. */
	resource: string;
	controlUrl: string;
	clients: SandboxClients;
	pid: number;
}

export interface SandboxServer {
	info: SandboxInfo;
	state: SandboxState;
	close(): Promise<void>;
}

export function mergeClients(extra: Record<string, SandboxClient> | undefined): SandboxClients {
	const merged: Record<string, SandboxClient> = {};
	for (const [k, c] of Object.entries({ ...DEFAULT_CLIENTS, ...extra })) merged[k] = { ...c };
	const ids = Object.values(merged).map((c) => c.id);
	if (new Set(ids).size !== ids.length) throw new Error('sandbox clients must have distinct ids');
	return merged as SandboxClients;
}

function readJson(req: IncomingMessage): Promise<unknown> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			const text = Buffer.concat(chunks).toString('utf8').trim();
			try {
				resolve(text === '' ? {} : JSON.parse(text));
			} catch (err) {
				reject(err instanceof Error ? err : new Error(String(err)));
			}
		});
		req.on('error', reject);
	});
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
	res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

export async function startSandboxServer(opts: SandboxServerOptions = {}): Promise<SandboxServer> {
	const clients = mergeClients(opts.clients);
	const state = new SandboxState({
		tokenTtlSeconds: opts.tokenTtlSeconds,
		chatLatencyMs: opts.chatLatencyMs,
		tokenLatencyMs: opts.tokenLatencyMs,
	});

	let route: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
	const handler = (req: IncomingMessage, res: ServerResponse) => {
		if (!route) {
			sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'sandbox starting' });
			return;
		}
		route(req, res);
	};
	const server: Server = opts.tls
		? createHttpsServer({ key: opts.tls.keyPem, cert: opts.tls.certPem, ca: opts.tls.caPem, requestCert: true, rejectUnauthorized: false }, handler)
		: createServer(handler);

	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(opts.port ?? 0, '127.0.0.1', () => {
			server.off('error', reject);
			resolve();
		});
	});
	const { port } = server.address() as AddressInfo;
	const origin = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

	const close = async (): Promise<void> => {
		await new Promise<void>((resolve) => {
			server.close(() => resolve());
			server.closeAllConnections();
		});
	};

	let info: SandboxInfo;
	try {
		const auth = await createAuthServer({ origin, clients: Object.values(clients), state });
		const chat = createChatServer({
			state,
			issuer: auth.issuer,
			publicJwks: auth.publicJwks,
			resource: auth.resource,
			requireClientCertificate: opts.requireClientCertificateForApi,
		});
		info = {
			origin,
			baseUrl: `${origin}${API_PREFIX}`,
			tokenUrl: auth.tokenUrl,
			issuer: auth.issuer,
			jwksUri: auth.jwksUri,
			discoveryUrl: `${auth.issuer}/.well-known/openid-configuration`,
			resource: auth.resource,
			controlUrl: `${origin}${CONTROL_PREFIX}`,
			clients,
			pid: process.pid,
		};

		const control = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
			const method = req.method ?? 'GET';
			if (method === 'GET' && path === `${CONTROL_PREFIX}/stats`) return sendJson(res, 200, state.stats());
			if (method === 'GET' && path === `${CONTROL_PREFIX}/requests`) return sendJson(res, 200, state.requests());
			if (method === 'GET' && path === `${CONTROL_PREFIX}/info`) return sendJson(res, 200, info);
			if (method === 'POST' && path === `${CONTROL_PREFIX}/reset`) {
				await readJson(req).catch(() => undefined);
				state.reset();
				return sendJson(res, 200, state.stats());
			}
			if (method === 'POST' && path === `${CONTROL_PREFIX}/config`) {
				let patch: unknown;
				try {
					patch = await readJson(req);
					state.configure(patch as Parameters<SandboxState['configure']>[0]);
				} catch (err) {
					return sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
				}
				return sendJson(res, 200, state.stats().config);
			}
			return sendJson(res, 404, { error: `unknown control endpoint ${method} ${path}` });
		};

		route = (req, res) => {
			const path = (req.url ?? '/').split('?')[0];
			if (path === AUTH_PREFIX || path.startsWith(`${AUTH_PREFIX}/`)) return auth.handle(req, res);
			if (path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)) return chat.handle(req, res);
			if (path.startsWith(`${CONTROL_PREFIX}/`)) {
				control(req, res, path).catch((err: unknown) => {
					if (!res.headersSent) sendJson(res, 500, { error: String(err) });
				});
				return;
			}
			if (path === '/' && req.method === 'GET') return sendJson(res, 200, info);
			sendJson(res, 404, { error: `not found: ${path}` });
		};
	} catch (err) {
		await close();
		throw err;
	}

	return { info, state, close };
}
