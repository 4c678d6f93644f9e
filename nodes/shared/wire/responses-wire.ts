/**
 * The OpenAI Responses API (POST {Base URL}/responses), to and from the package's own shape
 * (openai-wire.ts): system messages become `instructions`, messages and tool results become `input`
 * items, and the answer's `output` items become one message with its tool calls. Pure: no I/O.
 */
import type { ApiSettings } from '../config/provider-config';
import {
	completionFrom,
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

const LABEL = 'OpenAI Responses';

function inputContent(content: string | OpenAiContentPart[]): string | Array<Record<string, unknown>> {
	if (typeof content === 'string') return content;
	return content.map((part) =>
		part.type === 'text'
			? { type: 'input_text', text: part.text }
			: { type: 'input_image', image_url: part.image_url.url, detail: part.image_url.detail ?? 'auto' },
	);
}

function inputItems(messages: OpenAiMessage[]): Array<Record<string, unknown>> {
	const items: Array<Record<string, unknown>> = [];
	for (const message of messages) {
		switch (message.role) {
			case 'system':
				break;
			case 'user':
				items.push({ role: 'user', content: inputContent(message.content) });
				break;
			case 'assistant':
				if (message.content) items.push({ role: 'assistant', content: message.content });
				for (const call of message.tool_calls ?? []) {
					items.push({ type: 'function_call', call_id: call.id, name: call.function.name, arguments: call.function.arguments });
				}
				break;
			case 'tool':
				items.push({ type: 'function_call_output', call_id: message.tool_call_id, output: message.content });
				break;
		}
	}
	return items;
}

function responsesBody(request: ChatRequest, api: ApiSettings, stream: boolean): Record<string, unknown> {
	const { settings, messages } = request;
	refuseUnsupported(settings, LABEL, [
		['stop', 'options.stop', 'Stop Sequences'],
		['frequencyPenalty', 'options.frequencyPenalty', 'Frequency Penalty'],
		['presencePenalty', 'options.presencePenalty', 'Presence Penalty'],
	]);
	const instructions = systemText(messages, LABEL);
	const maxOutputTokens = settings.maxTokens ?? settings.maxCompletionTokens;
	const body: Record<string, unknown> = {
		model: settings.model,
		input: inputItems(messages),
		...(instructions !== undefined ? { instructions } : {}),
		// OpenAI keeps every response for 30 days unless told not to: a company gateway must not by accident.
		store: api.storeResponses === true,
	};
	if (settings.temperature !== undefined) body.temperature = settings.temperature;
	if (settings.topP !== undefined) body.top_p = settings.topP;
	if (maxOutputTokens !== undefined) body.max_output_tokens = maxOutputTokens;
	if (settings.reasoningEffort !== undefined) body.reasoning = { effort: settings.reasoningEffort };
	if (settings.responseFormat === 'json_object') body.text = { format: { type: 'json_object' } };
	if (settings.tools && settings.tools.length > 0) {
		body.tools = settings.tools.map((tool) => ({
			type: 'function',
			name: tool.function.name,
			...(tool.function.description ? { description: tool.function.description } : {}),
			parameters: tool.function.parameters,
			// The Responses API makes a function strict unless told: n8n's tool schemas are not all strict-ready.
			strict: tool.function.strict ?? false,
		}));
	}
	if (stream) body.stream = true;
	return body;
}

function responsesUsageOf(raw: unknown): Usage | undefined {
	if (!raw || typeof raw !== 'object') return undefined;
	const usage = raw as { input_tokens?: unknown; output_tokens?: unknown; total_tokens?: unknown; input_tokens_details?: { cached_tokens?: unknown }; output_tokens_details?: { reasoning_tokens?: unknown } };
	return countedUsage(usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.input_tokens_details?.cached_tokens, usage.output_tokens_details?.reasoning_tokens);
}

interface ResponseObject {
	id?: unknown;
	model?: unknown;
	status?: unknown;
	error?: unknown;
	incomplete_details?: { reason?: unknown } | null;
	output?: unknown;
	usage?: unknown;
}

/** `status` and `incomplete_details` → a Chat Completions finish reason. */
function finishOf(response: ResponseObject, hasToolCalls: boolean): string {
	if (response.status === 'incomplete') return response.incomplete_details?.reason === 'content_filter' ? 'content_filter' : 'length';
	return hasToolCalls ? 'tool_calls' : 'stop';
}

function completionOf(raw: unknown): ChatCompletionResponse | { error: unknown } {
	const response = (raw && typeof raw === 'object' ? raw : {}) as ResponseObject;
	if (response.status === 'failed' || (response.error && typeof response.error === 'object')) return { error: { error: response.error } };
	if (!Array.isArray(response.output)) return { choices: [] };
	let text = '';
	const toolCalls: OpenAiToolCall[] = [];
	for (const item of response.output as Array<Record<string, unknown> | null>) {
		if (item?.type === 'message' && Array.isArray(item.content)) {
			for (const part of item.content as Array<{ type?: unknown; text?: unknown; refusal?: unknown } | null>) {
				if (part?.type === 'output_text' && typeof part.text === 'string') text += part.text;
				else if (part?.type === 'refusal' && typeof part.refusal === 'string') text += part.refusal;
			}
		} else if (item?.type === 'function_call' && typeof item.name === 'string') {
			const id = typeof item.call_id === 'string' && item.call_id ? item.call_id : `call_${toolCalls.length}`;
			toolCalls.push({ id, type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : JSON.stringify(item.arguments ?? {}) } });
		}
	}
	return completionFrom({ id: response.id, model: response.model, text, toolCalls, finishReason: finishOf(response, toolCalls.length > 0), usage: responsesUsageOf(response.usage) });
}

/**
 * The events of a streamed response: text (and refusal) deltas, function-call items and their argument
 * deltas (told apart by `output_index`), and the end: `response.completed` or `response.incomplete`
 * (finish reason and usage), `response.failed` or `error`. A function call that a bridge sends only
 * whole (in `.done` events or in the completed response's output) is taken from there; other events
 * (content parts, `.done` repeats) add nothing.
 */
function streamReader(): (event: SseEvent) => StreamStep {
	/** Function calls by the index the stream gave them: whether their arguments came, and whether whole. */
	const calls = new Map<number, { argumentsSeen: boolean; whole: boolean }>();
	/** A call's index by its item id and by its call_id: a completed response's positions need not be the stream's. */
	const indexOfItem = new Map<string, number>();
	const indexOfCallId = new Map<string, number>();
	let nextFreeIndex = 0;
	/**
	 * A function-call item: started when not seen before, or the arguments it carries whole that nothing
	 * brought yet. `index`: the stream's output_index; undefined for the completed response's items,
	 * which are found by their ids (or get a fresh index when the stream never showed them).
	 */
	const wholeCall = (streamIndex: number | undefined, item: Record<string, unknown>): ChatDelta[] => {
		if (item.type !== 'function_call' || typeof item.name !== 'string') return [];
		const args = typeof item.arguments === 'string' && item.arguments !== '' ? item.arguments : undefined;
		const callId = typeof item.call_id === 'string' && item.call_id ? item.call_id : undefined;
		const itemId = typeof item.id === 'string' && item.id ? item.id : undefined;
		const index = (callId !== undefined ? indexOfCallId.get(callId) : undefined) ?? (itemId !== undefined ? indexOfItem.get(itemId) : undefined) ?? streamIndex ?? nextFreeIndex;
		const known = calls.get(index);
		if (!known) {
			calls.set(index, { argumentsSeen: args !== undefined, whole: args !== undefined });
			nextFreeIndex = Math.max(nextFreeIndex, index + 1);
			// One entry per call: a server repeating an index with new ids does not grow the maps.
			if (itemId !== undefined) indexOfItem.set(itemId, index);
			if (callId !== undefined) indexOfCallId.set(callId, index);
			return [{ kind: 'tool', index, ...(callId ? { id: callId } : {}), name: item.name, ...(args ? { arguments: args } : {}) }];
		}
		if (known.argumentsSeen || args === undefined) return [];
		known.argumentsSeen = true;
		known.whole = true;
		return [{ kind: 'tool', index, arguments: args }];
	};
	return (event) => {
		const typed = typedEvent(event);
		if (typed === undefined) return { deltas: [] };
		if ('error' in typed) return typed;
		const { type, data } = typed;
		const outputIndex = (): number | undefined =>
			typeof data.output_index === 'number' ? data.output_index : typeof data.item_id === 'string' ? indexOfItem.get(data.item_id) : undefined;
		switch (type) {
			case 'response.failed':
				return { error: { error: (data.response as ResponseObject | undefined)?.error ?? data } };
			case 'response.created':
			case 'response.in_progress': {
				const response = (data.response ?? {}) as ResponseObject;
				return { deltas: [metaDelta(response.id, response.model)] };
			}
			case 'response.output_text.delta':
			case 'response.refusal.delta':
				return { deltas: typeof data.delta === 'string' && data.delta !== '' ? [{ kind: 'text', text: data.delta }] : [] };
			case 'response.reasoning_summary_text.delta':
			case 'response.reasoning_text.delta':
				return { deltas: typeof data.delta === 'string' && data.delta !== '' ? [{ kind: 'reasoning', text: data.delta }] : [] };
			case 'response.output_item.added':
			case 'response.output_item.done': {
				const index = outputIndex();
				return { deltas: index === undefined ? [] : wholeCall(index, (data.item ?? {}) as Record<string, unknown>) };
			}
			case 'response.function_call_arguments.delta': {
				const index = outputIndex();
				const call = index === undefined ? undefined : calls.get(index);
				// Arguments that came whole are not added to again.
				if (!call || call.whole || typeof data.delta !== 'string' || data.delta === '') return { deltas: [] };
				call.argumentsSeen = true;
				return { deltas: [{ kind: 'tool', index: index!, arguments: data.delta }] };
			}
			case 'response.function_call_arguments.done': {
				// A gateway that sends the arguments whole, without deltas.
				const index = outputIndex();
				const call = index === undefined ? undefined : calls.get(index);
				if (!call || call.argumentsSeen || typeof data.arguments !== 'string' || data.arguments === '') return { deltas: [] };
				call.argumentsSeen = true;
				call.whole = true;
				return { deltas: [{ kind: 'tool', index: index!, arguments: data.arguments }] };
			}
			case 'response.completed':
			case 'response.incomplete': {
				const response = (data.response ?? {}) as ResponseObject;
				const usage = responsesUsageOf(response.usage);
				const deltas: ChatDelta[] = [metaDelta(response.id, response.model)];
				if (Array.isArray(response.output)) {
					for (const item of response.output as unknown[]) if (item && typeof item === 'object') deltas.push(...wholeCall(undefined, item as Record<string, unknown>));
				}
				deltas.push({ kind: 'finish', reason: finishOf(response, calls.size > 0) });
				if (usage) deltas.push({ kind: 'usage', usage, raw: response.usage as Record<string, unknown> });
				// The answer is complete: whatever a server sends after it is not read.
				return { deltas, end: true };
			}
			default:
				return { deltas: [] };
		}
	};
}

/** A streamed answer as the response object the Responses API would have answered. */
function answerOfStream(answer: StreamedAnswer): Record<string, unknown> {
	const output: Array<Record<string, unknown>> = [];
	if (answer.text !== '') output.push({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: answer.text, annotations: [] }] });
	for (const call of answer.toolCalls) output.push({ type: 'function_call', call_id: call.id, name: call.function.name, arguments: call.function.arguments, status: 'completed' });
	return {
		...(answer.id ? { id: answer.id } : {}),
		object: 'response',
		status: answer.finishReason === 'length' || answer.finishReason === 'content_filter' ? 'incomplete' : 'completed',
		...(answer.model ? { model: answer.model } : {}),
		output,
		...(answer.rawUsage ? { usage: answer.rawUsage } : {}),
	};
}

export const responsesWire: WireFormat = {
	format: 'responses',
	label: LABEL,
	baseUrlHint: 'it should end where /responses and /models begin, e.g. https://host/v1',
	chatPath: () => 'responses',
	chatBody: responsesBody,
	headers: () => ({}),
	completionOf,
	streamReader,
	streamEnd: 'response.completed',
	answerOfStream,
	withParsedContent: (raw) => raw,
	modelsPath: 'models',
	embeddingsPath: 'embeddings',
};
