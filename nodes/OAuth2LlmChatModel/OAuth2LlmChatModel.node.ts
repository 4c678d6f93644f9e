import { supplyModel } from '@n8n/ai-node-sdk';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type { INodeType, INodeTypeDescription, ISupplyDataFunctions, SupplyData } from 'n8n-workflow';

import { loadProvider } from '../shared/credential';
import { sharedNodeMethods } from '../shared/node-methods';
import { toNodeError } from '../shared/n8n-errors';
import type { ProviderConfig } from '../shared/provider-config';
import { chatModelProperties, type ModelNodeOptions } from './description';
import { OAuth2ChatModel } from './model';

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
		description: 'Chat model for AI Agents and chains: an OpenAI-compatible LLM behind OAuth2 client credentials',
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
		let provider: ProviderConfig;
		try {
			provider = await loadProvider(this, itemIndex);
		} catch (error) {
			throw toNodeError(node, error, itemIndex);
		}
		const modelId = String(this.getNodeParameter('model', itemIndex, '', { extractValue: true }) ?? '').trim();
		if (modelId === '') {
			throw new NodeOperationError(node, 'No model is selected', {
				itemIndex,
				description: 'Pick a model from the list, or switch Model to "By Name" and type it.',
			});
		}
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
			},
		);
		return supplyModel(this, model);
	}
}
