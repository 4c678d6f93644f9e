/**
 * The sandbox's chat formats besides Chat Completions, as pure functions: request checks, the
 * translation into the one internal ChatCompletionRequest that answerChat() answers, and the
 * rendering of its ChatAnswer back into each format (JSON answer and stream events).
 *
 *   OpenAI Responses API   POST /v1/responses
 *   Anthropic Messages     POST /v1/messages                       (header anthropic-version)
 *   Claude on Vertex AI    POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict
 *                                                              …and :streamRawPredict
 *
 * The checks are strict on purpose: a request in another format's shape (Chat Completions'
 * `messages` on /responses, an `image_url` block on /messages, …) gets the provider's own 400
 * answer, so a client that speaks the wrong shape fails its tests instead of passing by luck.
 * The messages follow the providers' wording where it is known.
 *
 * Only types come from chat-server.ts: tests import vertexBaseUrl() from here, and chat-server.ts
 * loads oidc-provider (see sandbox.ts on why that must not happen at load time). So usage and the
 * answer are handed in by the caller.
 */
import { createHash } from 'node:crypto';

import type { ChatAnswer, ChatCompletionRequest, ChatMessage, ToolCall } from './chat-server';

/** Fixed `created_at` of every answer, so answers are byte-for-byte reproducible. */
export const CREATED_AT = 1735689600;

/** The one `anthropic_version` body value Claude on Vertex AI accepts. */
export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16';

/** `anthropic-version` header values Anthropic accepts. */
export const ANTHROPIC_VERSIONS = ['2023-06-01', '2023-01-01'] as const;

/** Base URL of Claude models on the sandbox's Vertex AI: append `/<model>:rawPredict` or `:streamRawPredict`. */
export function vertexBaseUrl(apiBase: string, project = 'sandbox-project', location = 'us-east5'): string {
	return `${apiBase}/projects/${project}/locations/${location}/publishers/anthropic/models`;
}

export interface VertexPath {
	project: string;
	location: string;
	/** URL-decoded, e.g. `claude-sonnet-4@20250514`. */
	model: string;
	method: 'rawPredict' | 'streamRawPredict';
}

/** The parts of a Vertex Claude path (without query), or undefined when it is not one. */
export function parseVertexPath(path: string, apiPrefix = '/v1'): VertexPath | undefined {
	if (!path.startsWith(`${apiPrefix}/projects/`)) return undefined;
	const m = /^\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/anthropic\/models\/([^/:]+):(rawPredict|streamRawPredict)$/.exec(path.slice(apiPrefix.length));
	if (!m) return undefined;
	try {
		return { project: decodeURIComponent(m[1]), location: decodeURIComponent(m[2]), model: decodeURIComponent(m[3]), method: m[4] as VertexPath['method'] };
	} catch {
		return undefined;
	}
}

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

export interface Usage {
	prompt_tokens: number;
	completion_tokens: number;
	total_tokens: number;
}

/** One server-sent event of the Responses and Messages streams: `event: <event>\ndata: <json>\n\n`. */
export interface StreamEvent {
	event: string;
	data: Record<string, unknown>;
}

export function sseFrame(event: StreamEvent): string {
	return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** A request translated for answerChat(), or the 400 body that refuses it. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Thrown by the checks below with the answer body; the parse functions turn it into `{ok: false}`. */
class Refusal extends Error {
	constructor(readonly body: unknown) {
		super('refused');
	}
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How OpenAI names a JSON value's type in "expected …, but got … instead". */
function typeName(value: unknown): string {
	if (value === null) return 'null';
	if (Array.isArray(value)) return 'an array';
	if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a decimal';
	if (typeof value === 'object') return 'an object';
	if (typeof value === 'boolean') return 'a boolean';
	return 'a string';
}

/** Pieces of a streamed text: split after whitespace (as buildStreamChunks does) so they concatenate to the text. */
function textPieces(text: string): string[] {
	return text.match(/\S+\s*|\s+/g) ?? [];
}

/** A tool call's arguments in two pieces, as the providers stream them in several. */
function halves(text: string): [string, string] {
	const half = Math.ceil(text.length / 2);
	return [text.slice(0, half), text.slice(half)];
}

function wordCount(text: string): number {
	return text.split(/\s+/).filter(Boolean).length;
}

/** A stable hex digest of what the request asks, so the same request gets the same ids. */
function requestDigest(req: ChatCompletionRequest): string {
	return createHash('sha256').update(JSON.stringify([req.model, req.messages, req.response_format ?? null])).digest('hex');
}

/** The hex part of a sandbox tool call id (`call_sandbox_<hex>`), for the other formats' ids. */
function callHex(call: ToolCall): string {
	return call.id.replace(/^call_sandbox_/, '').replace(/^call_/, '');
}

/**
 * The answer cut to `maxTokens` words, as a provider stops at its output limit: the text keeps its
 * first words and finish_reason becomes 'length' (tool calls are not cut: they count a few words).
 */
export function limitAnswer(answer: ChatAnswer, maxTokens: number | undefined): ChatAnswer {
	if (maxTokens === undefined || answer.content === null || wordCount(answer.content) <= maxTokens) return answer;
	const kept = textPieces(answer.content).filter((piece) => /\S/.test(piece)).slice(0, maxTokens);
	return { content: kept.join('').trimEnd(), finish_reason: 'length' };
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses API
// ---------------------------------------------------------------------------------------------

export function openAiErrorBody(message: string, param: string | null = null, code: string | null = null, type = 'invalid_request_error') {
	return { error: { message, type, param, code } };
}

function refuseOpenAi(message: string, param: string | null, code: string | null): never {
	throw new Refusal(openAiErrorBody(message, param, code));
}

function expectOpenAiType(value: unknown, param: string, expected: 'a string' | 'a boolean' | 'an object' | 'an array' | 'a decimal' | 'an integer'): void {
	const ok =
		expected === 'a string' ? typeof value === 'string'
		: expected === 'a boolean' ? typeof value === 'boolean'
		: expected === 'an object' ? isObject(value)
		: expected === 'an array' ? Array.isArray(value)
		: expected === 'an integer' ? Number.isInteger(value)
		: typeof value === 'number' && Number.isFinite(value);
	if (!ok) refuseOpenAi(`Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`, param, 'invalid_type');
}

function oneOf(values: readonly string[]): string {
	const quoted = values.map((value) => `'${value}'`);
	return quoted.length <= 2 ? quoted.join(' and ') : `${quoted.slice(0, -1).join(', ')}, and ${quoted.at(-1)}`;
}

function expectOpenAiValue(value: unknown, param: string, allowed: readonly string[]): void {
	if (typeof value !== 'string' || !allowed.includes(value)) {
		refuseOpenAi(`Invalid value: '${String(value)}'. Supported values are: ${oneOf(allowed)}.`, param, 'invalid_value');
	}
}

function onlyOpenAiKeys(object: Json, allowed: readonly string[], prefix: string): void {
	const extra = Object.keys(object).find((key) => !allowed.includes(key));
	if (extra !== undefined) refuseOpenAi(`Unknown parameter: '${prefix}${extra}'.`, `${prefix}${extra}`, 'unknown_parameter');
}

function requireOpenAi(object: Json, key: string, prefix: string): void {
	if (object[key] === undefined) refuseOpenAi(`Missing required parameter: '${prefix}${key}'.`, `${prefix}${key}`, 'missing_required_parameter');
}

const RESPONSES_PARAMETERS = [
	'model', 'input', 'instructions', 'tools', 'tool_choice', 'max_output_tokens', 'temperature', 'top_p', 'reasoning', 'store', 'stream',
	'text', 'metadata', 'parallel_tool_calls', 'user', 'previous_response_id', 'truncation', 'include',
] as const;

/** Chat Completions parameters that the Responses API renamed, with their new place (as OpenAI's message says). */
const MOVED_PARAMETERS: Record<string, string> = {
	messages: 'input',
	max_tokens: 'max_output_tokens',
	max_completion_tokens: 'max_output_tokens',
	response_format: 'text.format',
	reasoning_effort: 'reasoning.effort',
};

/** Every content part type the Responses API knows (its "Supported values" list for an unknown one). */
const RESPONSES_PART_TYPES = ['input_text', 'input_image', 'output_text', 'refusal', 'input_file', 'computer_screenshot', 'summary_text'] as const;
const INPUT_PART_TYPES = ['input_text', 'input_image', 'input_file'] as const;
const OUTPUT_PART_TYPES = ['output_text', 'refusal'] as const;

export interface ResponsesCall {
	/** The request as answerChat() takes it. */
	request: ChatCompletionRequest;
	/** The Responses request as sent (echoed back in the answer: instructions, store, temperature, …). */
	body: Json;
	stream: boolean;
	maxOutputTokens?: number;
}

type ContentPart = { type: string; text?: string; image_url?: { url: string } };

function responsesContent(content: unknown, role: string, param: string): string | ContentPart[] {
	if (typeof content === 'string') return content;
	if (!Array.isArray(content)) {
		refuseOpenAi(`Invalid type for '${param}': expected one of a string or array of input item content parts, but got ${typeName(content)} instead.`, param, 'invalid_type');
	}
	const allowedTypes: readonly string[] = role === 'assistant' ? OUTPUT_PART_TYPES : INPUT_PART_TYPES;
	return content.map((part: unknown, j): ContentPart => {
		const at = `${param}[${j}]`;
		expectOpenAiType(part, at, 'an object');
		const p = part as Json;
		requireOpenAi(p, 'type', `${at}.`);
		// Chat Completions' `text` / `image_url` parts land here: OpenAI lists every part type it knows.
		if (!(RESPONSES_PART_TYPES as readonly string[]).includes(p.type as string)) expectOpenAiValue(p.type, `${at}.type`, RESPONSES_PART_TYPES);
		expectOpenAiValue(p.type, `${at}.type`, allowedTypes);
		if (p.type === 'input_file') refuseOpenAi(`The sandbox does not read files ('${at}.type' = 'input_file').`, `${at}.type`, 'invalid_value');
		if (p.type === 'input_text' || p.type === 'output_text') {
			onlyOpenAiKeys(p, p.type === 'input_text' ? ['type', 'text'] : ['type', 'text', 'annotations', 'logprobs'], `${at}.`);
			requireOpenAi(p, 'text', `${at}.`);
			expectOpenAiType(p.text, `${at}.text`, 'a string');
			return { type: 'text', text: p.text as string };
		}
		if (p.type === 'refusal') {
			onlyOpenAiKeys(p, ['type', 'refusal'], `${at}.`);
			requireOpenAi(p, 'refusal', `${at}.`);
			expectOpenAiType(p.refusal, `${at}.refusal`, 'a string');
			return { type: 'text', text: p.refusal as string };
		}
		onlyOpenAiKeys(p, ['type', 'image_url', 'detail'], `${at}.`);
		requireOpenAi(p, 'image_url', `${at}.`);
		// Chat Completions sends `image_url: {url}`; the Responses API wants the URL itself.
		expectOpenAiType(p.image_url, `${at}.image_url`, 'a string');
		const url = p.image_url as string;
		if (!/^data:image\/[\w.+-]+;base64,/.test(url) && !/^https:\/\/[^\s/]+/.test(url)) {
			refuseOpenAi(
				`Invalid '${at}.image_url'. Expected a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), or an https URL, but got a value with an invalid format.`,
				`${at}.image_url`,
				'invalid_value',
			);
		}
		if (p.detail !== undefined) expectOpenAiValue(p.detail, `${at}.detail`, ['low', 'high', 'auto']);
		return { type: 'image_url', image_url: { url } };
	});
}

/** The input items as chat messages; function calls join the assistant message before them. */
function responsesInput(input: unknown): ChatMessage[] {
	if (typeof input === 'string') return [{ role: 'user', content: input }];
	if (!Array.isArray(input)) {
		refuseOpenAi(`Invalid type for 'input': expected one of a string or array of input items, but got ${typeName(input)} instead.`, 'input', 'invalid_type');
	}
	if (input.length === 0) refuseOpenAi("Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'input', 'empty_array');
	const messages: ChatMessage[] = [];
	const callIds = new Set<string>();
	for (const [i, raw] of input.entries()) {
		const at = `input[${i}]`;
		expectOpenAiType(raw, at, 'an object');
		const item = raw as Json;
		const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
		if (type === undefined) requireOpenAi(item, 'type', `${at}.`);
		expectOpenAiValue(type, `${at}.type`, ['message', 'function_call', 'function_call_output']);
		if (type === 'message') {
			requireOpenAi(item, 'role', `${at}.`);
			// Chat Completions' `tool` role lands here (before its tool_call_id would).
			expectOpenAiValue(item.role, `${at}.role`, ['assistant', 'system', 'developer', 'user']);
			onlyOpenAiKeys(item, ['type', 'role', 'content', 'id', 'status'], `${at}.`);
			requireOpenAi(item, 'content', `${at}.`);
			const role = item.role === 'developer' ? 'system' : (item.role as string);
			messages.push({ role, content: responsesContent(item.content, role, `${at}.content`) });
		} else if (type === 'function_call') {
			onlyOpenAiKeys(item, ['type', 'call_id', 'name', 'arguments', 'id', 'status'], `${at}.`);
			for (const key of ['call_id', 'name', 'arguments']) {
				requireOpenAi(item, key, `${at}.`);
				expectOpenAiType(item[key], `${at}.${key}`, 'a string');
			}
			callIds.add(item.call_id as string);
			const call: ToolCall = { id: item.call_id as string, type: 'function', function: { name: item.name as string, arguments: item.arguments as string } };
			const previous = messages.at(-1);
			if (previous?.role === 'assistant') previous.tool_calls = [...(previous.tool_calls ?? []), call];
			else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
		} else {
			onlyOpenAiKeys(item, ['type', 'call_id', 'output', 'id', 'status'], `${at}.`);
			requireOpenAi(item, 'call_id', `${at}.`);
			expectOpenAiType(item.call_id, `${at}.call_id`, 'a string');
			requireOpenAi(item, 'output', `${at}.`);
			expectOpenAiType(item.output, `${at}.output`, 'a string');
			if (!callIds.has(item.call_id as string)) {
				refuseOpenAi(`No tool call found for function call output with call_id ${item.call_id as string}.`, 'input', null);
			}
			messages.push({ role: 'tool', tool_call_id: item.call_id as string, content: item.output as string });
		}
	}
	return messages;
}

/** Function tools in the Responses shape, as the `{type:'function', function:{…}}` tools answerChat() reads. */
function responsesTools(tools: unknown): unknown[] {
	expectOpenAiType(tools, 'tools', 'an array');
	return (tools as unknown[]).map((raw, i) => {
		const at = `tools[${i}]`;
		expectOpenAiType(raw, at, 'an object');
		const tool = raw as Json;
		requireOpenAi(tool, 'type', `${at}.`);
		expectOpenAiValue(tool.type, `${at}.type`, ['function']);
		// Chat Completions' `{type:'function', function:{name, …}}` fails here: the name sits one level up.
		requireOpenAi(tool, 'name', `${at}.`);
		onlyOpenAiKeys(tool, ['type', 'name', 'description', 'parameters', 'strict'], `${at}.`);
		expectOpenAiType(tool.name, `${at}.name`, 'a string');
		if (tool.description !== undefined) expectOpenAiType(tool.description, `${at}.description`, 'a string');
		if (tool.parameters !== undefined && tool.parameters !== null) expectOpenAiType(tool.parameters, `${at}.parameters`, 'an object');
		if (tool.strict !== undefined) expectOpenAiType(tool.strict, `${at}.strict`, 'a boolean');
		return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.parameters ?? undefined } };
	});
}

function responsesToolChoice(choice: unknown): void {
	if (typeof choice === 'string') return expectOpenAiValue(choice, 'tool_choice', ['none', 'auto', 'required']);
	expectOpenAiType(choice, 'tool_choice', 'an object');
	const c = choice as Json;
	requireOpenAi(c, 'type', 'tool_choice.');
	expectOpenAiValue(c.type, 'tool_choice.type', ['function']);
	// Chat Completions' `{type:'function', function:{name}}` fails here too.
	requireOpenAi(c, 'name', 'tool_choice.');
	onlyOpenAiKeys(c, ['type', 'name'], 'tool_choice.');
	expectOpenAiType(c.name, 'tool_choice.name', 'a string');
}

/** `text.format` as the internal response_format (json_object / json_schema make answerChat answer JSON). */
function responsesTextFormat(text: unknown): { type: string } | undefined {
	expectOpenAiType(text, 'text', 'an object');
	const t = text as Json;
	onlyOpenAiKeys(t, ['format', 'verbosity'], 'text.');
	if (t.verbosity !== undefined) expectOpenAiValue(t.verbosity, 'text.verbosity', ['low', 'medium', 'high']);
	if (t.format === undefined) return undefined;
	expectOpenAiType(t.format, 'text.format', 'an object');
	const format = t.format as Json;
	requireOpenAi(format, 'type', 'text.format.');
	expectOpenAiValue(format.type, 'text.format.type', ['text', 'json_object', 'json_schema']);
	if (format.type === 'json_schema') {
		// Chat Completions' `{type:'json_schema', json_schema:{name, schema}}` fails here.
		requireOpenAi(format, 'name', 'text.format.');
		requireOpenAi(format, 'schema', 'text.format.');
		onlyOpenAiKeys(format, ['type', 'name', 'schema', 'strict', 'description'], 'text.format.');
		expectOpenAiType(format.name, 'text.format.name', 'a string');
		expectOpenAiType(format.schema, 'text.format.schema', 'an object');
	} else {
		onlyOpenAiKeys(format, ['type'], 'text.format.');
	}
	return { type: format.type as string };
}

function numberInRange(value: unknown, param: string, min: number, max: number): void {
	expectOpenAiType(value, param, 'a decimal');
	const n = value as number;
	if (n < min) refuseOpenAi(`Invalid '${param}': decimal below minimum value. Expected a value >= ${min}, but got ${n} instead.`, param, 'decimal_below_min_value');
	if (n > max) refuseOpenAi(`Invalid '${param}': decimal above maximum value. Expected a value <= ${max}, but got ${n} instead.`, param, 'decimal_above_max_value');
}

/** Checks a POST /v1/responses body and translates it; a refusal carries OpenAI's 400 body. */
export function parseResponsesRequest(body: unknown): Parsed<ResponsesCall> {
	try {
		if (!isObject(body)) refuseOpenAi('We could not parse the JSON body of your request.', null, null);
		for (const key of Object.keys(body)) {
			if ((RESPONSES_PARAMETERS as readonly string[]).includes(key)) continue;
			const moved = MOVED_PARAMETERS[key];
			refuseOpenAi(
				moved
					? `Unsupported parameter: '${key}'. In the Responses API, this parameter has moved to '${moved}'. Try again with the new parameter.`
					: `Unsupported parameter: '${key}'.`,
				key,
				'unsupported_parameter',
			);
		}
		requireOpenAi(body, 'model', '');
		expectOpenAiType(body.model, 'model', 'a string');
		if (body.model === '') refuseOpenAi("Invalid 'model': empty string. Expected a string with minimum length 1, but got an empty string instead.", 'model', 'empty_string');
		requireOpenAi(body, 'input', '');
		const messages = responsesInput(body.input);
		if (body.instructions !== undefined && body.instructions !== null) {
			expectOpenAiType(body.instructions, 'instructions', 'a string');
			messages.unshift({ role: 'system', content: body.instructions as string });
		}
		let maxOutputTokens: number | undefined;
		if (body.max_output_tokens !== undefined && body.max_output_tokens !== null) {
			expectOpenAiType(body.max_output_tokens, 'max_output_tokens', 'an integer');
			maxOutputTokens = body.max_output_tokens as number;
			if (maxOutputTokens < 16) {
				refuseOpenAi(`Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${maxOutputTokens} instead.`, 'max_output_tokens', 'integer_below_min_value');
			}
		}
		if (body.temperature !== undefined && body.temperature !== null) numberInRange(body.temperature, 'temperature', 0, 2);
		if (body.top_p !== undefined && body.top_p !== null) numberInRange(body.top_p, 'top_p', 0, 1);
		if (body.reasoning !== undefined && body.reasoning !== null) {
			expectOpenAiType(body.reasoning, 'reasoning', 'an object');
			const reasoning = body.reasoning as Json;
			onlyOpenAiKeys(reasoning, ['effort', 'summary'], 'reasoning.');
			if (reasoning.effort !== undefined && reasoning.effort !== null) expectOpenAiValue(reasoning.effort, 'reasoning.effort', ['minimal', 'low', 'medium', 'high']);
			if (reasoning.summary !== undefined && reasoning.summary !== null) expectOpenAiValue(reasoning.summary, 'reasoning.summary', ['auto', 'concise', 'detailed']);
		}
		for (const key of ['store', 'stream', 'parallel_tool_calls']) {
			if (body[key] !== undefined && body[key] !== null) expectOpenAiType(body[key], key, 'a boolean');
		}
		const responseFormat = body.text !== undefined && body.text !== null ? responsesTextFormat(body.text) : undefined;
		if (body.metadata !== undefined && body.metadata !== null) {
			expectOpenAiType(body.metadata, 'metadata', 'an object');
			for (const [key, value] of Object.entries(body.metadata as Json)) expectOpenAiType(value, `metadata.${key}`, 'a string');
		}
		if (body.user !== undefined) expectOpenAiType(body.user, 'user', 'a string');
		if (body.truncation !== undefined && body.truncation !== null) expectOpenAiValue(body.truncation, 'truncation', ['auto', 'disabled']);
		if (body.include !== undefined && body.include !== null) {
			expectOpenAiType(body.include, 'include', 'an array');
			(body.include as unknown[]).forEach((value, i) => expectOpenAiType(value, `include[${i}]`, 'a string'));
		}
		const tools = body.tools !== undefined && body.tools !== null ? responsesTools(body.tools) : undefined;
		if (body.tool_choice !== undefined && body.tool_choice !== null) responsesToolChoice(body.tool_choice);
		if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
			// The sandbox keeps no responses, so there is none to continue (OpenAI's answer for an unknown id).
			expectOpenAiType(body.previous_response_id, 'previous_response_id', 'a string');
			refuseOpenAi(`Previous response with id '${body.previous_response_id as string}' not found.`, 'previous_response_id', 'previous_response_not_found');
		}
		const request: ChatCompletionRequest = {
			model: body.model as string,
			messages,
			...(tools ? { tools } : {}),
			...(body.tool_choice !== undefined ? { tool_choice: body.tool_choice } : {}),
			...(responseFormat && responseFormat.type !== 'text' ? { response_format: responseFormat } : {}),
		};
		return { ok: true, value: { request, body, stream: body.stream === true, maxOutputTokens } };
	} catch (err) {
		if (err instanceof Refusal) return { ok: false, error: err.body };
		throw err;
	}
}

function responseId(call: ResponsesCall): string {
	return `resp_sandbox_${requestDigest(call.request).slice(0, 24)}`;
}

function messageItemId(call: ResponsesCall): string {
	return `msg_${requestDigest(call.request).slice(24, 48)}`;
}

function responseOutput(call: ResponsesCall, answer: ChatAnswer): Json[] {
	const output: Json[] = [];
	if (answer.content !== null) {
		output.push({
			type: 'message',
			id: messageItemId(call),
			status: answer.finish_reason === 'length' ? 'incomplete' : 'completed',
			role: 'assistant',
			content: [{ type: 'output_text', text: answer.content, annotations: [] }],
		});
	}
	for (const tc of answer.tool_calls ?? []) {
		output.push({ type: 'function_call', id: `fc_${callHex(tc)}`, call_id: tc.id, name: tc.function.name, arguments: tc.function.arguments, status: 'completed' });
	}
	return output;
}

/** The response object; `state` 'in_progress' is the one the stream starts with (no output, no usage yet). */
function responseObject(call: ResponsesCall, answer: ChatAnswer, usage: Usage, state: 'in_progress' | 'done'): Json {
	const b = call.body;
	const incomplete = answer.finish_reason === 'length';
	const done = state === 'done';
	return {
		id: responseId(call),
		object: 'response',
		created_at: CREATED_AT,
		status: done ? (incomplete ? 'incomplete' : 'completed') : 'in_progress',
		error: null,
		incomplete_details: done && incomplete ? { reason: 'max_output_tokens' } : null,
		instructions: b.instructions ?? null,
		max_output_tokens: b.max_output_tokens ?? null,
		model: call.request.model,
		output: done ? responseOutput(call, answer) : [],
		parallel_tool_calls: b.parallel_tool_calls ?? true,
		previous_response_id: null,
		reasoning: { effort: (b.reasoning as Json | undefined)?.effort ?? null, summary: null },
		store: b.store ?? true,
		temperature: b.temperature ?? null,
		text: b.text ?? { format: { type: 'text' } },
		tool_choice: b.tool_choice ?? 'auto',
		tools: b.tools ?? [],
		top_p: b.top_p ?? null,
		truncation: b.truncation ?? 'disabled',
		usage: done
			? {
					input_tokens: usage.prompt_tokens,
					input_tokens_details: { cached_tokens: 0 },
					output_tokens: usage.completion_tokens,
					output_tokens_details: { reasoning_tokens: 0 },
					total_tokens: usage.total_tokens,
				}
			: null,
		user: b.user ?? null,
		metadata: b.metadata ?? {},
	};
}

/** The non-streamed answer of POST /v1/responses. */
export function buildResponse(call: ResponsesCall, answer: ChatAnswer, usage: Usage): Json {
	return responseObject(call, answer, usage, 'done');
}

/** The events of a streamed POST /v1/responses, in OpenAI's order, each with its sequence_number (no `[DONE]`). */
export function buildResponseStreamEvents(call: ResponsesCall, answer: ChatAnswer, usage: Usage): StreamEvent[] {
	const events: StreamEvent[] = [];
	const push = (type: string, data: Json) => events.push({ event: type, data: { type, sequence_number: events.length, ...data } });
	const started = responseObject(call, answer, usage, 'in_progress');
	push('response.created', { response: started });
	push('response.in_progress', { response: started });
	const final = responseObject(call, answer, usage, 'done');
	for (const [output_index, item] of (final.output as Json[]).entries()) {
		const item_id = item.id as string;
		if (item.type === 'message') {
			const text = answer.content ?? '';
			push('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
			push('response.content_part.added', { item_id, output_index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
			for (const delta of textPieces(text)) push('response.output_text.delta', { item_id, output_index, content_index: 0, delta, logprobs: [] });
			push('response.output_text.done', { item_id, output_index, content_index: 0, text, logprobs: [] });
			push('response.content_part.done', { item_id, output_index, content_index: 0, part: { type: 'output_text', text, annotations: [] } });
		} else {
			push('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
			for (const delta of halves(item.arguments as string)) push('response.function_call_arguments.delta', { item_id, output_index, delta });
			push('response.function_call_arguments.done', { item_id, output_index, arguments: item.arguments });
		}
		push('response.output_item.done', { output_index, item });
	}
	push(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
	return events;
}

/** The `error` event a Responses stream ends with when it fails (the fault's body replaces the data). */
export function responsesStreamError(sequenceNumber: number, body?: unknown): string {
	const data = body ?? { type: 'error', code: 'server_error', message: 'The server had an error while processing your request.', param: null, sequence_number: sequenceNumber };
	return `event: error\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages (and Claude on Vertex AI)
// ---------------------------------------------------------------------------------------------

export function anthropicErrorBody(type: string, message: string) {
	return { type: 'error', error: { type, message } };
}

/** Anthropic's error type for a status (https://docs.anthropic.com/en/api/errors), for injected faults. */
export function anthropicFaultBody(status: number) {
	const message = `sandbox injected fault (HTTP ${status})`;
	if (status === 529) return anthropicErrorBody('overloaded_error', 'Overloaded');
	if (status === 429) return anthropicErrorBody('rate_limit_error', message);
	if (status === 401) return anthropicErrorBody('authentication_error', message);
	if (status === 403) return anthropicErrorBody('permission_error', message);
	if (status === 404) return anthropicErrorBody('not_found_error', message);
	if (status === 413) return anthropicErrorBody('request_too_large', message);
	if (status >= 500) return anthropicErrorBody('api_error', message);
	return anthropicErrorBody('invalid_request_error', message);
}

/** The `error` event an Anthropic stream ends with when it fails (the fault's body replaces the data). */
export function anthropicStreamError(body?: unknown): string {
	const data = body ?? anthropicErrorBody('overloaded_error', 'Overloaded');
	return `event: error\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

function refuseAnthropic(message: string): never {
	throw new Refusal(anthropicErrorBody('invalid_request_error', message));
}

function onlyAnthropicKeys(object: Json, allowed: readonly string[], prefix: string): void {
	const extra = Object.keys(object).find((key) => !allowed.includes(key));
	if (extra !== undefined) refuseAnthropic(`${prefix}${extra}: Extra inputs are not permitted`);
}

function requireAnthropic(object: Json, key: string, prefix: string): void {
	if (object[key] === undefined) refuseAnthropic(`${prefix}${key}: Field required`);
}

function anthropicString(value: unknown, at: string): void {
	if (typeof value !== 'string') refuseAnthropic(`${at}: Input should be a valid string`);
}

function anthropicObject(value: unknown, at: string): void {
	if (!isObject(value)) refuseAnthropic(`${at}: Input should be a valid dictionary`);
}

function anthropicNumber(value: unknown, at: string, min: number, max: number): void {
	if (typeof value !== 'number' || !Number.isFinite(value)) refuseAnthropic(`${at}: Input should be a valid number`);
	if (value < min) refuseAnthropic(`${at}: Input should be greater than or equal to ${min}`);
	if (value > max) refuseAnthropic(`${at}: Input should be less than or equal to ${max}`);
}

const ANTHROPIC_PARAMETERS = [
	'model', 'messages', 'max_tokens', 'system', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'stream', 'tools', 'tool_choice', 'metadata', 'thinking',
] as const;
const ANTHROPIC_BLOCK_TYPES = ['text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'] as const;
const ANTHROPIC_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;

export interface MessagesCall {
	/** The request as answerChat() takes it. */
	request: ChatCompletionRequest;
	/** The model the answer names: the body's, or on Vertex AI the path's. */
	model: string;
	stream: boolean;
	maxTokens: number;
}

/** Where the request came in: Anthropic's /v1/messages (with its header) or a Vertex AI path. */
export type MessagesOrigin = { api: 'anthropic'; anthropicVersion: string | undefined } | { api: 'vertex'; vertex: VertexPath };

function textBlock(block: Json, at: string): string {
	onlyAnthropicKeys(block, ['type', 'text', 'cache_control', 'citations'], `${at}.`);
	requireAnthropic(block, 'text', `${at}.`);
	anthropicString(block.text, `${at}.text`);
	if (block.text === '') refuseAnthropic('messages: text content blocks must be non-empty');
	return block.text as string;
}

/** Whether the request being parsed may name images by URL: Vertex AI refuses URL sources. Set per parse (parsing is synchronous). */
let urlSourcesAllowed = true;

/** An image block as a Chat Completions image part, so that imageReport() sees the same bytes. */
function imageBlock(block: Json, at: string): ContentPart {
	onlyAnthropicKeys(block, ['type', 'source', 'cache_control'], `${at}.`);
	requireAnthropic(block, 'source', `${at}.`);
	anthropicObject(block.source, `${at}.source`);
	const source = block.source as Json;
	if (source.type !== 'base64' && source.type !== 'url') {
		refuseAnthropic(`${at}.source.type: Input tag '${String(source.type)}' found using 'type' does not match any of the expected tags: 'base64', 'url'`);
	}
	if (source.type === 'url') {
		if (!urlSourcesAllowed) refuseAnthropic(`${at}.source: URL sources are not supported`);
		onlyAnthropicKeys(source, ['type', 'url'], `${at}.source.`);
		requireAnthropic(source, 'url', `${at}.source.`);
		anthropicString(source.url, `${at}.source.url`);
		return { type: 'image_url', image_url: { url: source.url as string } };
	}
	onlyAnthropicKeys(source, ['type', 'media_type', 'data'], `${at}.source.`);
	requireAnthropic(source, 'media_type', `${at}.source.`);
	if (!(ANTHROPIC_MEDIA_TYPES as readonly string[]).includes(source.media_type as string)) {
		refuseAnthropic(`${at}.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`);
	}
	requireAnthropic(source, 'data', `${at}.source.`);
	anthropicString(source.data, `${at}.source.data`);
	return { type: 'image_url', image_url: { url: `data:${source.media_type as string};base64,${source.data as string}` } };
}

/** One message's content blocks, checked against its role, as chat messages (tool results first, as tool messages). */
function anthropicMessage(raw: unknown, i: number, previous: Json | undefined, isLast: boolean): ChatMessage[] {
	const at = `messages.${i}`;
	anthropicObject(raw, at);
	const message = raw as Json;
	if (message.role === 'system') {
		refuseAnthropic('Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.');
	}
	requireAnthropic(message, 'role', `${at}.`);
	// Chat Completions' `tool` role lands here.
	if (message.role !== 'user' && message.role !== 'assistant') refuseAnthropic(`${at}.role: Input should be 'user' or 'assistant'`);
	onlyAnthropicKeys(message, ['role', 'content'], `${at}.`);
	requireAnthropic(message, 'content', `${at}.`);
	const role = message.role;
	const { content } = message;
	if (typeof content !== 'string' && !Array.isArray(content)) refuseAnthropic(`${at}.content: Input should be a valid string or a list of content blocks`);
	if (content.length === 0 && !(isLast && role === 'assistant')) {
		refuseAnthropic(`${at}: all messages must have non-empty content except for the optional final assistant message`);
	}
	if (typeof content === 'string') return [{ role, content }];

	const parts: ContentPart[] = [];
	const toolCalls: ToolCall[] = [];
	const toolResults: ChatMessage[] = [];
	const previousToolUses = new Set(
		(Array.isArray(previous?.content) ? (previous.content as unknown[]) : []).filter((b) => isObject(b) && b.type === 'tool_use').map((b) => (b as Json).id),
	);
	for (const [j, rawBlock] of content.entries()) {
		const blockAt = `${at}.content.${j}`;
		anthropicObject(rawBlock, blockAt);
		const block = rawBlock as Json;
		requireAnthropic(block, 'type', `${blockAt}.`);
		// Chat Completions' `image_url` block (and anything else unknown) lands here.
		if (!(ANTHROPIC_BLOCK_TYPES as readonly string[]).includes(block.type as string)) {
			refuseAnthropic(`${blockAt}: Input tag '${String(block.type)}' found using 'type' does not match any of the expected tags: ${ANTHROPIC_BLOCK_TYPES.map((t) => `'${t}'`).join(', ')}`);
		}
		if (block.type === 'text') {
			parts.push({ type: 'text', text: textBlock(block, blockAt) });
		} else if (block.type === 'image') {
			parts.push(imageBlock(block, blockAt));
		} else if (block.type === 'tool_use') {
			if (role !== 'assistant') refuseAnthropic(`${blockAt}: \`tool_use\` blocks can only be in \`assistant\` messages`);
			onlyAnthropicKeys(block, ['type', 'id', 'name', 'input', 'cache_control'], `${blockAt}.`);
			for (const key of ['id', 'name']) {
				requireAnthropic(block, key, `${blockAt}.`);
				anthropicString(block[key], `${blockAt}.${key}`);
			}
			requireAnthropic(block, 'input', `${blockAt}.`);
			// Chat Completions keeps arguments as a JSON string; Anthropic wants the object.
			anthropicObject(block.input, `${blockAt}.input`);
			toolCalls.push({ id: block.id as string, type: 'function', function: { name: block.name as string, arguments: JSON.stringify(block.input) } });
		} else if (block.type === 'tool_result') {
			if (role !== 'user') refuseAnthropic(`${blockAt}: \`tool_result\` blocks can only be in \`user\` messages`);
			onlyAnthropicKeys(block, ['type', 'tool_use_id', 'content', 'is_error', 'cache_control'], `${blockAt}.`);
			requireAnthropic(block, 'tool_use_id', `${blockAt}.`);
			anthropicString(block.tool_use_id, `${blockAt}.tool_use_id`);
			if (!previousToolUses.has(block.tool_use_id)) {
				refuseAnthropic(
					`${blockAt}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${block.tool_use_id as string}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
				);
			}
			if (block.is_error !== undefined && typeof block.is_error !== 'boolean') refuseAnthropic(`${blockAt}.is_error: Input should be a valid boolean`);
			let text = '';
			if (typeof block.content === 'string') text = block.content;
			else if (Array.isArray(block.content)) {
				const texts: string[] = [];
				for (const [k, inner] of block.content.entries()) {
					const innerAt = `${blockAt}.content.${k}`;
					anthropicObject(inner, innerAt);
					const innerBlock = inner as Json;
					if (innerBlock.type === 'text') texts.push(textBlock(innerBlock, innerAt));
					else if (innerBlock.type === 'image') imageBlock(innerBlock, innerAt);
					else refuseAnthropic(`${innerAt}: Input tag '${String(innerBlock.type)}' found using 'type' does not match any of the expected tags: 'text', 'image'`);
				}
				text = texts.join('\n');
			} else if (block.content !== undefined) refuseAnthropic(`${blockAt}.content: Input should be a valid string or a list of content blocks`);
			toolResults.push({ role: 'tool', tool_call_id: block.tool_use_id as string, content: text });
		} else if (role !== 'assistant') {
			refuseAnthropic(`${blockAt}: \`${block.type as string}\` blocks can only be in \`assistant\` messages`);
		}
		// thinking / redacted_thinking: sent back by clients that use extended thinking; the sandbox ignores them.
	}
	const translated: ChatMessage[] = [...toolResults];
	if (parts.length > 0 || toolCalls.length > 0) {
		translated.push({ role, content: parts.length > 0 ? parts : null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) });
	}
	return translated;
}

/** Every tool_use must be answered by a tool_result in the next message (Anthropic's rule). */
function checkToolUsesAnswered(messages: unknown[]): void {
	for (let i = 0; i + 1 < messages.length; i++) {
		const content = (messages[i] as Json).content;
		if (!Array.isArray(content)) continue;
		const ids = content.filter((b) => isObject(b) && b.type === 'tool_use').map((b) => (b as Json).id as string);
		const next = (messages[i + 1] as Json).content;
		const answered = new Set(Array.isArray(next) ? next.filter((b) => isObject(b) && b.type === 'tool_result').map((b) => (b as Json).tool_use_id) : []);
		const missing = ids.filter((id) => !answered.has(id));
		if (missing.length > 0) {
			refuseAnthropic(
				`messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
			);
		}
	}
}

/** Anthropic tools as the `{type:'function', function:{name, parameters}}` tools answerChat() reads (offeredCalculator). */
function anthropicTools(tools: unknown): unknown[] {
	if (!Array.isArray(tools)) refuseAnthropic('tools: Input should be a valid list');
	return tools.map((raw, i) => {
		const at = `tools.${i}`;
		anthropicObject(raw, at);
		const tool = raw as Json;
		// An OpenAI tool (`{type:'function', function:{…}}`) has no input_schema.
		requireAnthropic(tool, 'input_schema', `${at}.`);
		requireAnthropic(tool, 'name', `${at}.`);
		onlyAnthropicKeys(tool, ['type', 'name', 'description', 'input_schema', 'cache_control'], `${at}.`);
		if (tool.type !== undefined && tool.type !== 'custom') refuseAnthropic(`${at}.type: Input should be 'custom'`);
		anthropicString(tool.name, `${at}.name`);
		if (!/^[a-zA-Z0-9_-]{1,128}$/.test(tool.name as string)) refuseAnthropic(`${at}.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`);
		if (tool.description !== undefined) anthropicString(tool.description, `${at}.description`);
		anthropicObject(tool.input_schema, `${at}.input_schema`);
		if ((tool.input_schema as Json).type !== 'object') refuseAnthropic(`${at}.input_schema.type: Input should be 'object'`);
		return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.input_schema } };
	});
}

function anthropicToolChoice(choice: unknown): void {
	// OpenAI's string choices ('auto', 'required') fail here.
	if (!isObject(choice)) refuseAnthropic('tool_choice: Input should be a valid dictionary or object to extract fields from');
	if (!['auto', 'any', 'tool', 'none'].includes(choice.type as string)) {
		refuseAnthropic(`tool_choice: Input tag '${String(choice.type)}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'`);
	}
	onlyAnthropicKeys(choice, choice.type === 'tool' ? ['type', 'name', 'disable_parallel_tool_use'] : ['type', 'disable_parallel_tool_use'], 'tool_choice.');
	if (choice.type === 'tool') {
		requireAnthropic(choice, 'name', 'tool_choice.tool.');
		anthropicString(choice.name, 'tool_choice.tool.name');
	}
	if (choice.disable_parallel_tool_use !== undefined && typeof choice.disable_parallel_tool_use !== 'boolean') {
		refuseAnthropic('tool_choice.disable_parallel_tool_use: Input should be a valid boolean');
	}
}

/**
 * Checks a Messages body (POST /v1/messages, or a Vertex AI rawPredict/streamRawPredict) and
 * translates it; a refusal carries Anthropic's 400 body.
 */
export function parseMessagesRequest(body: unknown, origin: MessagesOrigin): Parsed<MessagesCall> {
	try {
		if (origin.api === 'anthropic') {
			if (origin.anthropicVersion === undefined) refuseAnthropic('anthropic-version: header is required');
			if (!(ANTHROPIC_VERSIONS as readonly string[]).includes(origin.anthropicVersion)) {
				refuseAnthropic(`anthropic-version: "${origin.anthropicVersion}" is not a valid version (use one of ${ANTHROPIC_VERSIONS.join(', ')})`);
			}
		}
		if (!isObject(body)) refuseAnthropic('There was an error parsing the body of your request: a JSON object is required');
		const vertex = origin.api === 'vertex' ? origin.vertex : undefined;
		urlSourcesAllowed = vertex === undefined;
		// On Vertex AI the model is in the path and the version in the body.
		const allowed: readonly string[] = vertex ? [...ANTHROPIC_PARAMETERS.filter((key) => key !== 'model'), 'anthropic_version'] : ANTHROPIC_PARAMETERS;
		onlyAnthropicKeys(body, allowed, '');
		if (vertex) {
			requireAnthropic(body, 'anthropic_version', '');
			if (body.anthropic_version !== VERTEX_ANTHROPIC_VERSION) refuseAnthropic(`anthropic_version: Input should be '${VERTEX_ANTHROPIC_VERSION}'`);
		} else {
			requireAnthropic(body, 'model', '');
			anthropicString(body.model, 'model');
			if (body.model === '') refuseAnthropic('model: String should have at least 1 character');
		}
		requireAnthropic(body, 'max_tokens', '');
		if (!Number.isInteger(body.max_tokens)) refuseAnthropic('max_tokens: Input should be a valid integer');
		if ((body.max_tokens as number) < 1) refuseAnthropic('max_tokens: Input should be greater than or equal to 1');
		requireAnthropic(body, 'messages', '');
		if (!Array.isArray(body.messages)) refuseAnthropic('messages: Input should be a valid list');
		if (body.messages.length === 0) refuseAnthropic('messages: at least one message is required');
		const rawMessages = body.messages as unknown[];
		const messages: ChatMessage[] = [];
		if (body.system !== undefined) {
			if (typeof body.system === 'string') {
				if (body.system !== '') messages.push({ role: 'system', content: body.system });
			} else if (Array.isArray(body.system)) {
				const texts = body.system.map((block, i) => {
					anthropicObject(block, `system.${i}`);
					if ((block as Json).type !== 'text') refuseAnthropic(`system.${i}.type: Input should be 'text'`);
					return textBlock(block as Json, `system.${i}`);
				});
				messages.push({ role: 'system', content: texts.join('\n') });
			} else refuseAnthropic('system: Input should be a valid string or a list of text blocks');
		}
		for (const [i, message] of rawMessages.entries()) {
			messages.push(...anthropicMessage(message, i, i > 0 ? (rawMessages[i - 1] as Json) : undefined, i === rawMessages.length - 1));
		}
		checkToolUsesAnswered(rawMessages);
		if (body.temperature !== undefined) anthropicNumber(body.temperature, 'temperature', 0, 1);
		if (body.top_p !== undefined) anthropicNumber(body.top_p, 'top_p', 0, 1);
		if (body.top_k !== undefined) {
			if (!Number.isInteger(body.top_k)) refuseAnthropic('top_k: Input should be a valid integer');
			anthropicNumber(body.top_k, 'top_k', 0, Number.MAX_SAFE_INTEGER);
		}
		if (body.stop_sequences !== undefined) {
			if (!Array.isArray(body.stop_sequences)) refuseAnthropic('stop_sequences: Input should be a valid list');
			body.stop_sequences.forEach((value, i) => anthropicString(value, `stop_sequences.${i}`));
		}
		if (body.stream !== undefined && typeof body.stream !== 'boolean') refuseAnthropic('stream: Input should be a valid boolean');
		if (vertex?.method === 'streamRawPredict' && body.stream !== true) refuseAnthropic('stream: streamRawPredict answers with events only; send `"stream": true`');
		if (vertex?.method === 'rawPredict' && body.stream === true) refuseAnthropic('stream: rawPredict does not stream; use streamRawPredict for `"stream": true`');
		const tools = body.tools !== undefined ? anthropicTools(body.tools) : undefined;
		if (body.tool_choice !== undefined) anthropicToolChoice(body.tool_choice);
		if (body.metadata !== undefined) {
			anthropicObject(body.metadata, 'metadata');
			onlyAnthropicKeys(body.metadata as Json, ['user_id'], 'metadata.');
		}
		if (body.thinking !== undefined) {
			anthropicObject(body.thinking, 'thinking');
			const thinking = body.thinking as Json;
			if (thinking.type === 'enabled') {
				onlyAnthropicKeys(thinking, ['type', 'budget_tokens'], 'thinking.enabled.');
				requireAnthropic(thinking, 'budget_tokens', 'thinking.enabled.');
				if (!Number.isInteger(thinking.budget_tokens)) refuseAnthropic('thinking.enabled.budget_tokens: Input should be a valid integer');
				if ((thinking.budget_tokens as number) < 1024) refuseAnthropic('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
				if ((body.max_tokens as number) <= (thinking.budget_tokens as number)) refuseAnthropic('`max_tokens` must be greater than `thinking.budget_tokens`');
			} else if (thinking.type === 'disabled') {
				onlyAnthropicKeys(thinking, ['type'], 'thinking.disabled.');
			} else {
				refuseAnthropic(`thinking: Input tag '${String(thinking.type)}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled'`);
			}
		}
		const model = vertex ? vertex.model : (body.model as string);
		const request: ChatCompletionRequest = { model, messages, ...(tools ? { tools } : {}), ...(body.tool_choice !== undefined ? { tool_choice: body.tool_choice } : {}) };
		return { ok: true, value: { request, model, stream: body.stream === true, maxTokens: body.max_tokens as number } };
	} catch (err) {
		if (err instanceof Refusal) return { ok: false, error: err.body };
		throw err;
	}
}

function stopReason(answer: ChatAnswer): 'end_turn' | 'tool_use' | 'max_tokens' {
	return answer.finish_reason === 'tool_calls' ? 'tool_use' : answer.finish_reason === 'length' ? 'max_tokens' : 'end_turn';
}

function toolUseId(call: ToolCall): string {
	return `toolu_${callHex(call)}`;
}

function parsedArguments(call: ToolCall): unknown {
	try {
		return JSON.parse(call.function.arguments) as unknown;
	} catch {
		return {};
	}
}

function anthropicMessageId(call: MessagesCall): string {
	return `msg_sandbox_${requestDigest(call.request).slice(0, 24)}`;
}

/** The non-streamed answer of POST /v1/messages and of Vertex AI's rawPredict. */
export function buildAnthropicMessage(call: MessagesCall, answer: ChatAnswer, usage: Usage): Json {
	const content: Json[] = [];
	if (answer.content !== null) content.push({ type: 'text', text: answer.content });
	for (const tc of answer.tool_calls ?? []) content.push({ type: 'tool_use', id: toolUseId(tc), name: tc.function.name, input: parsedArguments(tc) });
	return {
		id: anthropicMessageId(call),
		type: 'message',
		role: 'assistant',
		model: call.model,
		content,
		stop_reason: stopReason(answer),
		stop_sequence: null,
		usage: { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
	};
}

/** The events of a streamed Messages answer, in Anthropic's order (a `ping` after the first block starts). */
export function buildAnthropicStreamEvents(call: MessagesCall, answer: ChatAnswer, usage: Usage): StreamEvent[] {
	const events: StreamEvent[] = [];
	const push = (type: string, data: Json = {}) => events.push({ event: type, data: { type, ...data } });
	push('message_start', {
		message: {
			id: anthropicMessageId(call),
			type: 'message',
			role: 'assistant',
			model: call.model,
			content: [],
			stop_reason: null,
			stop_sequence: null,
			usage: { input_tokens: usage.prompt_tokens, output_tokens: 1 },
		},
	});
	let index = 0;
	const startBlock = (content_block: Json) => {
		push('content_block_start', { index, content_block });
		if (index === 0) push('ping');
	};
	if (answer.content !== null) {
		startBlock({ type: 'text', text: '' });
		for (const text of textPieces(answer.content)) push('content_block_delta', { index, delta: { type: 'text_delta', text } });
		push('content_block_stop', { index });
		index += 1;
	}
	for (const tc of answer.tool_calls ?? []) {
		startBlock({ type: 'tool_use', id: toolUseId(tc), name: tc.function.name, input: {} });
		for (const partial_json of halves(tc.function.arguments)) push('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } });
		push('content_block_stop', { index });
		index += 1;
	}
	push('message_delta', { delta: { stop_reason: stopReason(answer), stop_sequence: null }, usage: { output_tokens: usage.completion_tokens } });
	push('message_stop');
	return events;
}
