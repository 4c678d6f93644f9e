/**
 * What the sub-nodes (Chat Model, Embeddings) read first in supplyData: the provider from the
 * credential and the model the user picked, each failure worded for n8n.
 */
import { NodeOperationError, type ISupplyDataFunctions } from 'n8n-workflow';

import { loadProvider } from './credential';
import { toNodeError } from './n8n-errors';
import type { ProviderConfig } from '../config/provider-config';

export async function providerAndModel(context: ISupplyDataFunctions, itemIndex: number, what: string): Promise<{ provider: ProviderConfig; modelId: string }> {
	const node = context.getNode();
	let provider: ProviderConfig;
	try {
		provider = await loadProvider(context, itemIndex);
	} catch (error) {
		throw toNodeError(node, error, itemIndex);
	}
	const modelId = String(context.getNodeParameter('model', itemIndex, '', { extractValue: true }) ?? '').trim();
	if (modelId === '') {
		throw new NodeOperationError(node, `No ${what} is selected`, {
			itemIndex,
			description: 'Pick a model from the list, or switch Model to "By Name" and type it.',
		});
	}
	return { provider, modelId };
}
