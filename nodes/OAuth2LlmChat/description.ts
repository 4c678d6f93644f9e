/**
 * The node's parameters. Names are a public contract: saved workflows point at them.
 */
import type { INodeProperties } from 'n8n-workflow';

import { callOptions, modelProperty } from '../shared/n8n/descriptions';

export const DEFAULT_CONCURRENCY = 5;
export const MAX_CONCURRENCY = 100;

export const chatProperties: INodeProperties[] = [
	modelProperty('The model (or deployment) to chat with'),
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
			callOptions.allowRemoteImageUrls,
			callOptions.anthropicVersion,
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
				displayName: 'Image Binary Properties',
				name: 'imageBinaryProperties',
				type: 'string',
				default: '',
				placeholder: 'e.g. data, photo',
				description:
					'Binary properties of the input item (separated by commas) to send as images with the last user message. Each becomes an image_url part with a data URL; at most 20 MiB per image.',
			},
			callOptions.maxCompletionTokens,
			callOptions.maxResponseSizeMb,
			callOptions.maxRetries,
			callOptions.maxTokens,
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
			callOptions.reasoningEffort,
			callOptions.storeResponses,
			callOptions.streaming,
			callOptions.temperature,
			callOptions.timeout,
			callOptions.topP,
		],
	},
];
