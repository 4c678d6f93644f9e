/**
 * Calls to the LLM API with a bearer token from the shared cache, in the format the credential names
 * (wire-format.ts picks the module; everything here is the same for every format): a 401 drops that
 * token and replays once (not counted as a retry); 408, 429, 5xx (Anthropic's 529 "overloaded"
 * included) and network errors retry with backoff and Retry-After. The wire rules (no redirects, size
 * limit, deadline) are http.ts's. Never throws a raw axios error, and every word that came from the
 * server is bounded and scrubbed of the secrets and of every access token this call sent.
 */
import type { Method } from 'axios';

import { systemClock, type Clock } from '../core/clock';
import { LlmApiError, markScrubbed } from '../core/errors';
import { exchange, isTransientFailure, openStream, redirectTarget, tlsFailureHint, TransportFailure, type HttpAnswer, type StreamingAnswer } from '../transport/http';
import {
	assistantText,
	chatCompletionsWire,
	SseDecoder,
	ToolCallAssembler,
	ToolCallLimitError,
	toolCallsOf,
	usageOf,
	type ChatCompletionResponse,
	type ChatDelta,
} from './openai-wire';
import { callApiSettings, wireFormatOf, type ChatRequest, type WireFormat } from './wire-format';
import { secretsOf, type ApiSettings, type ProviderConfig } from '../config/provider-config';
import { providerWordsOf } from '../core/provider-error';
import { parseRetryAfterMs, TOKEN_RETRY_POLICY, withRetries, type RetryPolicy } from '../transport/retry';
import { boundedServerText, scrubValue, secretHeaderValues, urlForMessage } from '../core/scrub';
import { sharedTokenCache, type TokenCache, type TokenCacheLogger } from '../auth/token-cache';

export const DEFAULT_LLM_TIMEOUT_MS = 60_000;
export const DEFAULT_LLM_MAX_RETRIES = 2;
/** LLM gateways ask for long pauses under load; beyond a minute the item is better failed and retried by the workflow. */
export const MAX_LLM_RETRY_AFTER_MS = 60_000;
/** Default limit of one LLM answer (after decompression): far above any chat answer, far below trouble. */
export const DEFAULT_MAX_RESPONSE_SIZE_MB = 32;
export const MAX_RESPONSE_SIZE_MB_LIMIT = 1024;

export interface LlmCallOptions {
	provider: ProviderConfig;
	/** Deadline of one HTTP exchange with the LLM API, connect to last byte. */
	timeoutMs?: number;
	maxRetries?: number;
	/** Largest answer accepted, in MiB, counted after decompression. */
	maxResponseSizeMb?: number;
	signal?: AbortSignal;
	tokens?: TokenCache;
	clock?: Clock;
	logger?: TokenCacheLogger;
	/** The API settings of this call (a node's options over the credential's); the credential's when unset. */
	api?: ApiSettings;
}

/** Appends `path` to the base URL's path, keeping its query (Azure's `?api-version=`). */
export function joinUrl(baseUrl: string, path: string): string {
	const url = new URL(baseUrl);
	url.pathname = `${url.pathname.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
	return url.toString();
}

/**
 * The call's URL, joined once per configuration (a provider is parsed once per execution and called
 * once per item), and forgotten with it: a Base URL may carry a key in its query.
 */
const urlsByProvider = new WeakMap<ProviderConfig, Map<string, string>>();

function apiUrl(provider: ProviderConfig, path: string): string {
	let urls = urlsByProvider.get(provider);
	if (!urls) {
		urls = new Map();
		urlsByProvider.set(provider, urls);
	}
	let url = urls.get(path);
	if (url === undefined) {
		url = joinUrl(provider.baseUrl, path);
		urls.set(path, url);
	}
	return url;
}

function hintForStatus(status: number, freshTokenRejected: boolean, wire: WireFormat): string | undefined {
	if (status === 401) {
		return freshTokenRejected
			? 'The LLM API rejected a freshly issued token: the token is for a different audience or lacks a scope. Check Scope and Additional Token Parameters (audience / resource), and Base URL.'
			: 'Check the credential.';
	}
	if (status === 403) return 'The token is valid but not allowed to do this: check Scope, and the model or deployment permissions at the provider.';
	if (status === 404) return `Check Base URL (${wire.baseUrlHint}), API Format (now ${wire.label}) and the model name.`;
	if (status === 429) return 'The provider is rate limiting: lower Concurrency, or raise Max Retries.';
	if (status === 529) return 'The provider is overloaded (HTTP 529): try again later, or raise Max Retries.';
	if (status >= 500) return 'The LLM API failed; try again later.';
	return undefined;
}

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text) as unknown;
	} catch {
		return undefined;
	}
}

const isRetryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

function transportError(failure: TransportFailure, providerName: string, url: string, secrets: string[], maxBytes: number, retryable = isTransientFailure(failure)): LlmApiError {
	const hint =
		tlsFailureHint(failure, 'LLM API') ??
		(failure.kind === 'aborted'
			? undefined
			: failure.kind === 'blocked'
				? 'An n8n administrator restricts which hosts n8n may reach (N8N_SSRF_PROTECTION_ENABLED); ask them to allow the LLM API (N8N_SSRF_ALLOWED_HOSTNAMES or N8N_SSRF_ALLOWED_IP_RANGES).'
				: failure.kind === 'too-large'
				? `Raise Max Response Size (MB) if such large answers are expected (now ${maxBytes / 1024 / 1024} MB), or check Base URL.`
				: failure.kind === 'deadline'
					? 'Raise Timeout for slow models, or check that n8n can reach the LLM API.'
					: 'Check Base URL and that n8n can reach it; raise Timeout for slow models.');
	return scrubbed(
		new LlmApiError(`The LLM API of ${providerName} at ${urlForMessage(url, secrets)} failed: ${boundedServerText(failure.message, secrets, 300)}`, {
			providerName,
			code: failure.code,
			retryable,
			hint,
		}),
		secrets,
	);
}

/** Marks an error made of server text scrubbed of `secrets` (n8n-errors.ts then scrubs only of the rest). */
function scrubbed<E extends Error>(error: E, secrets: string[]): E {
	markScrubbed(error, secrets);
	return error;
}

/** What every call to the LLM API shares: its URL, limits, retry policy and the secrets to scrub. */
interface Call {
	options: LlmCallOptions;
	wire: WireFormat;
	/** Headers of the format (Anthropic's version), under the credential's own. */
	formatHeaders: Record<string, string>;
	tokens: TokenCache;
	clock: Clock;
	url: string;
	maxResponseBytes: number;
	policy: RetryPolicy;
	/** The provider's secrets, and every access token this call sent: a server may echo an earlier one in a later error. */
	secrets: string[];
	replayed401: boolean;
}

function startCall(path: string, options: LlmCallOptions): Call {
	const { provider } = options;
	const wire = wireFormatOf(provider.api.format);
	const sizeMb = Number(options.maxResponseSizeMb ?? DEFAULT_MAX_RESPONSE_SIZE_MB);
	// An expression may yield anything: NaN would mean "no limit" to axios.
	const maxResponseBytes = Math.round(Math.min(MAX_RESPONSE_SIZE_MB_LIMIT, Math.max(1, Number.isFinite(sizeMb) ? sizeMb : DEFAULT_MAX_RESPONSE_SIZE_MB)) * 1024 * 1024);
	return {
		options,
		wire,
		formatHeaders: wire.headers(options.api ?? provider.api),
		tokens: options.tokens ?? sharedTokenCache(),
		clock: options.clock ?? systemClock,
		url: apiUrl(provider, path),
		maxResponseBytes,
		// Same 1 s / 2 s / 4 s backoff as token requests; the retry count and Retry-After cap are the LLM's own.
		policy: { ...TOKEN_RETRY_POLICY, maxRetries: options.maxRetries ?? DEFAULT_LLM_MAX_RETRIES, maxRetryAfterMs: MAX_LLM_RETRY_AFTER_MS },
		secrets: [...secretsOf(provider.tokenEndpoint), ...secretHeaderValues(provider.headers)],
		replayed401: false,
	};
}

/** A token from the cache for one attempt (every attempt asks again: the token may have been renewed). */
async function tokenFor(call: Call): Promise<string> {
	const { provider, signal, logger } = call.options;
	const token = await call.tokens.getToken(provider.tokenEndpoint, { providerName: provider.providerName, signal, logger });
	if (!call.secrets.includes(token.accessToken)) call.secrets.push(token.accessToken);
	return token.accessToken;
}

function requestHeaders(call: Call, accessToken: string, hasBody: boolean, accept: string): Record<string, string> {
	return {
		...call.formatHeaders,
		...call.options.provider.headers,
		Authorization: `Bearer ${accessToken}`,
		Accept: accept,
		...(hasBody ? { 'Content-Type': 'application/json' } : {}),
	};
}

/**
 * RFC 6750 §3.1 invalid_token: the cached token may have been revoked or expired early. `'replay'`:
 * it was dropped (if nobody had yet), try once more with a fresh one; otherwise whether the rejected
 * token was a fresh one (for the hint).
 */
function after401(call: Call, status: number, accessToken: string): 'replay' | { freshTokenRejected: boolean } {
	if (status !== 401 || call.replayed401) return { freshTokenRejected: call.replayed401 };
	call.replayed401 = true;
	if (call.tokens.invalidate(call.options.provider.tokenEndpoint, accessToken) !== 'kept') return 'replay';
	return { freshTokenRejected: true };
}

function retrying<T>(call: Call, attempt: () => Promise<T>): Promise<T> {
	return withRetries(
		attempt,
		(error) => {
			if (error instanceof LlmApiError) return { retryable: error.retryable, retryAfterMs: error.retryAfterMs };
			// Token errors (OAuth2AuthenticationError) were already retried by the token cache.
			return { retryable: false };
		},
		{ policy: call.policy, clock: call.clock, signal: call.options.signal },
	);
}

/**
 * One LLM API call with token, 401 replay and retries. `path` is relative to the provider's base URL.
 */
export async function callLlmApi<T>(method: Method, path: string, body: unknown, options: LlmCallOptions): Promise<T> {
	return await callWith<T>(startCall(path, options), method, body);
}

async function callWith<T>(call: Call, method: Method, body: unknown): Promise<T> {
	const { options } = call;
	const { provider } = options;
	const requestBody = body === undefined ? undefined : JSON.stringify(body);
	return await retrying(call, async () => {
		for (;;) {
			const accessToken = await tokenFor(call);
			let answer: HttpAnswer;
			try {
				answer = await exchange({
					method,
					url: call.url,
					body: requestBody,
					headers: requestHeaders(call, accessToken, requestBody !== undefined, 'application/json'),
					maxResponseBytes: call.maxResponseBytes,
					deadlineMs: options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS,
					signal: options.signal,
					tls: provider.apiTls,
				});
			} catch (error) {
				if (!(error instanceof TransportFailure)) throw error;
				throw transportError(error, provider.providerName, call.url, call.secrets, call.maxResponseBytes);
			}
			const verdict = after401(call, answer.status, accessToken);
			if (verdict === 'replay') continue;
			return interpret<T>(answer, { providerName: provider.providerName, url: call.url, secrets: call.secrets, clock: call.clock, freshTokenRejected: verdict.freshTokenRejected, wire: call.wire });
		}
	});
}

/**
 * How long a streamed answer may send nothing before it counts as stalled: 30 s, or half of Timeout
 * when that is longer (a reasoning model may think for a while before its first word), never more than
 * Timeout.
 */
export const STREAM_IDLE_TIMEOUT_MS = 30_000;
export const streamIdleTimeoutMs = (timeoutMs: number) => Math.min(timeoutMs, Math.max(STREAM_IDLE_TIMEOUT_MS, timeoutMs / 2));

/** Metadata deltas kept before the first word of a stream. */
const MAX_LEADING_META = 8;

/** Base URLs whose gateway refused `stream_options`: asked without it from then on (this process). */
const rejectsStreamOptions = new Set<string>();

/** Whether a 400 says that `stream_options` is what the gateway does not take (Azure: "Unrecognized request argument supplied: stream_options"). */
function refusesStreamOptions(answer: HttpAnswer): boolean {
	return answer.status === 400 && /stream_options/i.test(answer.bodyText.slice(0, 4096));
}

export type StreamOptions = LlmCallOptions & { idleTimeoutMs?: number };

/** A Chat Completions body streamed as it is (the benchmarks and the tests of the stream rules use it). */
export function streamChatCompletion(body: Record<string, unknown>, options: StreamOptions): AsyncGenerator<ChatDelta, void, undefined> {
	return streamAnswer('chat/completions', body, { ...options, provider: { ...options.provider, api: { ...options.provider.api, format: chatCompletionsWire.format } } });
}

/** One chat call in the credential's format, streamed: the deltas in the package's own shape. */
export function streamChat(request: ChatRequest, options: StreamOptions): AsyncGenerator<ChatDelta, void, undefined> {
	const { api, body, path } = prepared(request, options, true);
	return streamAnswer(path, body, { ...options, api });
}

/**
 * A streamed answer: the deltas as they arrive. Token, 401 replay and retries as callLlmApi, but only
 * until the first delta is handed on: after that, a failure ends the stream with an error (the caller
 * has passed the first words on already). A gateway that refuses `stream_options` is asked again
 * without it; one that answers plain JSON is read as one answer.
 */
async function* streamAnswer(path: string, body: Record<string, unknown>, options: StreamOptions): AsyncGenerator<ChatDelta, void, undefined> {
	const call = startCall(path, options);
	const { provider } = options;
	const providerName = provider.providerName;
	const deadlineMs = options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS;
	const wire: Record<string, unknown> = { ...body, stream: true };
	if (rejectsStreamOptions.has(provider.baseUrl)) delete wire.stream_options;
	const failed = (error: unknown, retryable: boolean): LlmApiError =>
		error instanceof TransportFailure
			? transportError(error, providerName, call.url, call.secrets, call.maxResponseBytes, retryable)
			: (error as LlmApiError);

	const opened = await retrying(call, async () => {
		for (;;) {
			const accessToken = await tokenFor(call);
			let answer: StreamingAnswer;
			try {
				answer = await openStream({
					method: 'POST',
					url: call.url,
					body: JSON.stringify(wire),
					headers: requestHeaders(call, accessToken, true, 'text/event-stream, application/json'),
					maxResponseBytes: call.maxResponseBytes,
					deadlineMs,
					idleTimeoutMs: options.idleTimeoutMs ?? streamIdleTimeoutMs(deadlineMs),
					signal: options.signal,
					tls: provider.apiTls,
				});
			} catch (error) {
				if (!(error instanceof TransportFailure)) throw error;
				throw failed(error, isTransientFailure(error));
			}
			if (answer.bodyText !== undefined) {
				const whole: HttpAnswer = { status: answer.status, headers: answer.headers, bodyText: answer.bodyText };
				if (wire.stream_options !== undefined && refusesStreamOptions(whole)) {
					delete wire.stream_options;
					rejectsStreamOptions.add(provider.baseUrl);
					continue;
				}
				const verdict = after401(call, answer.status, accessToken);
				if (verdict === 'replay') continue;
				interpret(whole, { providerName, url: call.url, secrets: call.secrets, clock: call.clock, freshTokenRejected: verdict.freshTokenRejected, wire: call.wire });
			}
			// Up to the first delta worth handing on, a failure is still retried like any other.
			const reader = chatStreamReader(answer, providerName, call);
			try {
				const first: ChatDelta[] = [];
				for (;;) {
					const next = await reader.next();
					if (next.done) return { reader, first };
					// Metadata repeats add nothing (StreamedAnswer keeps the first id and model): a server
					// sending them without end does not fill memory before the first word.
					if (next.value.kind === 'meta' && first.length >= MAX_LEADING_META) continue;
					first.push(next.value);
					if (next.value.kind !== 'meta') return { reader, first };
				}
			} catch (error) {
				answer.close();
				throw failed(error, error instanceof TransportFailure && isTransientFailure(error));
			}
		}
	});
	try {
		yield* opened.first;
		yield* opened.reader;
	} catch (error) {
		throw failed(error, false);
	} finally {
		// A consumer that stops early (or fails) closes the connection now, not when the idle timer fires.
		await opened.reader.return(undefined);
	}
}

/** The deltas of an open 2xx answer: SSE, or a whole JSON answer from a gateway that does not stream. */
async function* chatStreamReader(answer: StreamingAnswer, providerName: string, call: Call): AsyncGenerator<ChatDelta, void, undefined> {
	const contentType = typeof answer.headers['content-type'] === 'string' ? answer.headers['content-type'] : '';
	try {
		if (/application\/json/i.test(contentType)) {
			let text = '';
			for await (const piece of answer.chunks) text += piece;
			const whole = interpret<unknown>({ status: answer.status, headers: answer.headers, bodyText: text }, { providerName, url: call.url, secrets: call.secrets, clock: call.clock, freshTokenRejected: false, wire: call.wire });
			yield* bounded([...deltasOfCompletion(completionIn(whole, call))], new ToolCallAssembler(), providerName);
			return;
		}
		const decoder = new SseDecoder();
		const tools = new ToolCallAssembler();
		const read = call.wire.streamReader();
		let events = 0;
		for await (const piece of answer.chunks) {
			let decoded;
			try {
				decoded = decoder.push(piece);
			} catch (error) {
				throw new LlmApiError(`The LLM API of ${providerName} sent a stream that cannot be read: ${(error as Error).message}`, { providerName, hint: 'Turn off Streaming in the node\'s options if this gateway does not stream.' });
			}
			for (const event of decoded) {
				events += 1;
				const step = read(event);
				if ('error' in step) throw streamError(step.error, providerName, call.secrets);
				yield* bounded(step.deltas, tools, providerName);
				if (step.end) return;
			}
		}
		for (const event of decoder.end()) {
			events += 1;
			const step = read(event);
			if ('error' in step) throw streamError(step.error, providerName, call.secrets);
			yield* bounded(step.deltas, tools, providerName);
			if (step.end) return;
		}
		// A format that ends its answers with an event of its own: without it the answer may be cut short
		// (a dropped connection, a tool call's arguments half sent), and is not passed on as whole.
		if (call.wire.streamEnd !== undefined && events === 0) {
			// Not an event stream at all (a gateway that answers stream: true with a body of another type): asking again would not help.
			throw new LlmApiError(`The LLM API of ${providerName} answered a streamed call with no server-sent events`, {
				providerName,
				hint: 'Turn off Streaming in the node\'s options if this gateway does not stream.',
			});
		}
		if (call.wire.streamEnd !== undefined) {
			throw new LlmApiError(`The LLM API of ${providerName} ended the stream before its end (${call.wire.streamEnd}): the answer may be cut short`, {
				providerName,
				// Before the first word this is retried like a dropped connection.
				retryable: true,
				hint: 'The answer was not used; run the item again. If it keeps happening, turn off Streaming in the node\'s options.',
			});
		}
	} finally {
		answer.close();
	}
}

/** Tool-call fragments within the bounds of ToolCallAssembler; a stream beyond them fails. */
function* bounded(deltas: ChatDelta[], tools: ToolCallAssembler, providerName: string): Generator<ChatDelta> {
	for (const delta of deltas) {
		if (delta.kind === 'tool') {
			try {
				tools.add(delta);
			} catch (error) {
				if (!(error instanceof ToolCallLimitError)) throw error;
				throw new LlmApiError(`The LLM API of ${providerName} streamed ${error.message}`, { providerName, hint: 'This is not an answer a workflow can use; check the model and the tools offered to it.' });
			}
		}
		yield delta;
	}
}

/**
 * Error events that say the provider is busy or failed for a moment (Anthropic sends `overloaded_error`
 * after HTTP 200, often right after message_start): retried like a 503 while no word has been handed on.
 */
const TRANSIENT_STREAM_ERRORS = new Set(['overloaded_error', 'api_error', 'server_error', 'rate_limit_error', 'rate_limit_exceeded']);

function streamError(body: unknown, providerName: string, secrets: string[]): LlmApiError {
	const words = providerWordsOf(body, typeof body === 'string' ? body : JSON.stringify(body));
	const message = words.message === undefined ? '' : `: ${boundedServerText(words.message, secrets)}`;
	return scrubbed(
		new LlmApiError(`The LLM API of ${providerName} ended the stream with an error${message}`, {
			providerName,
			code: words.code === undefined ? undefined : boundedServerText(words.code, secrets, 100),
			retryable: words.code !== undefined && TRANSIENT_STREAM_ERRORS.has(words.code),
			responseBody: scrubValue(body, secrets),
			hint: 'The answer broke off midway and was not used; run the item again. If it keeps happening, turn off Streaming in the node\'s options.',
		}),
		secrets,
	);
}

/** A whole answer as the deltas a stream would have sent. */
function* deltasOfCompletion(response: ChatCompletionResponse): Generator<ChatDelta> {
	yield { kind: 'meta', id: response.id, model: response.model };
	const choice = response.choices?.[0];
	const text = assistantText(choice?.message?.content);
	if (text !== '') yield { kind: 'text', text };
	for (const [index, call] of toolCallsOf(choice?.message?.tool_calls).entries()) {
		yield { kind: 'tool', index, id: call.id, name: call.function.name, arguments: call.function.arguments };
	}
	if (choice?.finish_reason) yield { kind: 'finish', reason: choice.finish_reason };
	const usage = usageOf(response.usage);
	if (usage) yield { kind: 'usage', usage, raw: response.usage };
}

/** A 2xx answer in the package's shape, or the error it carries, in the provider's words. */
function completionIn(raw: unknown, call: Call): ChatCompletionResponse {
	const completion = call.wire.completionOf(raw);
	if (!('error' in completion)) return completion;
	const providerName = call.options.provider.providerName;
	const words = providerWordsOf(completion.error, JSON.stringify(completion.error) ?? '');
	throw scrubbed(
		new LlmApiError(`The LLM API of ${providerName} answered with an error${words.message === undefined ? '' : `: ${boundedServerText(words.message, call.secrets)}`}`, {
			providerName,
			code: words.code === undefined ? undefined : boundedServerText(words.code, call.secrets, 100),
			responseBody: scrubValue(completion.error, call.secrets),
		}),
		call.secrets,
	);
}

/** The LLM API's answer → its JSON, or an LlmApiError in the provider's own words (bounded, scrubbed). */
function interpret<T>(
	answer: HttpAnswer,
	context: { providerName: string; url: string; secrets: string[]; clock: Clock; freshTokenRejected: boolean; wire: WireFormat },
): T {
	const { providerName, secrets } = context;
	const status = answer.status;
	const location = redirectTarget(answer);
	if (location !== undefined) {
		// A followed redirect would carry the prompt, the token and the credential's headers to wherever the server says.
		throw new LlmApiError(
			`The LLM API of ${providerName} redirects (HTTP ${status}) to ${urlForMessage(location, secrets, context.url)}; redirects are not followed`,
			{ providerName, status, hint: 'Put the final API URL in Base URL.' },
		);
	}
	const parsed = parseJson(answer.bodyText);
	if (status >= 200 && status < 300) {
		if (parsed === undefined) {
			throw new LlmApiError(`The LLM API of ${providerName} answered HTTP ${status} with something that is not JSON`, {
				providerName,
				status,
				hint: hintForStatus(404, false, context.wire),
			});
		}
		return parsed as T;
	}
	const words = providerWordsOf(parsed, answer.bodyText);
	const message = words.message === undefined ? '' : `: ${boundedServerText(words.message, secrets)}`;
	const retryable = isRetryableStatus(status);
	const retryAfterMs = parseRetryAfterMs(answer.headers['retry-after'], context.clock.wallNowMs());
	const waitNote =
		retryable && retryAfterMs !== undefined && retryAfterMs > MAX_LLM_RETRY_AFTER_MS
			? ` (it asks to retry after ${Math.ceil(retryAfterMs / 1000)} s, longer than this node waits)`
			: '';
	throw scrubbed(
		new LlmApiError(`The LLM API of ${providerName} answered HTTP ${status}${message}${waitNote}`, {
			providerName,
			status,
			code: words.code === undefined ? undefined : boundedServerText(words.code, secrets, 100),
			retryable,
			retryAfterMs,
			responseBody: scrubValue(parsed ?? answer.bodyText, secrets),
			hint: hintForStatus(status, context.freshTokenRejected, context.wire),
		}),
		secrets,
	);
}

export type { ChatCompletionResponse } from './openai-wire';

/** A Chat Completions body sent as it is (tests of the call rules use it). */
export async function createChatCompletion(
	request: Record<string, unknown>,
	options: LlmCallOptions,
): Promise<ChatCompletionResponse> {
	return await callLlmApi<ChatCompletionResponse>('POST', 'chat/completions', request, options);
}

/** The format's module, the call's API settings, its body and its path. */
function prepared(request: ChatRequest, options: LlmCallOptions, stream: boolean) {
	const wire = wireFormatOf(options.provider.api.format);
	const api = callApiSettings(options.api ?? options.provider.api, request.settings);
	return { api, body: wire.chatBody(request, api, stream), path: wire.chatPath(request.settings.model, stream) };
}

/** One chat call in the credential's format: the answer in the package's shape, and as the provider gave it. */
export async function completeChat(request: ChatRequest, options: LlmCallOptions): Promise<{ completion: ChatCompletionResponse; raw: unknown }> {
	const { api, body, path } = prepared(request, options, false);
	const call = startCall(path, { ...options, api });
	const raw = await callWith<unknown>(call, 'POST', body);
	// Scrubbed of every token this call sent, should the answer carry an error.
	return { completion: completionIn(raw, call), raw };
}

/** The model ids of GET {Base URL}/models, where the credential's format has a list. */
export async function listModels(options: LlmCallOptions): Promise<string[]> {
	const wire = wireFormatOf(options.provider.api.format);
	if (wire.modelsPath === undefined) {
		throw new LlmApiError(`The ${wire.label} format of ${options.provider.providerName} has no model list`, {
			providerName: options.provider.providerName,
			hint: 'Switch Model to "By Name" and type the model id, e.g. claude-sonnet-4@20250514.',
		});
	}
	const answer = await callLlmApi<{ data?: Array<{ id?: unknown }> }>('GET', wire.modelsPath, undefined, options);
	return (answer.data ?? [])
		.map((model) => model.id)
		.filter((id): id is string => typeof id === 'string')
		.sort((a, b) => a.localeCompare(b));
}
