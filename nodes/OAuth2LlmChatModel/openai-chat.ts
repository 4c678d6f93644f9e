/**
 * Pure translation between n8n's AI SDK types (messages, tools, results, stream chunks) and the
 * package's own shape of a chat call (../shared/wire/openai-wire.ts, the Chat Completions one), which
 * the credential's format module then puts on the wire. No I/O here.
 */
import {
	getParametersJsonSchema,
	type FinishReason,
	type GenerateResult,
	type Message,
	type MessageContent,
	type TokenUsage,
	type Tool,
} from '@n8n/ai-node-sdk';

import { ParameterError } from '../shared/core/errors';
import {
	assistantText,
	chatCompletionBody,
	MAX_TOOL_CALLS,
	toolCallsOf,
	usageOf,
	type ChatCompletionResponse,
	type ChatSettings,
	type OpenAiContentPart,
	type OpenAiFunctionTool,
	type OpenAiMessage,
	type OpenAiToolCall,
	type StreamRequest,
	type Usage,
} from '../shared/wire/openai-wire';
import type { ChatRequest } from '../shared/wire/wire-format';

/** What the model sends besides messages and tools: the node's options, after call-time overrides. */
export type ChatRequestSettings = Omit<ChatSettings, 'tools' | 'stop'> & { stopSequences?: string[] };

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
			// Every format takes images; other files (PDF, audio) have no form common to them.
			if (!(part.mediaType ?? '').startsWith('image/')) {
				throw new ParameterError(
					'messages',
					`The chat model cannot send a ${part.mediaType ?? 'binary'} file: it sends text and images only`,
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
				`The tool "${tool.name}" is a provider-side tool; this model sends function tools only`,
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

/** One model call in the package's own shape. */
export function chatRequestOf(settings: ChatRequestSettings, messages: Message[], tools: Tool[]): ChatRequest {
	const { stopSequences, ...rest } = settings;
	return { settings: { ...rest, stop: stopSequences, tools: toOpenAiTools(tools) }, messages: toOpenAiMessages(messages) };
}

/** The same call as a Chat Completions body (the tests post it to the sandbox as it is). */
export function buildChatCompletionRequest(
	settings: ChatRequestSettings,
	messages: Message[],
	tools: Tool[],
	stream?: StreamRequest,
): Record<string, unknown> {
	const request = chatRequestOf(settings, messages, tools);
	return chatCompletionBody(request.settings, request.messages, stream);
}

const FINISH_REASONS: Record<string, FinishReason> = {
	stop: 'stop',
	length: 'length',
	tool_calls: 'tool-calls',
	function_call: 'tool-calls',
	content_filter: 'content-filter',
};

export function finishReasonOf(reason: string | null | undefined, hadToolCalls: boolean): FinishReason {
	return FINISH_REASONS[reason ?? ''] ?? (hadToolCalls ? 'tool-calls' : 'other');
}

/** OpenAI's counts as the SDK's TokenUsage, which n8n's adapter turns into LangChain's usage_metadata (its AI logs show them). */
export function tokenUsageOf(usage: Usage | undefined): TokenUsage | undefined {
	if (!usage) return undefined;
	return {
		promptTokens: usage.promptTokens,
		completionTokens: usage.completionTokens,
		totalTokens: usage.totalTokens,
		...(usage.cachedTokens !== undefined ? { inputTokenDetails: { cacheRead: usage.cachedTokens } } : {}),
		...(usage.reasoningTokens !== undefined ? { outputTokenDetails: { reasoning: usage.reasoningTokens } } : {}),
	};
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
	const toolCalls = toolCallsOf(message.tool_calls);
	if (toolCalls.length > MAX_TOOL_CALLS) {
		// Each call becomes one chunk when n8n streams, and LangChain merges every chunk into all before it.
		throw new ParameterError('response', `The LLM API of ${providerName} answered with ${toolCalls.length} tool calls; at most ${MAX_TOOL_CALLS} are taken`);
	}
	for (const call of toolCalls) {
		content.push({ type: 'tool-call', toolCallId: call.id, toolName: call.function.name, input: call.function.arguments });
	}
	return {
		id: response.id,
		finishReason: finishReasonOf(choice.finish_reason, toolCalls.length > 0),
		message: { role: 'assistant', content, ...(response.id ? { id: response.id } : {}) },
		usage: tokenUsageOf(usageOf(response.usage)),
		providerMetadata: { model: response.model, finish_reason: choice.finish_reason ?? null },
	};
}
