import { NodeConnectionTypes } from 'n8n-workflow';
import type { INodeType, INodeTypeDescription, ISupplyDataFunctions, SupplyData } from 'n8n-workflow';

import { sharedNodeMethods } from '../shared/n8n/node-methods';
import { requireFromN8n } from '../shared/n8n/n8n-version';
import { providerAndModel } from '../shared/n8n/sub-node';
import { DEFAULT_BATCH_SIZE, embeddingsProperties, MAX_BATCH_SIZE, type EmbeddingsNodeOptions } from './description';
import { toNodeError } from '../shared/n8n/n8n-errors';
import { createEmbeddings, embeddingsPathOf } from './embeddings';

/**
 * An embeddings sub-node for n8n's vector stores (In-Memory, PGVector, Qdrant…), on the same
 * credential and token cache as the chat nodes. n8n 2.41's AI node SDK has no embeddings helper;
 * its vector stores take any object with embedDocuments/embedQuery from the ai_embedding input, and
 * n8n's logWrapper (@n8n/ai-utilities) adds the run log for instances of its own LangChain
 * Embeddings class: embeddings.ts builds one. This file describes and routes.
 */
export class OAuth2LlmEmbeddings implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'OAuth2 LLM Embeddings',
		name: 'oAuth2LlmEmbeddings',
		icon: { light: 'file:oauth2llm.svg', dark: 'file:oauth2llm.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["model"]?.value ?? $parameter["model"] ?? "" }}',
		description: 'Embeddings for vector stores from an OpenAI-compatible API behind OAuth2 client credentials',
		defaults: { name: 'OAuth2 LLM Embeddings' },
		inputs: [],
		outputs: [NodeConnectionTypes.AiEmbedding],
		outputNames: ['Embeddings'],
		credentials: [{ name: 'llmProviderOAuth2Api', required: true, testedBy: 'llmProviderOAuth2ApiTest' }],
		properties: embeddingsProperties,
	};

	methods = sharedNodeMethods;

	async supplyData(this: ISupplyDataFunctions, itemIndex: number): Promise<SupplyData> {
		const node = this.getNode();
		const { provider, modelId: model } = await providerAndModel(this, itemIndex, 'embedding model');
		// Refused here, before a vector store sends it any text.
		try {
			embeddingsPathOf(provider);
		} catch (error) {
			throw toNodeError(node, error, itemIndex);
		}
		const options = this.getNodeParameter('options', itemIndex, {}) as EmbeddingsNodeOptions;
		const batchSize = Math.min(MAX_BATCH_SIZE, Math.max(1, Math.floor(Number(options.batchSize ?? DEFAULT_BATCH_SIZE)) || DEFAULT_BATCH_SIZE));
		const embeddings = createEmbeddings(
			{ model, batchSize, dimensions: options.dimensions, timeoutMs: options.timeout, maxRetries: options.maxRetries },
			{ provider, node, logger: this.logger, executionSignal: this.getExecutionCancelSignal?.() },
		);
		let logWrapper: ((instance: unknown, context: ISupplyDataFunctions) => unknown) | undefined;
		try {
			logWrapper = requireFromN8n<{ logWrapper?: typeof logWrapper }>('@n8n/ai-utilities').logWrapper;
		} catch {
			logWrapper = undefined;
		}
		return { response: typeof logWrapper === 'function' ? logWrapper(embeddings, this) : embeddings };
	}
}
