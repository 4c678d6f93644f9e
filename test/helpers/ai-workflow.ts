/**
 * Pieces of the AI workflows the e2e tests import into a real n8n: nodes with stable ids, the
 * connections between them, a streaming Webhook, and an item that carries a real PNG as binary data.
 */
import { createHash } from 'node:crypto';

/** A real 1×1 PNG, and the SHA-256 the sandbox reports for the bytes it got. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
export const PNG_DIGEST = createHash('sha256').update(PNG).digest('hex');

export type NodeMaker = (name: string, type: string, typeVersion: number, parameters: Record<string, unknown>, extra?: object) => Record<string, unknown>;

/** A maker of nodes numbered in order: each gets its own id and a position right of the one before. */
export function nodeMaker(): NodeMaker {
	let x = 0;
	return (name, type, typeVersion, parameters, extra = {}) => {
		x += 1;
		return { id: `00000000-0000-4000-8000-${String(x).padStart(12, '0')}`, name, type, typeVersion, position: [x * 200, 0], parameters, ...extra };
	};
}

export const main = (to: string) => ({ main: [[{ node: to, type: 'main', index: 0 }]] });
export const ai = (kind: string, ...to: string[]) => ({ [kind]: [to.map((target) => ({ node: target, type: kind, index: 0 }))] });

/** A Webhook in Streaming response mode at `webhookPath`. */
export const streamingWebhook = (node: NodeMaker, webhookPath: string) =>
	node('Webhook', 'n8n-nodes-base.webhook', 2.1, { httpMethod: 'POST', path: webhookPath, responseMode: 'streaming', options: {} }, { webhookId: webhookPath });

/** Set (the image as base64) → Convert to File: an item whose binary property `data` is the PNG. */
export const imageNodes = (node: NodeMaker) => [
	node('Image', 'n8n-nodes-base.set', 3.4, { mode: 'raw', jsonOutput: JSON.stringify({ image: PNG.toString('base64') }), options: {} }),
	node('To File', 'n8n-nodes-base.convertToFile', 1.1, { operation: 'toBinary', sourceProperty: 'image', binaryPropertyName: 'data', options: { mimeType: 'image/png', fileName: 'pixel.png' } }),
];

export function workflow(id: string, nodes: object[], connections: Record<string, unknown>) {
	return { id, name: `e2e ${id}`, nodes, connections, settings: { executionOrder: 'v1' }, active: false };
}
