import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { IExecuteFunctions } from 'n8n-workflow';

import { perItemParameter } from '../nodes/shared/n8n/parameters';

/** Just enough of n8n's execute context to count getNodeParameter calls (the helper's only dependency). */
function countingContext(parameters: Record<string, unknown>) {
	const reads: string[] = [];
	const context = {
		getNode: () => ({ parameters }),
		getNodeParameter: (name: string, itemIndex: number) => {
			reads.push(`${name}@${itemIndex}`);
			return `${name} for item ${itemIndex}`;
		},
	} as unknown as IExecuteFunctions;
	return { context, reads };
}

describe('perItemParameter', () => {
	it('reads a static parameter once for all items, and an expression once per item', () => {
		const { context, reads } = countingContext({ model: 'fixed-model', messages: { values: [{ content: '={{ $json.q }}' }] } });
		const model = perItemParameter(context, 'model', '');
		const messages = perItemParameter(context, 'messages.values', []);
		const items = [0, 1, 2].map((itemIndex) => [model(itemIndex), messages(itemIndex)]);
		assert.deepEqual(reads, ['model@0', 'messages.values@0', 'messages.values@1', 'messages.values@2']);
		assert.deepEqual(items[2], ['model for item 0', 'messages.values for item 2']);
	});
});
