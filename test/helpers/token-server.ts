/**
 * A scripted token endpoint on 127.0.0.1 for the failure cases a real authorization server will not
 * produce on demand (503 with Retry-After, dropped sockets, 200 without access_token, expires_on…).
 * It records every request's headers and form body, so tests can check the wire format.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';

import { parseProviderConfig, type TokenEndpointConfig } from '../../nodes/shared/config/provider-config';

export interface RecordedRequest {
	method: string;
	url: string;
	headers: IncomingHttpHeaders;
	rawBody: string;
	form: Record<string, string>;
}

export interface ScriptedAnswer {
	status?: number;
	/** An object is sent as JSON; a string as is. */
	body?: unknown;
	headers?: Record<string, string>;
	/** Destroy the socket without answering (a network error for the client). */
	drop?: boolean;
	/** Wait before answering, in real ms (keeps requests in flight to test single flight). */
	delayMs?: number;
}

export type Script = ScriptedAnswer[] | ((request: RecordedRequest, index: number) => ScriptedAnswer);

export interface ScriptedServer {
	url: string;
	requests: RecordedRequest[];
	close(): Promise<void>;
}

/** Default answer once a list script runs out: a fresh 1-hour bearer token. */
export function tokenAnswer(index: number, extra: Record<string, unknown> = {}): ScriptedAnswer {
	return { body: { access_token: `access-token-${index}`, token_type: 'Bearer', expires_in: 3600, ...extra } };
}

export async function startScriptedServer(script: Script, path = '/oauth/token'): Promise<ScriptedServer> {
	const requests: RecordedRequest[] = [];
	const server: Server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const rawBody = Buffer.concat(chunks).toString('utf8');
			const recorded: RecordedRequest = {
				method: req.method ?? '',
				url: req.url ?? '',
				headers: req.headers,
				rawBody,
				form: Object.fromEntries(new URLSearchParams(rawBody)),
			};
			const index = requests.length;
			requests.push(recorded);
			const answer = Array.isArray(script) ? (script[index] ?? tokenAnswer(index)) : script(recorded, index);
			const send = () => {
				if (answer.drop) {
					req.socket.destroy();
					return;
				}
				const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
				res.writeHead(answer.status ?? 200, {
					'Content-Type': typeof answer.body === 'string' ? 'text/plain' : 'application/json',
					'Cache-Control': 'no-store',
					...answer.headers,
				});
				res.end(body);
			};
			if (answer.delayMs) setTimeout(send, answer.delayMs);
			else send();
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}${path}`,
		requests,
		close: async () => {
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

/**
 * For a test file: `server(script)` starts a scripted token endpoint that closes when the file ends;
 * `config(tokenUrl, fields)` is a valid provider configuration for it.
 */
export function scriptedTokenEndpoints(client: { clientId: string; clientSecret: string }) {
	const servers: ScriptedServer[] = [];
	after(async () => await Promise.all(servers.map(async (server) => await server.close())));
	return {
		server: async (script: Script) => {
			const started = await startScriptedServer(script);
			servers.push(started);
			return started;
		},
		config: (tokenUrl: string, fields: Record<string, unknown> = {}): TokenEndpointConfig =>
			parseProviderConfig({ baseUrl: 'http://127.0.0.1:1/v1', tokenUrl, ...client, ...fields }).tokenEndpoint,
	};
}
