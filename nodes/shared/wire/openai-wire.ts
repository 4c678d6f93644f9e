/**
 * The OpenAI Chat Completions wire format, in one place for the chat node, the Chat Model and the
 * embeddings node: request bodies, answers, and the server-sent events of a streamed answer. Its shape
 * is also the package's own shape of a chat call (wire-format.ts): the other formats' modules
 * (responses-wire.ts, anthropic-wire.ts) translate to and from it. Pure: no I/O, no n8n and no SDK
 * types (the Chat Model maps the SDK's messages to OpenAiMessage itself).
 */
import { ParameterError } from '../core/errors';
import type { WireFormat } from './wire-format';

export type OpenAiContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: string } };

export interface OpenAiToolCall {
	id: string;
	type: 'function';
	function: { name: string; arguments: string };
}

export type OpenAiMessage =
	| { role: 'system'; content: string | OpenAiContentPart[] }
	| { role: 'user'; content: string | OpenAiContentPart[]; name?: string }
	| { role: 'assistant'; content: string | null; tool_calls?: OpenAiToolCall[]; name?: string }
	| { role: 'tool'; content: string; tool_call_id: string };

export interface OpenAiFunctionTool {
	type: 'function';
	function: { name: string; description?: string; parameters: unknown; strict?: boolean };
}

export const REASONING_EFFORTS = ['minimal', 'low', 'medium', 'high'] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

/** Everything a chat request carries besides its messages, as the nodes' options name it. */
export interface ChatSettings {
	model: string;
	temperature?: number;
	/** `max_tokens`: the classic limit. */
	maxTokens?: number;
	/** `max_completion_tokens`: what reasoning models (o-series, gpt-5) take instead; they reject max_tokens. */
	maxCompletionTokens?: number;
	reasoningEffort?: ReasoningEffort;
	topP?: number;
	frequencyPenalty?: number;
	presencePenalty?: number;
	stop?: string | string[];
	/** `json_object`: OpenAI-compatible APIs then answer one JSON object (the prompt must mention JSON). */
	responseFormat?: 'text' | 'json_object';
	tools?: OpenAiFunctionTool[];
	/** Over the credential's Store Responses (Responses format only). */
	storeResponses?: boolean;
	/** Over the credential's Anthropic Version (Anthropic Messages only). */
	anthropicVersion?: string;
}

export interface StreamRequest {
	/** `stream_options: {include_usage: true}`: the usage arrives in a last chunk. Some gateways reject the field. */
	includeUsage: boolean;
}

/** The one copy of "which option becomes which field". */
export function chatCompletionBody(settings: ChatSettings, messages: OpenAiMessage[], stream?: StreamRequest): Record<string, unknown> {
	const body: Record<string, unknown> = { model: settings.model, messages };
	if (settings.temperature !== undefined) body.temperature = settings.temperature;
	if (settings.maxTokens !== undefined) body.max_tokens = settings.maxTokens;
	if (settings.maxCompletionTokens !== undefined) body.max_completion_tokens = settings.maxCompletionTokens;
	if (settings.reasoningEffort !== undefined) body.reasoning_effort = settings.reasoningEffort;
	if (settings.topP !== undefined) body.top_p = settings.topP;
	if (settings.frequencyPenalty !== undefined) body.frequency_penalty = settings.frequencyPenalty;
	if (settings.presencePenalty !== undefined) body.presence_penalty = settings.presencePenalty;
	if (settings.stop !== undefined && settings.stop.length > 0) body.stop = settings.stop;
	if (settings.responseFormat === 'json_object') body.response_format = { type: 'json_object' };
	if (settings.tools && settings.tools.length > 0) body.tools = settings.tools;
	if (stream) {
		body.stream = true;
		if (stream.includeUsage) body.stream_options = { include_usage: true };
	}
	return body;
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

export interface ChatCompletionResponse {
	id?: string;
	model?: string;
	choices?: Array<{ index?: number; message?: { role: string; content: unknown; tool_calls?: unknown; [key: string]: unknown }; finish_reason?: string | null }>;
	usage?: Record<string, unknown>;
	[key: string]: unknown;
}

/** Token counts as OpenAI reports them (prompt, completion, their details), normalised. */
export interface Usage {
	promptTokens: number;
	completionTokens: number;
	totalTokens: number;
	cachedTokens?: number;
	reasoningTokens?: number;
}

/** A token count as a server sent it: anything but a finite count is 0. */
export const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0);

export function usageOf(raw: unknown): Usage | undefined {
	if (!raw || typeof raw !== 'object') return undefined;
	const usage = raw as {
		prompt_tokens?: unknown;
		completion_tokens?: unknown;
		total_tokens?: unknown;
		prompt_tokens_details?: { cached_tokens?: unknown };
		completion_tokens_details?: { reasoning_tokens?: unknown };
	};
	return countedUsage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.prompt_tokens_details?.cached_tokens, usage.completion_tokens_details?.reasoning_tokens);
}

/** The one rule of turning a server's counts into Usage, whatever the format names them. */
export function countedUsage(prompt: unknown, completion: unknown, total: unknown, cached: unknown, reasoning: unknown): Usage {
	const promptTokens = count(prompt);
	const completionTokens = count(completion);
	return {
		promptTokens,
		completionTokens,
		totalTokens: count(total) || promptTokens + completionTokens,
		...(typeof cached === 'number' ? { cachedTokens: count(cached) } : {}),
		...(typeof reasoning === 'number' ? { reasoningTokens: count(reasoning) } : {}),
	};
}

/** Usage as the package's answers show it (Simplify Output's `usage`), from any format's counts. */
export function completionUsage(usage: Usage): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
	return { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.totalTokens };
}

/** Text of an assistant message's content: a string, or the text parts of an array (some gateways). */
export function assistantText(content: unknown): string {
	if (typeof content === 'string') return content;
	if (Array.isArray(content)) {
		return content
			.filter((part) => part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string')
			.map((part) => (part as { text: string }).text)
			.join('');
	}
	return '';
}

/**
 * Tool calls of an answer with an id each: some OpenAI-compatible servers omit ids, and the agent pairs
 * results with calls by id (n8n's streaming adapter tells parallel calls apart by id only).
 */
export function toolCallsOf(rawCalls: unknown): OpenAiToolCall[] {
	if (!Array.isArray(rawCalls)) return [];
	const calls: OpenAiToolCall[] = [];
	for (const [index, call] of (rawCalls as Array<Partial<OpenAiToolCall> | null>).entries()) {
		if (!call?.function?.name) continue;
		const args = call.function.arguments as unknown;
		calls.push({
			id: call.id || `call_${index}`,
			type: 'function',
			function: { name: call.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) },
		});
	}
	return calls;
}

// ---------------------------------------------------------------------------------------------
// Server-sent events (a streamed answer)
// ---------------------------------------------------------------------------------------------

export interface SseEvent {
	/** The `event:` field; undefined for the default "message". */
	event?: string;
	data: string;
}

/** Largest single event accepted: a chunk of a chat stream is a few hundred bytes; this is for the line that never ends. */
export const MAX_SSE_EVENT_CHARS = 4 * 1024 * 1024;

/**
 * The WHATWG event-stream parser, incremental: feed it text as it arrives, get the complete events.
 * Lines end in LF, CRLF or CR; `data:` lines of one event are joined with LF; comments (`:`) are
 * ignored; an event ends at an empty line. Linear in the input: each character is looked at once, and
 * a line that arrives in pieces is joined once.
 */
export class SseDecoder {
	/** Pieces of the line not yet ended. */
	private partial: string[] = [];
	private partialLength = 0;
	/** The last piece ended in CR: an LF first in the next one belongs to it. */
	private afterCr = false;
	private data: string[] = [];
	private dataLength = 0;
	private event: string | undefined;

	push(text: string): SseEvent[] {
		const events: SseEvent[] = [];
		let start = 0;
		if (this.afterCr && text.charCodeAt(0) === 10) start = 1;
		this.afterCr = false;
		for (let i = start; i < text.length; i++) {
			const code = text.charCodeAt(i);
			if (code !== 10 && code !== 13) continue;
			const piece = text.slice(start, i);
			const line = this.partial.length > 0 ? this.partial.join('') + piece : piece;
			this.partial = [];
			this.partialLength = 0;
			if (code === 13) {
				if (i + 1 < text.length) {
					if (text.charCodeAt(i + 1) === 10) i++;
				} else {
					this.afterCr = true;
				}
			}
			start = i + 1;
			const event = this.line(line);
			if (event) events.push(event);
		}
		if (start < text.length) {
			this.partial.push(text.slice(start));
			this.partialLength += text.length - start;
		}
		if (this.partialLength + this.dataLength > MAX_SSE_EVENT_CHARS) {
			throw new Error(`a server-sent event is longer than ${MAX_SSE_EVENT_CHARS} characters`);
		}
		return events;
	}

	/** What is left when the stream ends: a last event without its empty line still counts. */
	end(): SseEvent[] {
		const events = this.partial.length > 0 ? this.push('\n') : [];
		const last = this.line('');
		return last ? [...events, last] : events;
	}

	private line(line: string): SseEvent | undefined {
		if (line === '') {
			if (this.data.length === 0) {
				this.event = undefined;
				return undefined;
			}
			const event: SseEvent = { data: this.data.join('\n'), ...(this.event ? { event: this.event } : {}) };
			this.data = [];
			this.dataLength = 0;
			this.event = undefined;
			return event;
		}
		if (line.startsWith(':')) return undefined;
		const colon = line.indexOf(':');
		const field = colon === -1 ? line : line.slice(0, colon);
		let value = colon === -1 ? '' : line.slice(colon + 1);
		if (value.startsWith(' ')) value = value.slice(1);
		if (field === 'data') {
			this.data.push(value);
			this.dataLength += value.length + 1;
		}
		else if (field === 'event') this.event = value;
		return undefined;
	}
}

/** One step of a streamed answer, as the nodes use it. */
export type ChatDelta =
	| { kind: 'text'; text: string }
	| { kind: 'reasoning'; text: string }
	/** A fragment of tool call `index`: id and name come with its first fragment, arguments in pieces. */
	| { kind: 'tool'; index: number; id?: string; name?: string; arguments?: string }
	| { kind: 'finish'; reason: string }
	/** `raw`: the provider's usage object as sent, details included (the chat node's output shows it). */
	| { kind: 'usage'; usage: Usage; raw?: Record<string, unknown> }
	| { kind: 'meta'; id?: string; model?: string };

/** What an `error` inside a stream says (OpenAI, Azure and vLLM send `{"error": {...}}` as data). */
export interface StreamErrorPayload {
	body: unknown;
}

/**
 * One SSE event of a chat completion stream → its deltas, `'done'` for `[DONE]`, or the error it
 * carries. Unknown shapes yield nothing (gateways add keep-alive and vendor events).
 */
export function chatDeltasOf(event: SseEvent): ChatDelta[] | 'done' | StreamErrorPayload {
	const data = event.data.trim();
	if (data === '[DONE]') return 'done';
	let parsed: unknown;
	try {
		parsed = JSON.parse(data);
	} catch {
		return event.event === 'error' ? { body: data } : [];
	}
	if (!parsed || typeof parsed !== 'object') return [];
	const chunk = parsed as {
		id?: unknown;
		model?: unknown;
		error?: unknown;
		usage?: unknown;
		choices?: Array<{ delta?: Record<string, unknown>; finish_reason?: unknown } | null>;
	};
	if (event.event === 'error' || chunk.error) return { body: chunk.error ? { error: chunk.error } : parsed };
	const deltas: ChatDelta[] = [];
	if (typeof chunk.id === 'string' || typeof chunk.model === 'string') {
		deltas.push({ kind: 'meta', ...(typeof chunk.id === 'string' ? { id: chunk.id } : {}), ...(typeof chunk.model === 'string' ? { model: chunk.model } : {}) });
	}
	const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
	const delta = choice?.delta;
	if (delta && typeof delta === 'object') {
		const reasoning = delta.reasoning_content ?? delta.reasoning;
		if (typeof reasoning === 'string' && reasoning !== '') deltas.push({ kind: 'reasoning', text: reasoning });
		if (typeof delta.content === 'string' && delta.content !== '') deltas.push({ kind: 'text', text: delta.content });
		if (Array.isArray(delta.tool_calls)) {
			for (const [position, raw] of (delta.tool_calls as Array<Record<string, unknown> | null>).entries()) {
				if (!raw) continue;
				const fn = (raw.function ?? {}) as { name?: unknown; arguments?: unknown };
				deltas.push({
					kind: 'tool',
					index: typeof raw.index === 'number' ? raw.index : position,
					...(typeof raw.id === 'string' && raw.id ? { id: raw.id } : {}),
					...(typeof fn.name === 'string' && fn.name ? { name: fn.name } : {}),
					...(typeof fn.arguments === 'string' && fn.arguments !== '' ? { arguments: fn.arguments } : {}),
				});
			}
		}
	}
	if (typeof choice?.finish_reason === 'string') deltas.push({ kind: 'finish', reason: choice.finish_reason });
	const usage = usageOf(chunk.usage);
	if (usage) deltas.push({ kind: 'usage', usage, raw: chunk.usage as Record<string, unknown> });
	return deltas;
}

/**
 * Bounds of one answer's tool calls. Beyond them a server is not answering a question: each call costs
 * the agent a merge over everything before it (LangChain), so they are refused, not stored.
 */
export const MAX_TOOL_CALLS = 128;
export const MAX_TOOL_ARGUMENT_CHARS = 1024 * 1024;

/** Thrown by ToolCallAssembler when an answer exceeds the bounds above; the caller words it. */
export class ToolCallLimitError extends Error {}

/**
 * Tool-call fragments of a stream, put together per index (id and name from the first fragment that
 * has them, arguments appended), within MAX_TOOL_CALLS and MAX_TOOL_ARGUMENT_CHARS.
 */
export class ToolCallAssembler {
	private readonly calls = new Map<number, OpenAiToolCall>();
	private argumentChars = 0;

	add(delta: Extract<ChatDelta, { kind: 'tool' }>): OpenAiToolCall {
		let call = this.calls.get(delta.index);
		if (!call) {
			if (this.calls.size >= MAX_TOOL_CALLS) throw new ToolCallLimitError(`more than ${MAX_TOOL_CALLS} tool calls in one answer`);
			call = { id: '', type: 'function', function: { name: '', arguments: '' } };
			this.calls.set(delta.index, call);
		}
		if (delta.id && !call.id) call.id = delta.id;
		if (delta.name && !call.function.name) call.function.name = delta.name;
		if (delta.arguments) {
			this.argumentChars += delta.arguments.length;
			if (this.argumentChars > MAX_TOOL_ARGUMENT_CHARS) throw new ToolCallLimitError(`tool-call arguments of more than ${MAX_TOOL_ARGUMENT_CHARS} characters in one answer`);
			call.function.arguments += delta.arguments;
		}
		return call;
	}

	/** How many calls the answer holds so far. */
	get size(): number {
		return this.calls.size;
	}

	/** The calls in index order, each with an id (`call_<n>` where the server sent none). */
	all(): OpenAiToolCall[] {
		return [...this.calls.entries()].sort(([a], [b]) => a - b).map(([index, call]) => ({ ...call, id: call.id || `call_${index}` }));
	}
}

/** A whole streamed answer, put back together: what the non-streamed call would have answered. */
export class StreamedAnswer {
	id?: string;
	model?: string;
	text = '';
	finishReason: string | null = null;
	usage?: Usage;
	/** The provider's own usage object, as its format spells it. */
	rawUsage?: Record<string, unknown>;
	private readonly calls = new ToolCallAssembler();

	add(delta: ChatDelta): void {
		switch (delta.kind) {
			case 'meta':
				this.id ??= delta.id;
				this.model ??= delta.model;
				break;
			case 'text':
				this.text += delta.text;
				break;
			case 'tool':
				this.calls.add(delta);
				break;
			case 'finish':
				this.finishReason = delta.reason;
				break;
			case 'usage':
				this.usage = delta.usage;
				this.rawUsage = delta.raw;
				break;
		}
	}

	get toolCalls(): OpenAiToolCall[] {
		return this.calls.all();
	}

	/** As a chat.completion response, so that the nodes' output does not depend on whether it streamed. */
	toCompletion(): ChatCompletionResponse {
		const toolCalls = this.toolCalls;
		return {
			...(this.id ? { id: this.id } : {}),
			object: 'chat.completion',
			...(this.model ? { model: this.model } : {}),
			choices: [
				{
					index: 0,
					message: { role: 'assistant', content: this.text === '' && toolCalls.length > 0 ? null : this.text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
					finish_reason: this.finishReason,
				},
			],
			// The provider's own object where it is in this shape (details included), else the counts.
			...(this.rawUsage && 'prompt_tokens' in this.rawUsage
				? { usage: this.rawUsage }
				: this.usage
					? { usage: completionUsage(this.usage) }
					: {}),
		};
	}
}

// ---------------------------------------------------------------------------------------------
// What the other formats' modules share when they translate from this shape
// ---------------------------------------------------------------------------------------------

/** One answer of another format in the package's shape. */
export function completionFrom(parts: { id?: unknown; model?: unknown; text: string; toolCalls: OpenAiToolCall[]; finishReason: string; usage?: Usage }): ChatCompletionResponse {
	const { text, toolCalls } = parts;
	return {
		...(typeof parts.id === 'string' ? { id: parts.id } : {}),
		object: 'chat.completion',
		...(typeof parts.model === 'string' ? { model: parts.model } : {}),
		choices: [
			{
				index: 0,
				message: { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
				finish_reason: parts.finishReason,
			},
		],
		...(parts.usage ? { usage: completionUsage(parts.usage) } : {}),
	};
}

/** The stream's metadata (id, model) as a delta. */
export const metaDelta = (id: unknown, model: unknown): ChatDelta => ({ kind: 'meta', ...(typeof id === 'string' ? { id } : {}), ...(typeof model === 'string' ? { model } : {}) });

/**
 * An event of a format whose events are JSON objects with a `type` (the event name where it is missing):
 * the object; or, for an `error` event, the error it carries (its object, or its text when it is no JSON).
 */
export function typedEvent(event: SseEvent): { type: string | undefined; data: Record<string, unknown> } | { error: unknown } | undefined {
	let data: unknown;
	try {
		data = JSON.parse(event.data);
	} catch {
		return event.event === 'error' ? { error: event.data } : undefined;
	}
	if (!data || typeof data !== 'object') return undefined;
	const record = data as Record<string, unknown>;
	const type = typeof record.type === 'string' ? record.type : event.event;
	return type === 'error' ? { error: record } : { type, data: record };
}

/** Options that another format has no field for: refused by name, not dropped without a word. */
export function refuseUnsupported(settings: ChatSettings, label: string, unsupported: Array<[keyof ChatSettings, string, string]>): void {
	for (const [key, field, name] of unsupported) {
		const value = settings[key];
		if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
		throw new ParameterError(field, `${name} is not part of the ${label} format`, {
			hint: `Remove ${name} from the node's options, or use a credential whose API Format takes it.`,
		});
	}
}

/** The text of system messages; they take no images in either the Responses or the Anthropic format. */
export function systemText(messages: OpenAiMessage[], label: string): string | undefined {
	const texts: string[] = [];
	for (const message of messages) {
		if (message.role !== 'system') continue;
		if (typeof message.content === 'string') {
			texts.push(message.content);
			continue;
		}
		for (const part of message.content) {
			if (part.type !== 'text') {
				throw new ParameterError('messages', `A system message holds an image; the ${label} format takes text only in system messages`, {
					hint: 'Put the image in a user message.',
				});
			}
			texts.push(part.text);
		}
	}
	return texts.length > 0 ? texts.join('\n\n') : undefined;
}

/** The Chat Completions module (wire-format.ts): its bodies and answers are the package's own shape. */
export const chatCompletionsWire: WireFormat = {
	format: 'chatCompletions',
	label: 'OpenAI Chat Completions',
	baseUrlHint: 'it should end where /chat/completions and /models begin, e.g. https://host/v1',
	chatPath: () => 'chat/completions',
	// The usage of a streamed answer comes in a last chunk only when asked for.
	chatBody: (request, _api, stream) => chatCompletionBody(request.settings, request.messages, stream ? { includeUsage: true } : undefined),
	headers: () => ({}),
	// An `error` beside the choices (even null, which some servers send) is no error.
	completionOf: (raw) => {
		const answer = raw as ChatCompletionResponse | null;
		return answer && answer.error != null && !Array.isArray(answer.choices) ? { error: { error: answer.error } } : (answer ?? {});
	},
	streamReader: () => (event) => {
		const deltas = chatDeltasOf(event);
		if (deltas === 'done') return { deltas: [], end: true };
		return Array.isArray(deltas) ? { deltas } : { error: deltas.body };
	},
	answerOfStream: (answer) => answer.toCompletion(),
	withParsedContent: (raw, parse) => {
		const answer = raw as ChatCompletionResponse;
		return { ...answer, choices: answer.choices?.map((entry) => (entry.message ? { ...entry, message: { ...entry.message, content: parse(entry.message.content) } } : entry)) };
	},
	modelsPath: 'models',
	embeddingsPath: 'embeddings',
};

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

export function embeddingsBody(model: string, input: string[], dimensions?: number): Record<string, unknown> {
	return { model, input, encoding_format: 'float', ...(dimensions !== undefined ? { dimensions } : {}) };
}

/** The vectors of an embeddings answer in input order, or a description of what is wrong with it. */
export function embeddingsOf(answer: unknown, expected: number): number[][] | string {
	const data = (answer as { data?: unknown } | null)?.data;
	if (!Array.isArray(data)) return 'the answer has no data list';
	if (data.length !== expected) return `the answer has ${data.length} embeddings for ${expected} texts`;
	const vectors: number[][] = new Array(expected);
	for (const [position, entry] of (data as Array<{ index?: unknown; embedding?: unknown } | null>).entries()) {
		const index = typeof entry?.index === 'number' ? entry.index : position;
		const embedding = entry?.embedding;
		if (!Number.isInteger(index) || index < 0 || index >= expected || vectors[index] !== undefined) return 'the answer\'s embedding indexes do not match the texts';
		if (!Array.isArray(embedding) || embedding.length === 0 || !embedding.every((value) => typeof value === 'number' && Number.isFinite(value))) {
			return `embedding ${index} is not a list of numbers (base64 answers are not read: the request asks for floats)`;
		}
		vectors[index] = embedding as number[];
	}
	return vectors;
}
