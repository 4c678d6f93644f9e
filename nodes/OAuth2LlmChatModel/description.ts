/**
 * The model node's parameters. Names are a public contract: saved workflows point at them. The model
 * picker and the option names match the OAuth2 LLM Chat node's, so moving between the two is familiar.
 */
import type { INodeProperties } from 'n8n-workflow';

import { DEFAULT_LLM_MAX_RETRIES, DEFAULT_LLM_TIMEOUT_MS } from '../shared/chat-client';

export interface ModelNodeOptions {
	maxRetries?: number;
	maxTokens?: number;
	responseFormat?: 'text' | 'json_object';
	temperature?: number;
	timeout?: number;
	topP?: number;
}

export const chatModelProperties: INodeProperties[] = [
	{
		displayName: 'Model',
		name: 'model',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		required: true,
		description: 'The model (or deployment) that answers the agent or chain',
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				placeholder: 'Select a model…',
				typeOptions: { searchListMethod: 'searchModels', searchable: true },
			},
			{
				displayName: 'By Name',
				name: 'id',
				type: 'string',
				placeholder: 'e.g. gpt-4o-mini',
				hint: 'Use this when the provider has no /models list',
			},
		],
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Max Retries',
				name: 'maxRetries',
				type: 'number',
				default: DEFAULT_LLM_MAX_RETRIES,
				typeOptions: { minValue: 0, maxValue: 10 },
				description:
					'How often a model call is retried after a rate limit (429), server error (5xx) or network error, with backoff of 1 s, 2 s, 4 s… or the Retry-After the provider asks for',
			},
			{
				displayName: 'Maximum Number of Tokens',
				name: 'maxTokens',
				type: 'number',
				default: 1024,
				typeOptions: { minValue: 1 },
				description: 'The most tokens one answer may have (max_tokens)',
			},
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
			{
				displayName: 'Temperature',
				name: 'temperature',
				type: 'number',
				default: 1,
				typeOptions: { minValue: 0, maxValue: 2, numberPrecision: 1 },
				description: 'Higher values make answers more random, lower values more focused',
			},
			{
				displayName: 'Timeout (Ms)',
				name: 'timeout',
				type: 'number',
				default: DEFAULT_LLM_TIMEOUT_MS,
				typeOptions: { minValue: 1000 },
				description: 'How long one model call may take, in milliseconds, before it counts as a network error',
			},
			{
				displayName: 'Top P',
				name: 'topP',
				type: 'number',
				default: 1,
				typeOptions: { minValue: 0, maxValue: 1, numberPrecision: 2 },
				description: 'Nucleus sampling: only tokens within this probability mass are considered',
			},
		],
	},
];
