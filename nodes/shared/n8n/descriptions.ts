/**
 * Parameters both nodes show the same way: the model picker and the call options. Names are a public
 * contract: saved workflows point at them.
 */
import type { INodeProperties } from 'n8n-workflow';

import { DEFAULT_ANTHROPIC_VERSION } from '../config/provider-config';
import { DEFAULT_ANTHROPIC_MAX_TOKENS } from '../wire/anthropic-wire';
import { DEFAULT_LLM_MAX_RETRIES, DEFAULT_LLM_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_SIZE_MB, MAX_RESPONSE_SIZE_MB_LIMIT } from '../wire/chat-client';

/** `searchModels` (node-methods.ts) fills the list from GET {baseUrl}/models; "By Name" takes any typed name. */
export function modelProperty(description: string): INodeProperties {
	return {
		displayName: 'Model',
		name: 'model',
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		required: true,
		description,
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
	};
}

/** Options of one LLM call, in the order n8n shows them (alphabetical). */
export const callOptions = {
	allowRemoteImageUrls: {
		displayName: 'Allow Remote Image URLs',
		name: 'allowRemoteImageUrls',
		type: 'boolean',
		default: false,
		description:
			"Whether images may be sent as https:// URLs, which the gateway then fetches itself, from its own network. Off: only inline images (PNG, JPEG, GIF, WebP as data URLs or binary data) are sent; the Basic LLM Chain's Image (URL) message needs this on.",
	},
	anthropicVersion: {
		displayName: 'Anthropic Version',
		name: 'anthropicVersion',
		type: 'string',
		default: DEFAULT_ANTHROPIC_VERSION,
		description: "The anthropic-version header, over the credential's (Anthropic Messages format only)",
	},
	maxRetries: {
		displayName: 'Max Retries',
		name: 'maxRetries',
		type: 'number',
		default: DEFAULT_LLM_MAX_RETRIES,
		typeOptions: { minValue: 0, maxValue: 10 },
		description:
			'How often a call is retried after a rate limit (429), server error (5xx) or network error, with backoff of 1 s, 2 s, 4 s… or the Retry-After the provider asks for',
	},
	maxResponseSizeMb: {
		displayName: 'Max Response Size (MiB)',
		name: 'maxResponseSizeMb',
		type: 'number',
		default: DEFAULT_MAX_RESPONSE_SIZE_MB,
		typeOptions: { minValue: 1, maxValue: MAX_RESPONSE_SIZE_MB_LIMIT },
		description:
			'The largest answer accepted from the LLM API, in MiB, counted after decompression; a larger one fails the item instead of filling n8n\'s memory',
	},
	maxCompletionTokens: {
		displayName: 'Max Completion Tokens',
		name: 'maxCompletionTokens',
		type: 'number',
		default: 4096,
		typeOptions: { minValue: 1 },
		description:
			'The most tokens one answer may have, reasoning included (max_completion_tokens). Reasoning models (o-series, gpt-5) take this one and reject Maximum Number of Tokens; set one of the two, not both. Leave room for the reasoning, or the answer may come back empty.',
	},
	maxTokens: {
		displayName: 'Maximum Number of Tokens',
		name: 'maxTokens',
		type: 'number',
		default: 1024,
		typeOptions: { minValue: 1 },
		description: `The most tokens one answer may have (max_tokens; max_output_tokens in the Responses format). Anthropic requires a limit: ${DEFAULT_ANTHROPIC_MAX_TOKENS} when none is set.`,
	},
	reasoningEffort: {
		displayName: 'Reasoning Effort',
		name: 'reasoningEffort',
		type: 'options',
		default: 'medium',
		options: [
			{ name: 'Minimal', value: 'minimal' },
			{ name: 'Low', value: 'low' },
			{ name: 'Medium', value: 'medium' },
			{ name: 'High', value: 'high' },
		],
		description: 'How long a reasoning model thinks before it answers (reasoning_effort; reasoning.effort in the Responses format); other models reject the field, and Minimal is for gpt-5 only',
	},
	storeResponses: {
		displayName: 'Store Responses',
		name: 'storeResponses',
		type: 'boolean',
		default: false,
		description: "Whether the provider may keep the prompt and the answer (store), over the credential's Store Responses (Responses format only)",
	},
	streaming: {
		displayName: 'Streaming',
		name: 'streaming',
		type: 'boolean',
		default: true,
		description:
			'Whether to stream the answer token by token where n8n streams (an AI Agent behind a Chat Trigger, a Webhook in Streaming mode). Turn it off for gateways that reject stream or stream_options.',
	},
	temperature: {
		displayName: 'Temperature',
		name: 'temperature',
		type: 'number',
		default: 1,
		typeOptions: { minValue: 0, maxValue: 2, numberPrecision: 1 },
		description: 'Higher values make the answer more random, lower values more focused',
	},
	timeout: {
		displayName: 'Timeout (Ms)',
		name: 'timeout',
		type: 'number',
		default: DEFAULT_LLM_TIMEOUT_MS,
		typeOptions: { minValue: 1000 },
		description: 'How long one call may take in all, in milliseconds, from connecting to the last byte of the answer; then it counts as a network error (and is retried)',
	},
	topP: {
		displayName: 'Top P',
		name: 'topP',
		type: 'number',
		default: 1,
		typeOptions: { minValue: 0, maxValue: 1, numberPrecision: 2 },
		description: 'Nucleus sampling: only tokens within this probability mass are considered',
	},
} satisfies Record<string, INodeProperties>;
