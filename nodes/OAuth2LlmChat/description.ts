/**
 * The node's parameters. Names are a public contract: saved workflows point at them.
 */
import type { INodeProperties } from 'n8n-workflow';

import { DEFAULT_LLM_MAX_RETRIES, DEFAULT_LLM_TIMEOUT_MS } from '../shared/chat-client';

export const DEFAULT_CONCURRENCY = 5;
export const MAX_CONCURRENCY = 100;

export const chatProperties: INodeProperties[] = [
	{
		displayName: 'Model',
		name: 'model',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		required: true,
		description: 'The model (or deployment) to chat with',
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
		displayName: 'Messages',
		name: 'messages',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, sortable: true },
		placeholder: 'Add Message',
		default: { values: [{ role: 'user', content: '' }] },
		description: 'The conversation to send; use expressions to build it from each input item',
		options: [
			{
				displayName: 'Message',
				name: 'values',
				values: [
					{
						displayName: 'Role',
						name: 'role',
						type: 'options',
						default: 'user',
						options: [
							{ name: 'System', value: 'system', description: 'Instructions that steer the model' },
							{ name: 'User', value: 'user', description: 'What the user asks' },
							{ name: 'Assistant', value: 'assistant', description: 'An earlier answer of the model' },
						],
					},
					{
						displayName: 'Content',
						name: 'content',
						type: 'string',
						default: '',
						typeOptions: { rows: 3 },
						placeholder: 'e.g. Summarise this ticket: {{ $json.text }}',
					},
				],
			},
		],
	},
	{
		displayName: 'Simplify Output',
		name: 'simplify',
		type: 'boolean',
		default: true,
		description:
			'Whether to return one item with content, role, finishReason, model and usage instead of the provider\'s whole response',
	},
	{
		displayName: 'Output Content as JSON',
		name: 'jsonOutput',
		type: 'boolean',
		default: false,
		description:
			'Whether to ask the model for a JSON object (response_format json_object) and parse it; mention JSON in a message, as OpenAI-compatible APIs require',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Concurrency',
				name: 'concurrency',
				type: 'number',
				default: DEFAULT_CONCURRENCY,
				typeOptions: { minValue: 1, maxValue: MAX_CONCURRENCY },
				description: 'How many items are sent to the model at once. All of them share one access token.',
			},
			{
				displayName: 'Frequency Penalty',
				name: 'frequencyPenalty',
				type: 'number',
				default: 0,
				typeOptions: { minValue: -2, maxValue: 2, numberPrecision: 1 },
				description: 'Positive values make the model less likely to repeat the same lines',
			},
			{
				displayName: 'Max Retries',
				name: 'maxRetries',
				type: 'number',
				default: DEFAULT_LLM_MAX_RETRIES,
				typeOptions: { minValue: 0, maxValue: 10 },
				description:
					'How often a call is retried after a rate limit (429), server error (5xx) or network error, with backoff of 1 s, 2 s, 4 s… or the Retry-After the provider asks for',
			},
			{
				displayName: 'Maximum Number of Tokens',
				name: 'maxTokens',
				type: 'number',
				default: 1024,
				typeOptions: { minValue: 1 },
				description: 'The most tokens the answer may have (max_tokens)',
			},
			{
				displayName: 'Presence Penalty',
				name: 'presencePenalty',
				type: 'number',
				default: 0,
				typeOptions: { minValue: -2, maxValue: 2, numberPrecision: 1 },
				description: 'Positive values make the model more likely to talk about new topics',
			},
			{
				displayName: 'Stop Sequences',
				name: 'stop',
				type: 'string',
				default: '',
				placeholder: 'e.g. END or ["END", "###"]',
				description: 'Where the model stops writing: one sequence, or a JSON array of up to 4',
			},
			{
				displayName: 'Temperature',
				name: 'temperature',
				type: 'number',
				default: 1,
				typeOptions: { minValue: 0, maxValue: 2, numberPrecision: 1 },
				description: 'Higher values make the answer more random, lower values more focused',
			},
			{
				displayName: 'Timeout (Ms)',
				name: 'timeout',
				type: 'number',
				default: DEFAULT_LLM_TIMEOUT_MS,
				typeOptions: { minValue: 1000 },
				description: 'How long one call may take, in milliseconds, before it counts as a network error',
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
