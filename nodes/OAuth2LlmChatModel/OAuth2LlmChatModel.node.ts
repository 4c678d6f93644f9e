import { supplyModel } from '@n8n/ai-node-sdk';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import type {
	ICredentialTestFunctions,
	ICredentialsDecrypted,
	ILoadOptionsFunctions,
	INodeCredentialTestResult,
	INodeListSearchResult,
	INodeType,
	INodeTypeDescription,
	ISupplyDataFunctions,
	SupplyData,
} from 'n8n-workflow';

import { listModels } from '../shared/chat-client';
import { loadProvider, testProviderCredential } from '../shared/credential';
import { toNodeError } from '../shared/n8n-errors';
import { secretsOf, type ProviderConfig } from '../shared/provider-config';
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

	methods = {
		credentialTest: {
			async llmProviderOAuth2ApiTest(
				this: ICredentialTestFunctions,
				credential: ICredentialsDecrypted,
			): Promise<INodeCredentialTestResult> {
				return await testProviderCredential(credential);
			},
		},
		listSearch: {
			async searchModels(this: ILoadOptionsFunctions, filter?: string): Promise<INodeListSearchResult> {
				let provider: ProviderConfig | undefined;
				try {
					provider = await loadProvider(this);
					const models = await listModels({ provider, maxRetries: 1, timeoutMs: 15_000, logger: this.logger });
					const wanted = filter?.toLowerCase() ?? '';
					return {
						results: models.filter((id) => id.toLowerCase().includes(wanted)).map((id) => ({ name: id, value: id })),
					};
				} catch (error) {
					const nodeError = toNodeError(this.getNode(), error, undefined, provider ? secretsOf(provider.tokenEndpoint) : []);
					nodeError.description = `${nodeError.description ?? ''} If the provider has no /models list, switch Model to "By Name" and type it.`.trim();
					throw nodeError;
				}
			},
		},
	};

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
				responseFormat: options.responseFormat,
			},
		);
		return supplyModel(this, model);
	}
}
