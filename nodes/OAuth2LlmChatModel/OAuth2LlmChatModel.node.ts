import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type { INodeType, INodeTypeDescription, ISupplyDataFunctions, SupplyData } from 'n8n-workflow';

import { sharedNodeMethods } from '../shared/n8n/node-methods';
import { resolvableFromN8n } from '../shared/n8n/n8n-version';
import { providerAndModel } from '../shared/n8n/sub-node';
import { chatModelProperties, type ModelNodeOptions } from './description';

/**
 * n8n 1.x ships no AI node SDK (@n8n/ai-node-sdk), and n8n's loader drops a whole package when one of
 * its node files fails to load. So this file never loads the SDK at the top: it looks for it, hides
 * the node where it is missing, and loads it (and model.ts, which builds on it) only when n8n asks
 * for a model.
 */
// Resolved from n8n's entry script: a copy that another community package installed does not count.
const SDK_AVAILABLE = resolvableFromN8n('@n8n/ai-node-sdk');

/**
 * A Chat Model sub-node for the AI Agent and the LLM chains: supplies a model (model.ts) that takes
 * its access token from the process-wide cache on every call. This file describes and routes.
 */
export class OAuth2LlmChatModel implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'OAuth2 LLM Chat Model',
		name: 'oAuth2LlmChatModel',
		icon: { light: 'file:oauth2llm.svg', dark: 'file:oauth2llm.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["model"]?.value ?? $parameter["model"] ?? "" }}',
		description: SDK_AVAILABLE
			? 'Chat model for AI Agents and chains: an LLM behind OAuth2, in Chat Completions, Responses or Anthropic Messages format'
			: 'Needs n8n 2.x: this n8n has no AI node SDK. Use the OAuth2 LLM Chat node instead.',
		...(SDK_AVAILABLE ? {} : { hidden: true as const }),
		defaults: { name: 'OAuth2 LLM Chat Model' },
		inputs: [],
		outputs: [NodeConnectionTypes.AiLanguageModel],
		outputNames: ['Model'],
		credentials: [{ name: 'llmProviderOAuth2Api', required: true, testedBy: 'llmProviderOAuth2ApiTest' }],
		properties: chatModelProperties,
	};

	methods = sharedNodeMethods;

	async supplyData(this: ISupplyDataFunctions, itemIndex: number): Promise<SupplyData> {
		const node = this.getNode();
		if (!SDK_AVAILABLE) {
			throw new NodeOperationError(node, 'The OAuth2 LLM Chat Model needs n8n 2.x', {
				itemIndex,
				description:
					'This n8n does not ship the AI node SDK (@n8n/ai-node-sdk) that the node is built on (n8n 1.x does not). Use the OAuth2 LLM Chat node, or upgrade n8n to 2.x.',
			});
		}
		const [{ supplyModel }, { OAuth2ChatModel }, { supplyChatModel }] = await Promise.all([import('@n8n/ai-node-sdk'), import('./model'), import('./adapter')]);
		const { provider, modelId } = await providerAndModel(this, itemIndex, 'model');
		const options = this.getNodeParameter('options', itemIndex, {}) as ModelNodeOptions;
		const model = new OAuth2ChatModel(
			modelId,
			{ provider, node, logger: this.logger, executionSignal: this.getExecutionCancelSignal?.() },
			{
				temperature: options.temperature,
				maxTokens: options.maxTokens,
				topP: options.topP,
				timeout: options.timeout,
				maxRetries: options.maxRetries,
				maxResponseSizeMb: options.maxResponseSizeMb,
				responseFormat: options.responseFormat,
				maxCompletionTokens: options.maxCompletionTokens,
				reasoningEffort: options.reasoningEffort,
				streaming: options.streaming,
				allowRemoteImageUrls: options.allowRemoteImageUrls,
				storeResponses: options.storeResponses,
				anthropicVersion: options.anthropicVersion,
			},
		);
		return supplyChatModel(this, model, supplyModel as (context: ISupplyDataFunctions, model: never) => SupplyData);
	}
}
