/**
 * A client of n8n's streaming webhooks (Webhook node, Response Mode "Streaming"): POSTs and reads the
 * NDJSON lines as they arrive, noting when each one came, so that tests can tell words arriving one by
 * one from an answer sent at once.
 */
import { request } from 'node:http';

export interface StreamLine {
	type: string;
	content?: string;
	metadata?: { nodeId?: string; nodeName?: string; itemIndex?: number };
	/** When this process read the line (ms, monotonic). */
	receivedAt: number;
}

class NotRegistered extends Error {}

/**
 * POSTs to a streaming webhook of the n8n on `port`. n8n 2.41 answers the activation before its webhook
 * is registered: a 404 "is not registered" (which runs nothing) is asked again, for up to 15 s.
 */
export async function postStreaming(port: number, webhookPath: string, body: unknown): Promise<StreamLine[]> {
	for (let attempt = 0; ; attempt++) {
		try {
			return await postStreamingOnce(port, webhookPath, body);
		} catch (error) {
			if (!(error instanceof NotRegistered) || attempt >= 60) throw error;
			await new Promise((resolve) => setTimeout(resolve, 250));
		}
	}
}

function postStreamingOnce(port: number, webhookPath: string, body: unknown): Promise<StreamLine[]> {
	return new Promise((resolve, reject) => {
		const payload = Buffer.from(JSON.stringify(body));
		const req = request(
			{ host: '127.0.0.1', port, path: `/webhook/${webhookPath}`, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': payload.length } },
			(res) => {
				const lines: StreamLine[] = [];
				let buffer = '';
				let raw = '';
				res.setEncoding('utf8');
				res.on('data', (text: string) => {
					const at = performance.now();
					buffer += text;
					raw += text;
					let newline: number;
					while ((newline = buffer.indexOf('\n')) !== -1) {
						const line = buffer.slice(0, newline).trim();
						buffer = buffer.slice(newline + 1);
						if (line && res.statusCode === 200) lines.push({ ...(JSON.parse(line) as Omit<StreamLine, 'receivedAt'>), receivedAt: at });
					}
				});
				res.on('end', () => {
					if (res.statusCode === 404 && raw.includes('is not registered')) reject(new NotRegistered(raw.slice(0, 300)));
					else if (lines.length === 0 || res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode} ${JSON.stringify(res.headers)}: ${raw.slice(0, 2000)}`));
					else resolve(lines);
				});
				res.on('error', reject);
			},
		);
		req.on('error', reject);
		req.end(payload);
	});
}

/** The `item` lines one node streamed. */
export const itemsOf = (lines: StreamLine[], nodeName: string) => lines.filter((line) => line.type === 'item' && line.metadata?.nodeName === nodeName);
