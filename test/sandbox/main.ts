/**
 * Runs the sandbox provider as a process (used by startSandbox() and by the demo):
 *
 *   node --import tsx test/sandbox/main.ts [--port 8787] [--token-ttl 300]
 *        [--chat-latency MS] [--token-latency MS] [--clients-json '{"name":{"id":…,"secret":…,"authMethod":…}}']
 *        [--json-only] [--exit-on-stdin-close]
 *
 * Prints ONE JSON line first: {"ready":true, origin, baseUrl, tokenUrl, issuer, jwksUri,
 * discoveryUrl, resource, controlUrl, clients, pid}; then (unless --json-only) human-readable lines.
 * Runs until SIGINT/SIGTERM, or until stdin closes when --exit-on-stdin-close is given (what
 * startSandbox() uses, so the child dies with its parent).
 */
import { parseArgs } from 'node:util';

import { startSandboxServer } from './server';
import type { SandboxClient } from './state';

function numberArg(value: string | undefined, name: string): number | undefined {
	if (value === undefined) return undefined;
	const n = Number(value);
	if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${value}`);
	return n;
}

async function main(): Promise<void> {
	const { values } = parseArgs({
		options: {
			port: { type: 'string' },
			'token-ttl': { type: 'string' },
			'chat-latency': { type: 'string' },
			'token-latency': { type: 'string' },
			'clients-json': { type: 'string' },
			'json-only': { type: 'boolean', default: false },
			'exit-on-stdin-close': { type: 'boolean', default: false },
		},
		strict: true,
	});

	const server = await startSandboxServer({
		port: numberArg(values.port, 'port') ?? 0,
		tokenTtlSeconds: numberArg(values['token-ttl'], 'token-ttl'),
		chatLatencyMs: numberArg(values['chat-latency'], 'chat-latency'),
		tokenLatencyMs: numberArg(values['token-latency'], 'token-latency'),
		clients: values['clients-json'] ? (JSON.parse(values['clients-json']) as Record<string, SandboxClient>) : undefined,
	});
	const { info } = server;

	let closing = false;
	const shutdown = (why: string) => {
		if (closing) return;
		closing = true;
		if (!values['json-only']) process.stdout.write(`sandbox: stopping (${why})\n`);
		const force = setTimeout(() => process.exit(0), 3000);
		force.unref();
		server.close().then(
			() => process.exit(0),
			() => process.exit(1),
		);
	};
	process.on('SIGINT', () => shutdown('SIGINT'));
	process.on('SIGTERM', () => shutdown('SIGTERM'));
	if (values['exit-on-stdin-close']) {
		process.stdin.on('end', () => shutdown('stdin closed'));
		process.stdin.on('close', () => shutdown('stdin closed'));
		process.stdin.on('error', () => shutdown('stdin error'));
		process.stdin.resume();
	}

	process.stdout.write(`${JSON.stringify({ ready: true, ...info })}\n`);
	if (!values['json-only']) {
		const lines = [
			'',
			'OAuth2 LLM sandbox provider is running (Ctrl-C to stop)',
			`  OpenAI-compatible base URL : ${info.baseUrl}   (models: sandbox-echo, sandbox-json)`,
			`  Token URL                  : ${info.tokenUrl}`,
			`  Issuer / JWKS              : ${info.issuer}  /  ${info.jwksUri}`,
			`  Scopes                     : llm.chat llm.models (granted by default when no scope is sent)`,
			`  Token lifetime             : ${server.state.config.tokenTtlSeconds} s`,
			'  Clients (grant type client_credentials):',
			...Object.entries(info.clients).map(
				([name, c]) => `    ${name.padEnd(6)} client_id=${c.id}  client_secret=${c.secret}  auth=${c.authMethod === 'client_secret_basic' ? 'Basic header' : 'in body (post)'}`,
			),
			`  Stats                      : curl ${info.controlUrl}/stats`,
			'',
		];
		process.stdout.write(`${lines.join('\n')}\n`);
	}
}

main().catch((err: unknown) => {
	process.stderr.write(`sandbox: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
	process.exit(1);
});
