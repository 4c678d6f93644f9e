/**
 * Local "sandbox provider" for tests, benchmarks and the demo: a real OAuth2 authorization server
 * (oidc-provider, client_credentials, RFC 9068 JWT access tokens) plus an OpenAI-compatible chat API
 * that verifies those tokens, on one 127.0.0.1 port:
 *
 *   issuer    ${origin}/oauth          token  ${origin}/oauth/token      jwks ${origin}/oauth/jwks
 *   baseUrl   ${origin}/v1             (GET /models, POST /chat/completions, /embeddings, /responses, /messages)
 *   Vertex AI vertexBaseUrl(baseUrl)   (Claude: POST /<model>:rawPredict and :streamRawPredict)
 *   control   ${origin}/__sandbox      (GET stats, GET requests, GET info, POST reset, POST config)
 *
 * startSandbox() runs it in a child process by default (`node --import tsx test/sandbox/main.ts`),
 * so tests that block their own event loop, or a real n8n calling it, still get answers; the child
 * is killed when this process exits and exits by itself when its stdin closes (parent died).
 * `inProcess: true` runs it in this process (fast unit tests).
 *
 * A child-process sandbox does not keep this process alive: forgetting stop() does not hang a test
 * file, the child is then killed at exit. An in-process sandbox is a listening server like any
 * other and must be stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

// Types only at load time: the server pulls in oidc-provider, which warns "Unsupported runtime" when it is
// loaded on Node 20, and a process that runs the sandbox as a child (npm start) must not load it at all.
import type { SandboxInfo, SandboxServerOptions } from './server';
import type { RecordedRequest, SandboxClient, SandboxConfigPatch, Stats } from './state';

export type { SandboxClients, SandboxInfo } from './server';
export type { ChatAnswer, ChatCompletionRequest } from './chat-server';
// formats.ts loads nothing but node:crypto at run time, so this keeps oidc-provider out (see above).
export { vertexBaseUrl } from './formats';
export type { ClientCounters, Fault, RecordedRequest, SandboxClient, SandboxConfig, SandboxConfigPatch, Stats } from './state';

export interface StartSandboxOptions extends SandboxServerOptions {
	/** Run in this process instead of a child process. Default false. */
	inProcess?: boolean;
	/** How long to wait for the child to report readiness. Default 30000 ms. */
	startTimeoutMs?: number;
	/**
	 * The Node that runs the child. Default: this process's. `npm start` passes the Node 24 it installs
	 * for n8n, since oidc-provider warns "Unsupported runtime" on Node 20.
	 */
	nodeBin?: string;
}

export interface TokenResponse {
	access_token: string;
	token_type: string;
	expires_in: number;
	scope?: string;
}

export interface Sandbox extends SandboxInfo {
	mode: 'child-process' | 'in-process';
	/** Per-client counters, totals and current config. */
	stats(): Promise<Stats>;
	/** Recorded requests (token and /v1), oldest first, at most the last 500. */
	requests(): Promise<RecordedRequest[]>;
	/** Zeroes counters, forgets recorded requests, clears pending faults (ttl/latency unchanged). */
	reset(): Promise<void>;
	/** Changes tokenTtlSeconds / chatLatencyMs / tokenLatencyMs and replaces fault queues at runtime. */
	configure(cfg: SandboxConfigPatch): Promise<void>;
	/**
	 * Convenience for tests: gets a token the way the client's authMethod says (Basic header with
	 * RFC 6749 §2.3.1 form-encoded id and secret, or client_id/client_secret in the body). Throws
	 * with the error body on non-200. Counts like any other token request.
	 */
	fetchToken(client?: SandboxClient | 'post' | 'basic' | 'xsuaa', opts?: { scope?: string; resource?: string }): Promise<TokenResponse>;
	stop(): Promise<void>;
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
export function formEncode(value: string): string {
	return new URLSearchParams([['', value]]).toString().slice(1);
}

/** `Basic base64(formEncode(id):formEncode(secret))`, as RFC 6749 §2.3.1 prescribes. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
	return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
}

function sandboxDir(): string {
	// tsx runs this project's .ts files as CommonJS (package.json has no "type"), so __dirname exists.
	return typeof __dirname === 'string' ? __dirname : path.resolve('test', 'sandbox');
}

async function control(info: SandboxInfo, method: 'GET' | 'POST', endpoint: string, body?: unknown): Promise<unknown> {
	const res = await fetch(`${info.controlUrl}/${endpoint}`, {
		method,
		headers: body === undefined ? {} : { 'content-type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	if (!res.ok) throw new Error(`sandbox ${method} ${endpoint} failed: HTTP ${res.status} ${text}`);
	return JSON.parse(text) as unknown;
}

function makeHandle(info: SandboxInfo, mode: Sandbox['mode'], stop: () => Promise<void>): Sandbox {
	return {
		...info,
		mode,
		stats: async () => (await control(info, 'GET', 'stats')) as Stats,
		requests: async () => (await control(info, 'GET', 'requests')) as RecordedRequest[],
		reset: async () => {
			await control(info, 'POST', 'reset', {});
		},
		configure: async (cfg) => {
			await control(info, 'POST', 'config', cfg);
		},
		fetchToken: async (which = 'post', opts = {}) => {
			const client = typeof which === 'string' ? info.clients[which] : which;
			if (!client) throw new Error(`unknown sandbox client ${String(which)}`);
			const form = new URLSearchParams({ grant_type: 'client_credentials' });
			if (opts.scope !== undefined) form.set('scope', opts.scope);
			if (opts.resource !== undefined) form.set('resource', opts.resource);
			const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
			if (client.authMethod === 'client_secret_basic') {
				headers.authorization = basicAuthorization(client.id, client.secret);
			} else {
				form.set('client_id', client.id);
				form.set('client_secret', client.secret);
			}
			const res = await fetch(info.tokenUrl, { method: 'POST', headers, body: form });
			const text = await res.text();
			if (res.status !== 200) throw new Error(`token request for ${client.id} failed: HTTP ${res.status} ${text}`);
			return JSON.parse(text) as TokenResponse;
		},
		stop,
	};
}

function cliArgs(opts: StartSandboxOptions): string[] {
	const args = ['--port', String(opts.port ?? 0), '--json-only', '--exit-on-stdin-close'];
	if (opts.tokenTtlSeconds !== undefined) args.push('--token-ttl', String(opts.tokenTtlSeconds));
	if (opts.chatLatencyMs !== undefined) args.push('--chat-latency', String(opts.chatLatencyMs));
	if (opts.tokenLatencyMs !== undefined) args.push('--token-latency', String(opts.tokenLatencyMs));
	if (opts.clients !== undefined) args.push('--clients-json', JSON.stringify(opts.clients));
	return args;
}

async function startChild(opts: StartSandboxOptions): Promise<Sandbox> {
	const dir = sandboxDir();
	const repoRoot = path.resolve(dir, '..', '..');
	const env = { ...process.env };
	delete env.NODE_TEST_CONTEXT; // set by `node --test` for its own children; not meant for ours
	const child: ChildProcess = spawn(opts.nodeBin ?? process.execPath, ['--import', 'tsx', path.join(dir, 'main.ts'), ...cliArgs(opts)], {
		cwd: repoRoot,
		env,
		stdio: ['pipe', 'pipe', 'inherit'],
	});

	const killAtExit = () => {
		if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
	};
	process.on('exit', killAtExit);

	const exited = new Promise<void>((resolve) => {
		child.once('exit', () => resolve());
		child.once('error', () => resolve()); // e.g. spawn failure: no 'exit' follows
	});

	const { stdout, stdin } = child;
	if (!stdout || !stdin) {
		child.kill('SIGKILL');
		throw new Error('sandbox child has no stdio pipes');
	}

	let info: SandboxInfo;
	try {
		info = await new Promise<SandboxInfo>((resolve, reject) => {
			const lines = createInterface({ input: stdout });
			const timer = setTimeout(() => reject(new Error(`sandbox child did not start within ${opts.startTimeoutMs ?? 30000} ms`)), opts.startTimeoutMs ?? 30000);
			const onExit = (code: number | null, signal: string | null) => {
				clearTimeout(timer);
				reject(new Error(`sandbox child exited before it was ready (code ${code}, signal ${signal}); see its stderr above`));
			};
			child.once('exit', onExit);
			child.once('error', (err) => {
				clearTimeout(timer);
				reject(err);
			});
			lines.once('line', (line) => {
				clearTimeout(timer);
				child.off('exit', onExit);
				lines.close();
				try {
					const parsed = JSON.parse(line) as SandboxInfo & { ready?: boolean };
					if (!parsed.ready) throw new Error('not a readiness line');
					delete parsed.ready;
					resolve(parsed);
				} catch {
					reject(new Error(`unexpected first line from sandbox child: ${line}`));
				}
			});
		});
	} catch (err) {
		killAtExit();
		await exited;
		process.off('exit', killAtExit);
		throw err;
	}

	// Keep draining stdout (nothing is expected), and let this process exit without stop().
	stdout.resume();
	(stdout as unknown as { unref?: () => void }).unref?.();
	(stdin as unknown as { unref?: () => void }).unref?.();
	child.unref();

	let stopping: Promise<void> | undefined;
	const stop = () => {
		stopping ??= (async () => {
			if (child.exitCode === null && child.signalCode === null) {
				child.ref(); // keep the event loop alive until the child is gone
				stdin.end();
				child.kill('SIGTERM');
				const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
				await exited;
				clearTimeout(timer);
			}
			process.off('exit', killAtExit);
		})();
		return stopping;
	};

	return makeHandle(info, 'child-process', stop);
}

export async function startSandbox(opts: StartSandboxOptions = {}): Promise<Sandbox> {
	if (!opts.inProcess) return startChild(opts);
	const { startSandboxServer } = await import('./server');
	const server = await startSandboxServer(opts);
	let stopping: Promise<void> | undefined;
	return makeHandle(server.info, 'in-process', () => (stopping ??= server.close()));
}
