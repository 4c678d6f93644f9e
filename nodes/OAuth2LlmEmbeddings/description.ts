/**
 * The embeddings node's parameters. Names are a public contract: saved workflows point at them.
 */
import type { INodeProperties } from 'n8n-workflow';

import { callOptions, modelProperty } from '../shared/n8n/descriptions';

export const DEFAULT_BATCH_SIZE = 100;
/** OpenAI takes up to 2048 inputs per request. */
export const MAX_BATCH_SIZE = 2048;

export interface EmbeddingsNodeOptions {
	batchSize?: number;
	dimensions?: number;
	maxRetries?: number;
	timeout?: number;
}

export const embeddingsProperties: INodeProperties[] = [
	modelProperty('The embedding model (or deployment), e.g. text-embedding-3-small'),
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Batch Size',
				name: 'batchSize',
				type: 'number',
				default: DEFAULT_BATCH_SIZE,
				typeOptions: { minValue: 1, maxValue: MAX_BATCH_SIZE },
				description: 'How many texts go into one POST /embeddings call; a few batches run at once, and a failed batch is retried as one',
			},
			{
				displayName: 'Dimensions',
				name: 'dimensions',
				type: 'number',
				default: 1536,
				typeOptions: { minValue: 1 },
				description: 'The length of each vector (dimensions), for models that can shorten theirs (text-embedding-3-*). Every text of one store must use the same.',
			},
			callOptions.maxRetries,
			callOptions.timeout,
		],
	},
];
