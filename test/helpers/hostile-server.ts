/**
 * Servers on 127.0.0.1 that behave the way broken or malicious ones do: gzip bombs, answers that
 * drip, redirects to another port, echoes of whatever secret they were sent. Each records what it
 * received, so a test can prove that nothing reached a place it must not reach.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { gzipSync } from 'node:zlib';

export interface ReceivedRequest {
	method: string;
	url: string;
	headers: IncomingMessage['headers'];
	body: string;
}

export interface HostileServer {
	origin: string;
	received: ReceivedRequest[];
	close(): Promise<void>;
}

export type Handler = (request: ReceivedRequest, res: ServerResponse) => void;

/** Starts a server that closes when the test file ends. */
export async function hostileServer(handler: Handler): Promise<HostileServer> {
	const received: ReceivedRequest[] = [];
	const server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
			received.push(request);
			handler(request, res);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const close = async () => {
		server.closeAllConnections();
		await new Promise<void>((resolve) => server.close(() => resolve()));
	};
	after(close);
	return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, close };
}

/**
 * A gzip bomb of about `mebibytes` MiB once inflated, for a few KiB on the wire: one gzip member of
 * 1 MiB of zeros, repeated (RFC 1952 allows members back to back; zlib inflates them all).
 */
export function gzipBomb(mebibytes: number): Buffer {
	const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
	return Buffer.concat(Array.from({ length: mebibytes }, () => member));
}

/** Sends `status` with a JSON-looking body one byte every `everyMs`, forever (until the client leaves). */
export function drip(res: ServerResponse, everyMs: number, status = 200): void {
	res.writeHead(status, { 'Content-Type': 'application/json' });
	res.write('{');
	const timer = setInterval(() => res.write(' '), everyMs);
	res.on('close', () => clearInterval(timer));
}
