/**
 * What every wire format module gives the client (chat-client.ts) and the nodes: one module per format
 * an LLM API speaks (credential field API Format), all behind this one interface. Inside the package a
 * request and an answer have one shape, the Chat Completions one of openai-wire.ts (messages with
 * content parts and tool calls; a `chat.completion` answer; stream deltas): each module turns that into
 * its own body, and its own answers and events back into it. So the nodes, the token handling, the
 * limits and the scrubbing are the same for every format. Pure: no I/O.
 */
import type { ApiFormat, ApiSettings } from '../config/provider-config';
import { ParameterError } from '../core/errors';
import { anthropicMessagesWire, anthropicVertexWire } from './anthropic-wire';
import { chatCompletionsWire, type ChatCompletionResponse, type ChatDelta, type ChatSettings, type OpenAiMessage, type SseEvent, type StreamedAnswer } from './openai-wire';
import { responsesWire } from './responses-wire';

/** One chat call in the package's own shape. */
export interface ChatRequest {
	settings: ChatSettings;
	messages: OpenAiMessage[];
}

/** What one event of a streamed answer means: deltas (and whether the answer is complete), or the error it carries. */
export type StreamStep = { deltas: ChatDelta[]; end?: boolean } | { error: unknown };

export interface WireFormat {
	readonly format: ApiFormat;
	/** The format's name in messages. */
	readonly label: string;
	/** Where Base URL should end, for the hint of a 404. */
	readonly baseUrlHint: string;
	/** The chat call's path below Base URL. */
	chatPath(model: string, stream: boolean): string;
	chatBody(request: ChatRequest, api: ApiSettings, stream: boolean): Record<string, unknown>;
	/** Headers the format needs on every request (Anthropic's version). */
	headers(api: ApiSettings): Record<string, string>;
	/** A whole answer in the package's shape, or the error a 2xx answer carries. */
	completionOf(raw: unknown): ChatCompletionResponse | { error: unknown };
	/** A reader of one stream's events; it keeps what the format spreads over several events. */
	streamReader(): (event: SseEvent) => StreamStep;
	/** The event that ends a complete streamed answer, where the format has one; a stream without it failed. */
	readonly streamEnd?: string;
	/**
	 * The provider's own answer with its content given as parsed JSON (Output Content as JSON with
	 * Simplify Output off), where the format has always shown it so; otherwise the answer as it is.
	 */
	withParsedContent(raw: unknown, parse: (content: unknown) => unknown): unknown;
	/** A streamed answer put back together in the provider's own shape (Simplify Output off). */
	answerOfStream(answer: StreamedAnswer): Record<string, unknown>;
	/** GET {Base URL}/{modelsPath} answers `{data: [{id}]}`; undefined where the format has no list. */
	readonly modelsPath?: string;
	/** POST {Base URL}/{embeddingsPath} in OpenAI's embeddings format; undefined where the format has none. */
	readonly embeddingsPath?: string;
}

const MODULES: Record<ApiFormat, WireFormat> = {
	chatCompletions: chatCompletionsWire,
	responses: responsesWire,
	anthropicMessages: anthropicMessagesWire,
	anthropicVertex: anthropicVertexWire,
};

export function wireFormatOf(format: ApiFormat): WireFormat {
	return MODULES[format];
}

/**
 * The settings a node's options may set for one call, over the credential's. An option may come from an
 * expression: only a real boolean turns storing on or off (a null would mean "the provider's default",
 * which is to store), and only text is a version.
 */
export function callApiSettings(api: ApiSettings, settings: Pick<ChatSettings, 'storeResponses' | 'anthropicVersion'>): ApiSettings {
	const store: unknown = settings.storeResponses;
	const version: unknown = settings.anthropicVersion;
	if (store !== undefined && store !== null && store !== '' && typeof store !== 'boolean') {
		throw new ParameterError('options.storeResponses', 'Store Responses must be true or false');
	}
	if (version !== undefined && version !== null && typeof version !== 'string') {
		throw new ParameterError('options.anthropicVersion', 'Anthropic Version must be a version such as 2023-06-01');
	}
	return {
		...api,
		...(typeof store === 'boolean' ? { storeResponses: store } : {}),
		...(typeof version === 'string' && version.trim() !== '' ? { anthropicVersion: version.trim() } : {}),
	};
}
