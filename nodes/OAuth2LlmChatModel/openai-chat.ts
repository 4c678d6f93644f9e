/**
 * Pure translation between n8n's AI SDK types (messages, tools, results) and the OpenAI chat
 * completions wire format that ../shared/chat-client.ts sends. No I/O here.
 */
import {
	getParametersJsonSchema,
	type FinishReason,
	type GenerateResult,
	type Message,
	type MessageContent,
	type Tool,
} from '@n8n/ai-node-sdk';

import type { ChatCompletionResponse } from '../shared/chat-client';
import { ParameterError } from '../shared/errors';

type OpenAiContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

export interface OpenAiToolCall {
	id: string;
	type: 'function';
	function: { name: string; arguments: string };
}

export type OpenAiMessage =
	| { role: 'system'; content: string }
	| { role: 'user'; content: string | OpenAiContentPart[]; name?: string }
	| { role: 'assistant'; content: string | null; tool_calls?: OpenAiToolCall[]; name?: string }
	| { role: 'tool'; content: string; tool_call_id: string };

export interface OpenAiFunctionTool {
	type: 'function';
	function: { name: string; description?: string; parameters: unknown; strict?: boolean };
}

/** What the model sends besides messages and tools: the node's options, after call-time overrides. */
export interface ChatRequestSettings {
	model: string;
	temperature?: number;
	maxTokens?: number;
	topP?: number;
	stopSequences?: string[];
	/** `json_object`: OpenAI-compatible APIs then answer one JSON object (the prompt must mention JSON). */
	responseFormat?: 'text' | 'json_object';
}

function textOf(content: MessageContent[]): string {
	return content
		.filter((part): part is Extract<MessageContent, { type: 'text' }> => part.type === 'text')
		.map((part) => part.text)
		.join('\n');
}

function imageUrl(part: Extract<MessageContent, { type: 'file' }>): string | undefined {
	const metadataUrl = part.providerMetadata?.url;
	if (typeof metadataUrl === 'string') return metadataUrl;
	const mediaType = part.mediaType ?? 'application/octet-stream';
	if (typeof part.data === 'string') {
		return /^(data:|https?:)/.test(part.data) ? part.data : `data:${mediaType};base64,${part.data}`;
	}
	return `data:${mediaType};base64,${Buffer.from(part.data).toString('base64')}`;
}

function userContent(content: MessageContent[]): string | OpenAiContentPart[] {
	const files = content.filter((part): part is Extract<MessageContent, { type: 'file' }> => part.type === 'file');
	if (files.length === 0) return textOf(content);
	const parts: OpenAiContentPart[] = [];
	for (const part of content) {
		if (part.type === 'text') parts.push({ type: 'text', text: part.text });
		if (part.type === 'file') {
			// Chat completions take images inline; other files (PDF, audio) have no portable form there.
			if (!(part.mediaType ?? '').startsWith('image/')) {
				throw new ParameterError(
					'messages',
					`The chat model cannot send a ${part.mediaType ?? 'binary'} file: OpenAI-compatible chat completions take text and images only`,
				);
			}
			const url = imageUrl(part);
			if (url) parts.push({ type: 'image_url', image_url: { url } });
		}
	}
	return parts;
}

function resultText(result: unknown): string {
	if (typeof result === 'string') return result;
	if (Array.isArray(result)) {
		const texts = result.filter((part) => part?.type === 'text' && typeof part.text === 'string').map((part) => part.text as string);
		if (texts.length === result.length) return texts.join('\n');
	}
	return JSON.stringify(result ?? null);
}

/** One SDK message may become several OpenAI messages (one `tool` message per tool result). */
export function toOpenAiMessages(messages: Message[]): OpenAiMessage[] {
	const out: OpenAiMessage[] = [];
	for (const message of messages) {
		switch (message.role) {
			case 'system':
				out.push({ role: 'system', content: textOf(message.content) });
				break;
			case 'user':
				out.push({ role: 'user', content: userContent(message.content), ...(message.name ? { name: message.name } : {}) });
				break;
			case 'assistant': {
				const toolCalls: OpenAiToolCall[] = message.content
					.filter((part): part is Extract<MessageContent, { type: 'tool-call' }> => part.type === 'tool-call')
					.map((part, index) => ({
						id: part.toolCallId ?? `call_${index}`,
						type: 'function',
						function: { name: part.toolName, arguments: part.input },
					}));
				const text = textOf(message.content);
				out.push({
					role: 'assistant',
					// OpenAI: content may be null only when the message carries tool calls.
					content: text === '' && toolCalls.length > 0 ? null : text,
					...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
				});
				break;
			}
			case 'tool':
				for (const part of message.content) {
					if (part.type !== 'tool-result') continue;
					out.push({ role: 'tool', tool_call_id: part.toolCallId, content: resultText(part.result) });
				}
				break;
		}
	}
	return out;
}

export function toOpenAiTools(tools: Tool[]): OpenAiFunctionTool[] {
	return tools.map((tool) => {
		if (tool.type !== 'function') {
			throw new ParameterError(
				'tools',
				`The tool "${tool.name}" is a provider-side tool; an OpenAI-compatible chat API only takes function tools`,
			);
		}
		return {
			type: 'function',
			function: {
				name: tool.name,
				...(tool.description ? { description: tool.description } : {}),
				parameters: getParametersJsonSchema(tool),
				...(tool.strict !== undefined ? { strict: tool.strict } : {}),
			},
		};
	});
}

export function buildChatCompletionRequest(
	settings: ChatRequestSettings,
	messages: Message[],
	tools: Tool[],
): Record<string, unknown> {
	const request: Record<string, unknown> = { model: settings.model, messages: toOpenAiMessages(messages) };
	if (settings.temperature !== undefined) request.temperature = settings.temperature;
	if (settings.maxTokens !== undefined) request.max_tokens = settings.maxTokens;
	if (settings.topP !== undefined) request.top_p = settings.topP;
	if (settings.stopSequences?.length) request.stop = settings.stopSequences;
	if (settings.responseFormat === 'json_object') request.response_format = { type: 'json_object' };
	if (tools.length > 0) request.tools = toOpenAiTools(tools);
	return request;
}

const FINISH_REASONS: Record<string, FinishReason> = {
	stop: 'stop',
	length: 'length',
	tool_calls: 'tool-calls',
	function_call: 'tool-calls',
	content_filter: 'content-filter',
};

function assistantText(content: unknown): string {
	if (typeof content === 'string') return content;
	if (Array.isArray(content)) {
		return content
			.filter((part) => part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string')
			.map((part) => (part as { text: string }).text)
			.join('');
	}
	return '';
}

/** The provider's answer as the SDK's GenerateResult; throws when it has no message at all. */
export function fromChatCompletion(response: ChatCompletionResponse, providerName: string): GenerateResult {
	const choice = response.choices?.[0];
	const message = choice?.message;
	if (!message) {
		throw new ParameterError('response', `The LLM API of ${providerName} answered without a message (no choices[0].message)`);
	}
	const content: MessageContent[] = [];
	const text = assistantText(message.content);
	if (text !== '') content.push({ type: 'text', text });
	const toolCalls = Array.isArray(message.tool_calls) ? (message.tool_calls as Array<Partial<OpenAiToolCall>>) : [];
	for (const [index, call] of toolCalls.entries()) {
		if (!call?.function?.name) continue;
		content.push({
			type: 'tool-call',
			// Some OpenAI-compatible servers omit ids; the agent pairs tool results with calls by id, and
			// n8n's streaming adapter tells parallel calls apart by id only.
			toolCallId: call.id || `call_${index}`,
			toolName: call.function.name,
			input: typeof call.function.arguments === 'string' ? call.function.arguments : JSON.stringify(call.function.arguments ?? {}),
		});
	}
	const usage = response.usage as { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | undefined;
	const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
	return {
		id: response.id,
		finishReason: FINISH_REASONS[choice.finish_reason ?? ''] ?? (toolCalls.length > 0 ? 'tool-calls' : 'other'),
		message: { role: 'assistant', content, ...(response.id ? { id: response.id } : {}) },
		usage: usage
			? {
					promptTokens: count(usage.prompt_tokens),
					completionTokens: count(usage.completion_tokens),
					totalTokens: count(usage.total_tokens) || count(usage.prompt_tokens) + count(usage.completion_tokens),
				}
			: undefined,
		providerMetadata: { model: response.model, finish_reason: choice.finish_reason ?? null },
	};
}
