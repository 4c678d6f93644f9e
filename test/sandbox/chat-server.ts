/**
 * The sandbox's LLM API (plain node:http handler, mounted at /v1), OpenAI-compatible plus the
 * Responses, Anthropic Messages and Claude-on-Vertex-AI chat formats (formats.ts checks, translates
 * and renders those; answerChat() below answers them all):
 *
 *   GET  /v1/models              → {object:'list', data:[{id:'sandbox-echo',…}, {id:'sandbox-json',…}]}
 *   GET  /v1/models/:id          → one model object (404 model_not_found otherwise)
 *   POST /v1/chat/completions    → deterministic answer from answerChat(); `stream: true` → SSE chunks
 *   POST /v1/embeddings          → deterministic sandboxEmbedding() vectors
 *   POST /v1/responses           → OpenAI Responses API answer; `stream: true` → its typed events
 *   POST /v1/messages            → Anthropic Messages answer (header anthropic-version); `stream: true` → its events
 *   POST /v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}:rawPredict
 *                                → Claude on Vertex AI: the Messages answer, model from the path
 *   POST …/{model}:streamRawPredict → the same as Messages events (body `stream: true`)
 *
 * Every request needs `Authorization: Bearer <JWT>` issued by the sandbox auth server, verified
 * with jose against the auth server's JWKS over HTTP: RS256 signature, typ at+jwt, issuer,
 * audience = RESOURCE, exp/nbf with zero clock tolerance, and scope containing `llm.chat`
 * (/v1/models also accepts `llm.models`). Anything else → 401
 * `{error:{message, type:'invalid_request_error', param:null, code:'invalid_token'}}` with
 * `WWW-Authenticate: Bearer error="invalid_token", error_description="…"`. On /v1/messages and
 * /v1/projects/… every error (401, injected faults, 400s, 404) is Anthropic-shaped instead:
 * `{type:'error', error:{type, message}}`.
 *
 * Order per request: read body → chatLatencyMs delay → injected chat fault (if any) → token check →
 * route. Each request is counted for the client named by the token's client_id (or sub) claim, read
 * without verification so that rejected tokens are attributed too. All four chat formats are
 * recorded with kind 'chat'.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { TLSSocket } from 'node:tls';

import { peerCertificate, readBody, sendFault } from './auth-server';
import {
	anthropicErrorBody,
	anthropicFaultBody,
	anthropicStreamError,
	buildAnthropicMessage,
	buildAnthropicStreamEvents,
	buildResponse,
	buildResponseStreamEvents,
	limitAnswer,
	parseMessagesRequest,
	parseResponsesRequest,
	parseVertexPath,
	responsesStreamError,
	sseFrame,
} from './formats';
import { type SandboxState, UNKNOWN_CLIENT } from './state';

export const API_PREFIX = '/v1';

export const MODELS = [
	{ id: 'sandbox-echo', object: 'model', created: 1735689600, owned_by: 'sandbox' },
	{ id: 'sandbox-json', object: 'model', created: 1735689600, owned_by: 'sandbox' },
	{ id: 'sandbox-embed', object: 'model', created: 1735689600, owned_by: 'sandbox' },
] as const;

/** Length of the sandbox's embedding vectors unless a request asks for `dimensions`. */
export const EMBEDDING_DIMENSIONS = 64;

/** Lower-cased words, with a plural "s" dropped, so that "tokens" and "token" count as one. */
function words(text: string): string[] {
	return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).map((word) => (word.length > 3 && word.endsWith('s') ? word.slice(0, -1) : word));
}

/**
 * A deterministic embedding in which texts that share words are near each other: each word adds ±1 at
 * a position chosen by its hash (the "hashing trick"), and the vector is scaled to length 1, so a dot
 * product is the cosine similarity.
 */
export function sandboxEmbedding(text: string, dimensions = EMBEDDING_DIMENSIONS): number[] {
	const vector = new Array<number>(dimensions).fill(0);
	for (const word of words(text)) {
		const digest = createHash('sha256').update(word).digest();
		vector[digest.readUInt32BE(0) % dimensions] += digest[4] & 1 ? 1 : -1;
	}
	const length = Math.hypot(...vector);
	return length === 0 ? vector : vector.map((value) => value / length);
}

/** What the sandbox says about the images of a message: media type, SHA-256 and size of the bytes it got. */
export function imageReport(content: MessageContent): string | undefined {
	if (!Array.isArray(content)) return undefined;
	const reports = content
		.filter((part) => part && part.type === 'image_url')
		.map((part) => {
			const image = (part as { image_url?: string | { url?: string } }).image_url;
			const url = typeof image === 'string' ? image : (image?.url ?? '');
			const match = /^data:([^;,]*)(;base64)?,/.exec(url.slice(0, 200));
			if (!match) return `url ${url.slice(0, 200)}`;
			const payload = url.slice(match[0].length);
			const bytes = match[2] ? Buffer.from(payload, 'base64') : Buffer.from(decodeURIComponent(payload), 'utf8');
			return `${match[1] || '(no type)'} sha256:${createHash('sha256').update(bytes).digest('hex')} (${bytes.length} bytes)`;
		});
	return reports.length > 0 ? `Saw ${reports.length} image${reports.length === 1 ? '' : 's'}: ${reports.join('; ')}` : undefined;
}

/** Fixed `created` of every completion, so answers are byte-for-byte reproducible. */
const CREATED = 1735689600;

// ---------------------------------------------------------------------------------------------
// Answer logic (pure): extend here for tool calling.
// ---------------------------------------------------------------------------------------------

export type MessageContent = string | null | undefined | Array<{ type?: string; text?: string }>;

export interface ChatMessage {
	role: string;
	content?: MessageContent;
	name?: string;
	tool_calls?: unknown[];
	tool_call_id?: string;
}

export interface ChatCompletionRequest {
	model: string;
	messages: ChatMessage[];
	response_format?: { type?: string };
	stream?: boolean;
	stream_options?: { include_usage?: boolean };
	tools?: unknown[];
	tool_choice?: unknown;
	[key: string]: unknown;
}

export interface ToolCall {
	id: string;
	type: 'function';
	function: { name: string; arguments: string };
}

export interface ChatAnswer {
	content: string | null;
	finish_reason: 'stop' | 'length' | 'tool_calls';
	tool_calls?: ToolCall[];
}

export function contentText(content: MessageContent): string {
	if (typeof content === 'string') return content;
	if (Array.isArray(content)) {
		return content
			.filter((p) => p && (p.type === undefined || p.type === 'text') && typeof p.text === 'string')
			.map((p) => p.text)
			.join('\n');
	}
	return '';
}

export function wordCount(text: string): number {
	return text.split(/\s+/).filter(Boolean).length;
}

export function lastUserMessage(messages: ChatMessage[]): string {
	for (let i = messages.length - 1; i >= 0; i--) {
		if (messages[i]?.role === 'user' && contentText(messages[i].content) !== '') return contentText(messages[i].content);
	}
	return '';
}

/** The image report of the user messages (n8n's agent sends images in a user message of their own, after the text). */
function userImages(messages: ChatMessage[]): string | undefined {
	const reports = messages.filter((message) => message?.role === 'user').map((message) => imageReport(message.content)).filter(Boolean);
	return reports.length > 0 ? reports.join(' | ') : undefined;
}

/** An offered OpenAI function tool, as far as the sandbox needs it. */
interface OfferedTool {
	name: string;
	/** The one string argument to put the expression in (`input` for n8n's Calculator tool). */
	argumentName: string;
}

/**
 * The first offered function tool whose name mentions "calculator" (case-insensitive: n8n 2.41 names
 * a tool after its node, so the Calculator tool node called "Calculator" offers `Calculator`).
 */
export function offeredCalculator(tools: unknown[] | undefined): OfferedTool | undefined {
	for (const tool of tools ?? []) {
		const fn = (tool as { type?: unknown; function?: { name?: unknown; parameters?: unknown } } | null)?.function;
		if (!fn || typeof fn.name !== 'string' || !/calculator/i.test(fn.name)) continue;
		const properties = (fn.parameters as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties ?? {};
		const stringArguments = Object.entries(properties).filter(([, schema]) => schema?.type === 'string').map(([name]) => name);
		const argumentName = stringArguments.includes('input') ? 'input' : (stringArguments[0] ?? 'input');
		return { name: fn.name, argumentName };
	}
	return undefined;
}

/**
 * The arithmetic a message asks for ("calculate 12*34", "What is 12 * 34?"), or undefined.
 * The longest run of digits, operators, parentheses and spaces that holds an operator.
 */
export function requestedCalculation(text: string): string | undefined {
	if (!/\bcalculate\b|\bwhat\s+is\b|\bcompute\b/i.test(text)) return undefined;
	const candidates = (text.match(/[\d.()+\-*/^%\s]+/g) ?? [])
		.map((run) => run.trim())
		.filter((run) => /\d/.test(run) && /\d\s*[-+*/^%]\s*[\d(]/.test(run));
	return candidates.sort((a, b) => b.length - a.length)[0];
}

function toolCallId(name: string, args: string): string {
	return `call_sandbox_${createHash('sha256').update(`${name}\n${args}`).digest('hex').slice(0, 16)}`;
}

/**
 * The sandbox "model".
 * - The last message is a tool result → `The result is <tool output>`.
 * - Tools are offered, one of them a calculator, and the last user message asks for a calculation
 *   ("calculate 12*34", "what is 12*34?") → one deterministic `tool_calls` entry for that tool with
 *   `{"input": "12*34"}` (or the tool's own single string argument), finish_reason `tool_calls`.
 * - `sandbox-json`, or response_format json_object/json_schema → the JSON string
 *   {"echo": <last user message>, "model": <model>}.
 * - Anything else → `Echo from <model>: <last user message>`.
 */
export function answerChat(req: ChatCompletionRequest): ChatAnswer {
	const final = req.messages[req.messages.length - 1];
	if (final?.role === 'tool') {
		return { content: `The result is ${contentText(final.content)}`, finish_reason: 'stop' };
	}
	const last = lastUserMessage(req.messages);
	const calculator = offeredCalculator(req.tools);
	const expression = calculator ? requestedCalculation(last) : undefined;
	if (calculator && expression !== undefined) {
		const args = JSON.stringify({ [calculator.argumentName]: expression });
		return {
			content: null,
			finish_reason: 'tool_calls',
			tool_calls: [{ id: toolCallId(calculator.name, args), type: 'function', function: { name: calculator.name, arguments: args } }],
		};
	}
	const wantsJson =
		req.model === 'sandbox-json' ||
		req.response_format?.type === 'json_object' ||
		req.response_format?.type === 'json_schema';
	if (wantsJson) {
		return { content: JSON.stringify({ echo: last, model: req.model }), finish_reason: 'stop' };
	}
	const images = userImages(req.messages);
	return { content: `Echo from ${req.model}: ${last}${images ? ` | ${images}` : ''}`, finish_reason: 'stop' };
}

export function usageOf(req: ChatCompletionRequest, answer: ChatAnswer) {
	const prompt_tokens = req.messages.reduce((n, m) => n + wordCount(contentText(m.content)), 0);
	const completion_tokens =
		wordCount(answer.content ?? '') +
		(answer.tool_calls ?? []).reduce((n, t) => n + wordCount(`${t.function.name} ${t.function.arguments}`), 0);
	return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

export function completionId(req: ChatCompletionRequest): string {
	const digest = createHash('sha256').update(JSON.stringify([req.model, req.messages, req.response_format ?? null])).digest('hex');
	return `chatcmpl-sandbox-${digest.slice(0, 24)}`;
}

export function buildCompletion(req: ChatCompletionRequest, answer: ChatAnswer) {
	return {
		id: completionId(req),
		object: 'chat.completion',
		created: CREATED,
		model: req.model,
		system_fingerprint: 'fp_sandbox',
		choices: [
			{
				index: 0,
				message: {
					role: 'assistant',
					content: answer.content,
					refusal: null,
					...(answer.tool_calls ? { tool_calls: answer.tool_calls } : {}),
				},
				logprobs: null,
				finish_reason: answer.finish_reason,
			},
		],
		usage: usageOf(req, answer),
	};
}

/** SSE chunks of a streamed answer (OpenAI format), without the final `[DONE]`. */
export function buildStreamChunks(req: ChatCompletionRequest, answer: ChatAnswer): unknown[] {
	const base = { id: completionId(req), object: 'chat.completion.chunk', created: CREATED, model: req.model, system_fingerprint: 'fp_sandbox' };
	const includeUsage = req.stream_options?.include_usage === true;
	const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
		...base,
		choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
		...(includeUsage ? { usage: null } : {}),
	});
	const chunks: unknown[] = [chunk({ role: 'assistant', content: '' }, null)];
	// Split after whitespace so that concatenating the deltas gives back the exact content.
	for (const piece of (answer.content ?? '').match(/\S+\s*|\s+/g) ?? []) chunks.push(chunk({ content: piece }, null));
	// As OpenAI streams them: id, type and name in a call's first fragment, its arguments in pieces after.
	for (const [index, call] of (answer.tool_calls ?? []).entries()) {
		chunks.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }, null));
		const args = call.function.arguments;
		const half = Math.ceil(args.length / 2);
		for (const piece of [args.slice(0, half), args.slice(half)].filter(Boolean)) chunks.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }, null));
	}
	chunks.push(chunk({}, answer.finish_reason));
	if (includeUsage) chunks.push({ ...base, choices: [], usage: usageOf(req, answer) });
	return chunks;
}

// ---------------------------------------------------------------------------------------------
// HTTP handler
// ---------------------------------------------------------------------------------------------

function openAiError(message: string, type: string, code: string | null, param: string | null = null) {
	return { error: { message, type, param, code } };
}

function chatFaultBody(status: number) {
	const message = `sandbox injected fault (HTTP ${status})`;
	if (status === 401) return openAiError(message, 'invalid_request_error', 'invalid_token');
	if (status === 429) return openAiError(message, 'requests', 'rate_limit_exceeded');
	if (status >= 500) return openAiError(message, 'server_error', null);
	return openAiError(message, 'invalid_request_error', null);
}

function wwwAuthenticate(description: string): string {
	return `Bearer error="invalid_token", error_description="${description.replace(/["\\]/g, "'")}"`;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
	res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
}

function bearerToken(authorization: string | undefined): string | undefined {
	const m = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
	return m?.[1];
}

function claimedClientId(token: string | undefined): string {
	if (!token) return UNKNOWN_CLIENT;
	try {
		const p = decodeJwt(token);
		const id = typeof p.client_id === 'string' ? p.client_id : p.sub;
		return id ?? UNKNOWN_CLIENT;
	} catch {
		return UNKNOWN_CLIENT;
	}
}

export interface ChatServer {
	/** Handles a request whose path starts with API_PREFIX. */
	handle(req: IncomingMessage, res: ServerResponse): void;
}

export function createChatServer(opts: {
	state: SandboxState;
	issuer: string;
	publicJwks: JSONWebKeySet;
	resource: string;
	/** Answer 403 to any request without a verified TLS client certificate (an mTLS gateway). */
	requireClientCertificate?: boolean;
}): ChatServer {
	const { state, issuer, resource } = opts;
	const jwks = createLocalJWKSet(opts.publicJwks);

	async function verify(token: string | undefined, requiredScopes: string[]): Promise<{ ok: true; payload: JWTPayload } | { ok: false; reason: string }> {
		if (!token) return { ok: false, reason: 'missing bearer token' };
		try {
			const { payload } = await jwtVerify(token, jwks, {
				issuer,
				audience: resource,
				algorithms: ['RS256'],
				typ: 'at+jwt',
				clockTolerance: 0,
				requiredClaims: ['exp', 'iat', 'sub'],
			});
			const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ') : []);
			if (!requiredScopes.some((s) => scopes.has(s))) {
				return { ok: false, reason: `token scope lacks ${requiredScopes.join(' or ')}` };
			}
			return { ok: true, payload };
		} catch (err) {
			const code = (err as { code?: string }).code;
			const message = err instanceof Error ? err.message : String(err);
			return { ok: false, reason: code === 'ERR_JWT_EXPIRED' ? 'token expired' : `token rejected: ${message}` };
		}
	}

	async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const at = Date.now();
		const method = req.method ?? 'GET';
		const url = req.url ?? '/';
		const path = url.split('?')[0].replace(/\/+$/, '');
		const raw = method === 'GET' || method === 'HEAD' ? '' : await readBody(req);
		let body: unknown = raw === '' ? undefined : raw;
		let bodyIsJson = false;
		if (raw !== '') {
			try {
				body = JSON.parse(raw);
				bodyIsJson = true;
			} catch {
				/* keep the raw string */
			}
		}
		if (state.config.chatLatencyMs > 0) await sleep(state.config.chatLatencyMs);

		const token = bearerToken(req.headers.authorization);
		const clientId = claimedClientId(token);
		const vertex = parseVertexPath(path, API_PREFIX);
		const format =
			path === `${API_PREFIX}/chat/completions` ? 'chat-completions'
			: path === `${API_PREFIX}/responses` ? 'responses'
			: path === `${API_PREFIX}/messages` ? 'messages'
			: vertex ? 'vertex'
			: undefined;
		const kind = format ? 'chat' : path === `${API_PREFIX}/embeddings` ? 'embeddings' : path.startsWith(`${API_PREFIX}/models`) ? 'models' : 'other';
		// Anthropic's clients read only Anthropic's error shape, also on Vertex AI paths the sandbox does not know.
		const anthropicShaped = format === 'messages' || format === 'vertex' || path.startsWith(`${API_PREFIX}/projects/`);
		const clientCertificate = peerCertificate(req.socket)?.subject;
		const record = (status: number | 'dropped' | 'hung', fault?: string) =>
			state.record({ at, kind, method, path: url, clientId, status, headers: { ...req.headers }, body, clientCertificate, ...(fault ? { fault } : {}) });
		state.count(clientId, 'chatRequests');

		if (opts.requireClientCertificate && (req.socket as TLSSocket).authorized !== true) {
			record(403);
			const message = 'This gateway requires a client certificate issued by its CA (mTLS)';
			sendJson(res, 403, anthropicShaped ? anthropicErrorBody('permission_error', message) : openAiError(message, 'invalid_request_error', 'client_certificate_required'));
			return;
		}

		const fault = state.takeChatFault(path);
		const streamFault = fault?.kind === 'stream-error' && (body as { stream?: unknown } | undefined)?.stream === true ? fault : undefined;
		if (fault && !streamFault) {
			const status = fault.kind === 'drop' ? 'dropped' : fault.kind === 'hang' ? 'hung' : (fault.status ?? 503);
			if (status === 401) state.count(clientId, 'chatRejected401');
			record(status, typeof status === 'number' ? `status ${status}` : status);
			sendFault(res, fault, anthropicShaped ? anthropicFaultBody : chatFaultBody, status === 401 ? { 'www-authenticate': wwwAuthenticate('sandbox injected fault') } : {});
			return;
		}

		const verdict = await verify(token, kind === 'models' ? ['llm.chat', 'llm.models'] : ['llm.chat']);
		if (!verdict.ok) {
			state.count(clientId, 'chatRejected401');
			record(401);
			const message = `Invalid bearer token: ${verdict.reason}`;
			sendJson(res, 401, anthropicShaped ? anthropicErrorBody('authentication_error', message) : openAiError(message, 'invalid_request_error', 'invalid_token'), {
				'www-authenticate': wwwAuthenticate(verdict.reason),
			});
			return;
		}

		const reply = (status: number, payload: unknown) => {
			record(status);
			sendJson(res, status, payload);
		};

		/** Writes SSE frames with streamChunkIntervalMs between them; a stream fault replaces the third frame with `failure` and ends. */
		const stream = async (frames: string[], failure: string, end = '') => {
			record(200, streamFault ? 'stream-error' : undefined);
			res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
			for (const [index, frame] of frames.entries()) {
				if (res.destroyed) return;
				if (streamFault && index === 2) {
					res.end(failure);
					return;
				}
				res.write(frame);
				if (state.config.streamChunkIntervalMs > 0 && index < frames.length - 1) await sleep(state.config.streamChunkIntervalMs);
			}
			res.end(end);
		};

		if (kind === 'models') {
			if (method !== 'GET') return reply(405, openAiError(`Method ${method} not allowed`, 'invalid_request_error', 'method_not_allowed'));
			if (path === `${API_PREFIX}/models`) return reply(200, { object: 'list', data: MODELS });
			const id = decodeURIComponent(path.slice(`${API_PREFIX}/models/`.length));
			const model = MODELS.find((m) => m.id === id);
			if (!model) return reply(404, openAiError(`The model '${id}' does not exist`, 'invalid_request_error', 'model_not_found', 'model'));
			return reply(200, model);
		}

		if (kind === 'embeddings') {
			if (method !== 'POST') return reply(405, openAiError(`Method ${method} not allowed`, 'invalid_request_error', 'method_not_allowed'));
			const request = (bodyIsJson ? body : {}) as { model?: unknown; input?: unknown; dimensions?: unknown };
			const inputs = typeof request.input === 'string' ? [request.input] : request.input;
			if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((text) => typeof text === 'string')) {
				return reply(400, openAiError("'input' must be a string or a non-empty array of strings", 'invalid_request_error', null, 'input'));
			}
			if (inputs.length > 2048) return reply(400, openAiError("'input' must have at most 2048 entries", 'invalid_request_error', null, 'input'));
			const dimensions = typeof request.dimensions === 'number' && Number.isInteger(request.dimensions) && request.dimensions > 0 ? request.dimensions : EMBEDDING_DIMENSIONS;
			const tokens = (inputs as string[]).reduce((n, text) => n + wordCount(text), 0);
			return reply(200, {
				object: 'list',
				data: (inputs as string[]).map((text, index) => ({ object: 'embedding', index, embedding: sandboxEmbedding(text, dimensions) })),
				model: request.model,
				usage: { prompt_tokens: tokens, total_tokens: tokens },
			});
		}
		if (!format) {
			if (anthropicShaped) return reply(404, anthropicErrorBody('not_found_error', `Unknown request URL: ${method} ${path}`));
			return reply(404, openAiError(`Unknown request URL: ${method} ${path}`, 'invalid_request_error', 'unknown_url'));
		}
		if (method !== 'POST') {
			const message = `Method ${method} not allowed`;
			return reply(405, anthropicShaped ? anthropicErrorBody('invalid_request_error', message) : openAiError(message, 'invalid_request_error', 'method_not_allowed'));
		}
		if (!bodyIsJson || !body || typeof body !== 'object') {
			if (anthropicShaped) return reply(400, anthropicErrorBody('invalid_request_error', 'There was an error parsing the body of your request: it is not a JSON object'));
			return reply(400, openAiError('We could not parse the JSON body of your request.', 'invalid_request_error', null));
		}

		if (format === 'responses') {
			const parsed = parseResponsesRequest(body);
			if (!parsed.ok) return reply(400, parsed.error);
			const call = parsed.value;
			const answer = limitAnswer(answerChat(call.request), call.maxOutputTokens);
			const usage = usageOf(call.request, answer);
			if (call.stream) {
				await stream(buildResponseStreamEvents(call, answer, usage).map(sseFrame), responsesStreamError(2, streamFault?.body));
				return;
			}
			return reply(200, buildResponse(call, answer, usage));
		}
		if (format === 'messages' || format === 'vertex') {
			const anthropicVersion = req.headers['anthropic-version'];
			const parsed = parseMessagesRequest(
				body,
				vertex ? { api: 'vertex', vertex } : { api: 'anthropic', anthropicVersion: Array.isArray(anthropicVersion) ? anthropicVersion[0] : anthropicVersion },
			);
			if (!parsed.ok) return reply(400, parsed.error);
			const call = parsed.value;
			const answer = limitAnswer(answerChat(call.request), call.maxTokens);
			const usage = usageOf(call.request, answer);
			if (call.stream) {
				await stream(buildAnthropicStreamEvents(call, answer, usage).map(sseFrame), anthropicStreamError(streamFault?.body));
				return;
			}
			return reply(200, buildAnthropicMessage(call, answer, usage));
		}

		const request = body as ChatCompletionRequest;
		if (typeof request.model !== 'string' || request.model === '') {
			return reply(400, openAiError('you must provide a model parameter', 'invalid_request_error', null, 'model'));
		}
		if (!Array.isArray(request.messages) || request.messages.length === 0 || !request.messages.every((m) => m && typeof m.role === 'string')) {
			return reply(400, openAiError("'messages' must be a non-empty array of messages with a role", 'invalid_request_error', null, 'messages'));
		}

		if (request.stream === true && request.stream_options !== undefined && state.config.rejectStreamOptions) {
			return reply(400, openAiError('Unrecognized request argument supplied: stream_options', 'invalid_request_error', null));
		}
		const answer = answerChat(request);
		if (request.stream === true) {
			const failure = `data: ${JSON.stringify({ error: streamFault?.body ?? { message: 'The server had an error while processing your request.', type: 'server_error', code: null } })}\n\n`;
			await stream(
				buildStreamChunks(request, answer).map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`),
				failure,
				'data: [DONE]\n\n',
			);
			return;
		}
		return reply(200, buildCompletion(request, answer));
	}

	return {
		handle(req, res) {
			handle(req, res).catch((err: unknown) => {
				if (!res.headersSent) sendJson(res, 500, openAiError(`sandbox error: ${String(err)}`, 'server_error', null));
			});
		},
	};
}
