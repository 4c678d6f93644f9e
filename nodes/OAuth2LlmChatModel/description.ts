/**
 * The model node's parameters. Names are a public contract: saved workflows point at them. The model
 * picker and the option names match the OAuth2 LLM Chat node's, so moving between the two is familiar.
 */
import type { INodeProperties } from 'n8n-workflow';

import { callOptions, modelProperty } from '../shared/n8n/descriptions';
import type { ReasoningEffort } from '../shared/wire/openai-wire';

export interface ModelNodeOptions {
	allowRemoteImageUrls?: boolean;
	anthropicVersion?: string;
	maxCompletionTokens?: number;
	maxResponseSizeMb?: number;
	maxRetries?: number;
	maxTokens?: number;
	reasoningEffort?: ReasoningEffort;
	responseFormat?: 'text' | 'json_object';
	storeResponses?: boolean;
	streaming?: boolean;
	temperature?: number;
	timeout?: number;
	topP?: number;
}

export const chatModelProperties: INodeProperties[] = [
	modelProperty('The model (or deployment) that answers the agent or chain'),
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			callOptions.allowRemoteImageUrls,
			callOptions.anthropicVersion,
			callOptions.maxCompletionTokens,
			callOptions.maxResponseSizeMb,
			callOptions.maxRetries,
			callOptions.maxTokens,
			callOptions.reasoningEffort,
			{
				displayName: 'Response Format',
				name: 'responseFormat',
				type: 'options',
				default: 'text',
				options: [
					{ name: 'Text', value: 'text', description: 'Regular text answers' },
					{
						name: 'JSON',
						value: 'json_object',
						description:
							'Ask for one JSON object (response_format json_object); mention JSON in the prompt, as OpenAI-compatible APIs require',
					},
				],
				description: 'The format of the model\'s answers',
			},
			callOptions.storeResponses,
			callOptions.streaming,
			callOptions.temperature,
			callOptions.timeout,
			callOptions.topP,
		],
	},
];
