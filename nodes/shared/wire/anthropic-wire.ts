/**
 * Anthropic's Messages API, to and from the package's own shape (openai-wire.ts), in its two
 * addresses: a gateway's POST {Base URL}/messages with the `anthropic-version` header, and Claude on
 * Vertex AI, POST {Base URL}/{model}:rawPredict (or :streamRawPredict) with the version in the body and
 * the model in the path. System messages become `system`, tool calls `tool_use` blocks and tool results
 * `tool_result` blocks of a user turn; `max_tokens` is always sent, since Anthropic requires it. Pure.
 */
import { ANTHROPIC_VERSION_PATTERN, type ApiSettings } from '../config/provider-config';
import { ParameterError } from '../core/errors';
import {
	completionFrom,
	count,
	countedUsage,
	metaDelta,
	typedEvent,
	refuseUnsupported,
	systemText,
	type ChatCompletionResponse,
	type ChatDelta,
	type OpenAiContentPart,
	type OpenAiMessage,
	type OpenAiToolCall,
	type SseEvent,
	type StreamedAnswer,
	type Usage,
} from './openai-wire';
import type { ChatRequest, StreamStep, WireFormat } from './wire-format';

const MESSAGES_LABEL = 'Anthropic Messages';
const VERTEX_LABEL = 'Claude on Vertex AI';

/** Sent when no Maximum Number of Tokens is set: Anthropic has no default, and this fits every Claude model. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;
/** The version Vertex AI takes in the body, instead of the header. */
export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16';

type Block = Record<string, unknown>;
interface Turn {
	role: 'user' | 'assistant';
	content: Block[];
}
/** A turn as sent: a plain-text turn as a string, as Anthropic's own examples send it. */
type SentTurn = { role: Turn['role']; content: string | Block[] };

/**
 * A base64 data URL → a base64 image source; an https:// URL (image-policy.ts allowed it) → a URL
 * source where the API takes one (Vertex AI does not). Any other data URL has no Anthropic form, and
 * nothing unvetted goes out as a URL.
 */
function imageBlock(part: Extract<OpenAiContentPart, { type: 'image_url' }>, label: string, urlSources: boolean): Block {
	const url = part.image_url.url;
	const match = /^data:(image\/[\w.+-]+);base64,/i.exec(url.slice(0, 200));
	// image/jpg is a common misspelling that image-policy.ts lets through; Anthropic takes image/jpeg only.
	if (match) return { type: 'image', source: { type: 'base64', media_type: match[1].toLowerCase().replace(/^image\/jpg$/, 'image/jpeg'), data: url.slice(match[0].length) } };
	if (/^https:\/\//i.test(url)) {
		if (urlSources) return { type: 'image', source: { type: 'url', url } };
		throw new ParameterError('options.allowRemoteImageUrls', `An image is an https:// URL, which ${label} does not take`, {
			hint: 'Send the image inline (binary data, or a data:image/png;base64,… URL).',
		});
	}
	throw new ParameterError('messages', `An image is a data URL that is not base64 (data:image/…;base64,…), which ${label} does not take`, {
		hint: 'Send the image as binary data, or as a data:image/png;base64,… URL.',
	});
}

/** A user message's blocks; an empty or blank text is left out (Anthropic refuses such text blocks). */
function userBlocks(content: string | OpenAiContentPart[], label: string, urlSources: boolean): Block[] {
	const parts = typeof content === 'string' ? [{ type: 'text' as const, text: content }] : content;
	return parts.filter((part) => part.type !== 'text' || part.text.trim() !== '').map((part) => (part.type === 'text' ? { type: 'text', text: part.text } : imageBlock(part, label, urlSources)));
}

/** Tool arguments as the object Anthropic's `tool_use.input` is; undefined when they are not one. */
function inputObject(args: string): Record<string, unknown> | undefined {
	try {
		const input = JSON.parse(args === '' ? '{}' : args) as unknown;
		return input && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : undefined;
	} catch {
		return undefined;
	}
}

function toolInput(call: OpenAiToolCall): Record<string, unknown> {
	const input = inputObject(call.function.arguments);
	if (!input) throw new ParameterError('messages', `The arguments of the earlier tool call "${call.function.name}" are not a JSON object, which Anthropic's tool_use input must be`);
	return input;
}

/**
 * Messages → Anthropic turns. Consecutive messages of one role become one turn (the tool results of a
 * turn, then what the user says next), so that every `tool_result` sits in the turn right after its
 * `tool_use`, first in it, as Anthropic requires.
 */
function turnsOf(messages: OpenAiMessage[], label: string, urlSources: boolean): SentTurn[] {
	const turns: Turn[] = [];
	const push = (role: Turn['role'], blocks: Block[]) => {
		if (blocks.length === 0) return;
		const last = turns[turns.length - 1];
		if (last?.role === role) last.content.push(...blocks);
		else turns.push({ role, content: blocks });
	};
	for (const message of messages) {
		switch (message.role) {
			case 'system':
				break;
			case 'user':
				push('user', userBlocks(message.content, label, urlSources));
				break;
			case 'assistant': {
				// Anthropic refuses text blocks that are empty or only whitespace.
				const blocks: Block[] = message.content && message.content.trim() !== '' ? [{ type: 'text', text: message.content }] : [];
				for (const call of message.tool_calls ?? []) blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: toolInput(call) });
				push('assistant', blocks);
				break;
			}
			case 'tool':
				push('user', [{ type: 'tool_result', tool_use_id: message.tool_call_id, content: message.content }]);
				break;
		}
	}
	return turns.map((turn) => (turn.content.length === 1 && turn.content[0].type === 'text' ? { role: turn.role, content: turn.content[0].text as string } : turn));
}

function messagesBody(request: ChatRequest, label: string, urlSources: boolean, stream: boolean): Record<string, unknown> {
	const { settings, messages } = request;
	refuseUnsupported(settings, label, [
		['reasoningEffort', 'options.reasoningEffort', 'Reasoning Effort'],
		['frequencyPenalty', 'options.frequencyPenalty', 'Frequency Penalty'],
		['presencePenalty', 'options.presencePenalty', 'Presence Penalty'],
	]);
	const system = systemText(messages, label);
	const body: Record<string, unknown> = {
		messages: turnsOf(messages, label, urlSources),
		...(system !== undefined ? { system } : {}),
		max_tokens: settings.maxTokens ?? settings.maxCompletionTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS,
	};
	if (settings.temperature !== undefined) body.temperature = settings.temperature;
	if (settings.topP !== undefined) body.top_p = settings.topP;
	if (settings.stop !== undefined && settings.stop.length > 0) body.stop_sequences = Array.isArray(settings.stop) ? settings.stop : [settings.stop];
	if (settings.tools && settings.tools.length > 0) {
		body.tools = settings.tools.map((tool) => ({
			name: tool.function.name,
			...(tool.function.description ? { description: tool.function.description } : {}),
			input_schema: tool.function.parameters,
		}));
	}
	// Anthropic has no JSON mode: Output Content as JSON rests on the prompt, and the answer is parsed all the same.
	if (stream) body.stream = true;
	return body;
}

/** Anthropic counts cached input apart from `input_tokens`; the prompt is all three. */
function anthropicUsageOf(raw: unknown): Usage | undefined {
	if (!raw || typeof raw !== 'object') return undefined;
	const usage = raw as { input_tokens?: unknown; output_tokens?: unknown; cache_read_input_tokens?: unknown; cache_creation_input_tokens?: unknown };
	const prompt = count(usage.input_tokens) + count(usage.cache_creation_input_tokens) + count(usage.cache_read_input_tokens);
	return countedUsage(prompt, usage.output_tokens, undefined, usage.cache_read_input_tokens, undefined);
}

const FINISH: Record<string, string> = {
	end_turn: 'stop',
	stop_sequence: 'stop',
	pause_turn: 'stop',
	max_tokens: 'length',
	model_context_window_exceeded: 'length',
	tool_use: 'tool_calls',
	refusal: 'content_filter',
};
const finishOf = (reason: unknown, hasToolCalls: boolean) => (typeof reason === 'string' && FINISH[reason]) || (hasToolCalls ? 'tool_calls' : 'stop');

function completionOf(raw: unknown): ChatCompletionResponse | { error: unknown } {
	const message = (raw && typeof raw === 'object' ? raw : {}) as { id?: unknown; type?: unknown; model?: unknown; content?: unknown; stop_reason?: unknown; usage?: unknown; error?: unknown };
	if (message.type === 'error') return { error: raw };
	if (!Array.isArray(message.content)) return { choices: [] };
	let text = '';
	const toolCalls: OpenAiToolCall[] = [];
	for (const block of message.content as Array<Record<string, unknown> | null>) {
		if (block?.type === 'text' && typeof block.text === 'string') text += block.text;
		else if (block?.type === 'tool_use' && typeof block.name === 'string') {
			const id = typeof block.id === 'string' && block.id ? block.id : `call_${toolCalls.length}`;
			toolCalls.push({ id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
		}
	}
	return completionFrom({ id: message.id, model: message.model, text, toolCalls, finishReason: finishOf(message.stop_reason, toolCalls.length > 0), usage: anthropicUsageOf(message.usage) });
}

/** The counts Anthropic reports; nothing else a server puts into `usage` is kept (or copied per event). */
const USAGE_COUNTS = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

/**
 * The events of a streamed message: `message_start` (id, model, input usage), content blocks by index
 * (`text_delta`; a `tool_use` block's id and name at its start, its input in `input_json_delta`
 * pieces, or whole at its start from some gateways), `message_delta` (stop reason, output usage),
 * `message_stop`, and `error`.
 */
function streamReader(): (event: SseEvent) => StreamStep {
	const toolBlocks = new Set<number>();
	/** A tool_use block's input given whole at its start, sent at its stop unless pieces came. */
	const wholeInput = new Map<number, string>();
	const usage: Record<string, number> = {};
	let usageSent = false;
	const usageDelta = (): ChatDelta => ({ kind: 'usage', usage: anthropicUsageOf(usage)!, raw: { ...usage } });
	const flushWholeInputs = (): ChatDelta[] => {
		const deltas: ChatDelta[] = [...wholeInput].map(([index, args]) => ({ kind: 'tool', index, arguments: args }));
		wholeInput.clear();
		return deltas;
	};
	// Running totals never fall: a null or a 0 in message_delta (some gateways) does not erase message_start's count.
	const take = (counts: unknown) => {
		if (!counts || typeof counts !== 'object') return;
		for (const key of USAGE_COUNTS) {
			const value = (counts as Record<string, unknown>)[key];
			if (typeof value === 'number' && Number.isFinite(value)) usage[key] = Math.max(usage[key] ?? 0, value);
		}
	};
	return (event) => {
		const typed = typedEvent(event);
		if (typed === undefined) return { deltas: [] };
		if ('error' in typed) return typed;
		const { type, data } = typed;
		const index = typeof data.index === 'number' ? data.index : undefined;
		switch (type) {
			case 'message_start': {
				const message = (data.message ?? {}) as Record<string, unknown>;
				take(message.usage);
				return { deltas: [metaDelta(message.id, message.model)] };
			}
			case 'content_block_start': {
				const block = (data.content_block ?? {}) as Record<string, unknown>;
				if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') return { deltas: [{ kind: 'text', text: block.text }] };
				if (block.type !== 'tool_use' || index === undefined || typeof block.name !== 'string') return { deltas: [] };
				toolBlocks.add(index);
				const given = block.input && typeof block.input === 'object' && Object.keys(block.input).length > 0 ? JSON.stringify(block.input) : undefined;
				if (given !== undefined) wholeInput.set(index, given);
				return { deltas: [{ kind: 'tool', index, ...(typeof block.id === 'string' && block.id ? { id: block.id } : {}), name: block.name }] };
			}
			case 'content_block_delta': {
				const delta = (data.delta ?? {}) as Record<string, unknown>;
				if (delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') return { deltas: [{ kind: 'text', text: delta.text }] };
				if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking !== '') return { deltas: [{ kind: 'reasoning', text: delta.thinking }] };
				if (delta.type === 'input_json_delta' && index !== undefined && toolBlocks.has(index) && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
					wholeInput.delete(index);
					return { deltas: [{ kind: 'tool', index, arguments: delta.partial_json }] };
				}
				return { deltas: [] };
			}
			case 'content_block_stop': {
				const given = index === undefined ? undefined : wholeInput.get(index);
				if (given === undefined) return { deltas: [] };
				wholeInput.delete(index!);
				return { deltas: [{ kind: 'tool', index: index!, arguments: given }] };
			}
			case 'message_delta': {
				// Whole inputs whose block never said stop are sent before the message ends.
				const deltas: ChatDelta[] = flushWholeInputs();
				const reason = (data.delta as { stop_reason?: unknown } | undefined)?.stop_reason;
				if (typeof reason === 'string') deltas.push({ kind: 'finish', reason: finishOf(reason, toolBlocks.size > 0) });
				// message_delta's counts are running totals: they replace message_start's.
				if (data.usage && typeof data.usage === 'object') {
					take(data.usage);
					deltas.push(usageDelta());
					usageSent = true;
				}
				return { deltas };
			}
			case 'message_stop':
				// A gateway that gave the counts in message_start only: they still reach n8n's logs.
				return { deltas: [...flushWholeInputs(), ...(usageSent || Object.keys(usage).length === 0 ? [] : [usageDelta()])], end: true };
			default:
				return { deltas: [] };
		}
	};
}

/** A streamed answer as the message Anthropic would have answered. */
function answerOfStream(answer: StreamedAnswer): Record<string, unknown> {
	const content: Block[] = [];
	if (answer.text !== '') content.push({ type: 'text', text: answer.text });
	// Arguments that are no object (a model's slip) stay as the text they were.
	for (const call of answer.toolCalls) content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: inputObject(call.function.arguments) ?? call.function.arguments });
	const stopReason = Object.entries(FINISH).find(([, finish]) => finish === answer.finishReason)?.[0] ?? null;
	return {
		...(answer.id ? { id: answer.id } : {}),
		type: 'message',
		role: 'assistant',
		...(answer.model ? { model: answer.model } : {}),
		content,
		stop_reason: stopReason,
		...(answer.rawUsage ? { usage: answer.rawUsage } : {}),
	};
}

/** Vertex AI model ids: letters, digits, `.`, `_`, `-` and `@` (claude-sonnet-4@20250514); nothing that moves the path. */
const VERTEX_MODEL = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$/;

function vertexModelPath(model: string, stream: boolean): string {
	if (!VERTEX_MODEL.test(model)) {
		throw new ParameterError('model', 'The model name is not a Vertex AI model id (letters, digits, ".", "_", "-" and "@" only)', {
			hint: 'Type the model as Vertex AI names it, e.g. claude-sonnet-4@20250514.',
		});
	}
	return `${model}:${stream ? 'streamRawPredict' : 'rawPredict'}`;
}

/** What both addresses read back alike. */
const messagesAnswers = { completionOf, streamReader, streamEnd: 'message_stop', answerOfStream, withParsedContent: (raw: unknown) => raw };

export const anthropicMessagesWire: WireFormat = {
	format: 'anthropicMessages',
	label: MESSAGES_LABEL,
	baseUrlHint: 'it should end where /messages and /models begin, e.g. https://host/v1',
	chatPath: () => 'messages',
	chatBody: (request, _api, stream) => ({ model: request.settings.model, ...messagesBody(request, MESSAGES_LABEL, true, stream) }),
	headers: (api: ApiSettings) => {
		// A node option may set the version per call: the credential's rule holds for it too.
		if (!ANTHROPIC_VERSION_PATTERN.test(api.anthropicVersion)) {
			throw new ParameterError('options.anthropicVersion', 'Anthropic Version must be a version such as 2023-06-01');
		}
		return { 'anthropic-version': api.anthropicVersion };
	},
	...messagesAnswers,
	modelsPath: 'models',
};

export const anthropicVertexWire: WireFormat = {
	format: 'anthropicVertex',
	label: VERTEX_LABEL,
	baseUrlHint: 'it should end in …/projects/{project}/locations/{region}/publishers/anthropic/models',
	chatPath: vertexModelPath,
	// Vertex takes the model from the path and refuses it in the body; it takes no image URLs.
	chatBody: (request, _api, stream) => ({ anthropic_version: VERTEX_ANTHROPIC_VERSION, ...messagesBody(request, VERTEX_LABEL, false, stream) }),
	headers: () => ({}),
	...messagesAnswers,
};
