/**
 * Calls to the OpenAI-compatible LLM API with a bearer token from the shared cache: a 401 drops that
 * token and replays once (not counted as a retry); 408, 429, 5xx and network errors retry with backoff
 * and Retry-After. The wire rules (no redirects, size limit, deadline) are http.ts's. Never throws a
 * raw axios error, and every word that came from the server is bounded and scrubbed of the secrets and
 * of every access token this call sent.
 */
import type { Method } from 'axios';

import { systemClock, type Clock } from './clock';
import { LlmApiError } from './errors';
import { exchange, isTransientFailure, redirectTarget, tlsFailureHint, TransportFailure, type HttpAnswer } from './http';
import { secretsOf, type ProviderConfig } from './provider-config';
import { providerWordsOf } from './provider-error';
import { parseRetryAfterMs, TOKEN_RETRY_POLICY, withRetries, type RetryPolicy } from './retry';
import { boundedServerText, scrubValue, secretHeaderValues, urlForMessage } from './scrub';
import { sharedTokenCache, type TokenCache, type TokenCacheLogger } from './token-cache';

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
}

/** Appends `path` to the base URL's path, keeping its query (Azure's `?api-version=`). */
export function joinUrl(baseUrl: string, path: string): string {
	const url = new URL(baseUrl);
	url.pathname = `${url.pathname.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
	return url.toString();
}

function hintForStatus(status: number, freshTokenRejected: boolean): string | undefined {
	if (status === 401) {
		return freshTokenRejected
			? 'The LLM API rejected a freshly issued token: the token is for a different audience or lacks a scope. Check Scope and Additional Token Parameters (audience / resource), and Base URL.'
			: 'Check the credential.';
	}
	if (status === 403) return 'The token is valid but not allowed to do this: check Scope, and the model or deployment permissions at the provider.';
	if (status === 404) return 'Check Base URL (it should end where /chat/completions and /models begin, e.g. https://host/v1) and the model name.';
	if (status === 429) return 'The provider is rate limiting: lower Concurrency, or raise Max Retries.';
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

function transportError(failure: TransportFailure, providerName: string, url: string, secrets: string[], maxBytes: number): LlmApiError {
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
	return new LlmApiError(`The LLM API of ${providerName} at ${urlForMessage(url, secrets)} failed: ${failure.message}`, {
		providerName,
		code: failure.code,
		retryable: isTransientFailure(failure),
		hint,
	});
}

/**
 * One LLM API call with token, 401 replay and retries. `path` is relative to the provider's base URL.
 */
export async function callLlmApi<T>(method: Method, path: string, body: unknown, options: LlmCallOptions): Promise<T> {
	const { provider } = options;
	const tokens = options.tokens ?? sharedTokenCache();
	const clock = options.clock ?? systemClock;
	const url = joinUrl(provider.baseUrl, path);
	const sizeMb = Number(options.maxResponseSizeMb ?? DEFAULT_MAX_RESPONSE_SIZE_MB);
	// An expression may yield anything: NaN would mean "no limit" to axios.
	const maxResponseBytes = Math.round(Math.min(MAX_RESPONSE_SIZE_MB_LIMIT, Math.max(1, Number.isFinite(sizeMb) ? sizeMb : DEFAULT_MAX_RESPONSE_SIZE_MB)) * 1024 * 1024);
	// Same 1 s / 2 s / 4 s backoff as token requests; the retry count and Retry-After cap are the LLM's own.
	const policy: RetryPolicy = {
		...TOKEN_RETRY_POLICY,
		maxRetries: options.maxRetries ?? DEFAULT_LLM_MAX_RETRIES,
		maxRetryAfterMs: MAX_LLM_RETRY_AFTER_MS,
	};
	const context = { providerName: provider.providerName, signal: options.signal, logger: options.logger };
	const requestBody = body === undefined ? undefined : JSON.stringify(body);
	// Every access token this call sent: a server may echo an earlier one in a later error.
	const secrets = [...secretsOf(provider.tokenEndpoint), ...secretHeaderValues(provider.headers)];
	let replayed401 = false;

	const attempt = async (): Promise<T> => {
		for (;;) {
			const token = await tokens.getToken(provider.tokenEndpoint, context);
			if (!secrets.includes(token.accessToken)) secrets.push(token.accessToken);
			let answer: HttpAnswer;
			try {
				answer = await exchange({
					method,
					url,
					body: requestBody,
					headers: {
						...provider.headers,
						Authorization: `Bearer ${token.accessToken}`,
						Accept: 'application/json',
						...(requestBody === undefined ? {} : { 'Content-Type': 'application/json' }),
					},
					maxResponseBytes,
					deadlineMs: options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS,
					signal: options.signal,
					tls: provider.apiTls,
				});
			} catch (error) {
				if (!(error instanceof TransportFailure)) throw error;
				throw transportError(error, provider.providerName, url, secrets, maxResponseBytes);
			}

			// RFC 6750 §3.1: invalid_token. The cached token may have been revoked or expired early:
			// drop it (if nobody has yet) and replay once with a fresh one, unless it was fresh itself.
			let freshTokenRejected = false;
			if (answer.status === 401 && !replayed401) {
				replayed401 = true;
				if (tokens.invalidate(provider.tokenEndpoint, token.accessToken) !== 'kept') continue;
				freshTokenRejected = true;
			}
			return interpret<T>(answer, { providerName: provider.providerName, url, secrets, clock, freshTokenRejected: freshTokenRejected || replayed401 });
		}
	};

	return await withRetries(
		attempt,
		(error) => {
			if (error instanceof LlmApiError) return { retryable: error.retryable, retryAfterMs: error.retryAfterMs };
			// Token errors (OAuth2AuthenticationError) were already retried by the token cache.
			return { retryable: false };
		},
		{ policy, clock, signal: options.signal },
	);
}

/** The LLM API's answer → its JSON, or an LlmApiError in the provider's own words (bounded, scrubbed). */
function interpret<T>(
	answer: HttpAnswer,
	context: { providerName: string; url: string; secrets: string[]; clock: Clock; freshTokenRejected: boolean },
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
				hint: hintForStatus(404, false),
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
	throw new LlmApiError(`The LLM API of ${providerName} answered HTTP ${status}${message}${waitNote}`, {
		providerName,
		status,
		code: words.code === undefined ? undefined : boundedServerText(words.code, secrets, 100),
		retryable,
		retryAfterMs,
		responseBody: scrubValue(parsed ?? answer.bodyText, secrets),
		hint: hintForStatus(status, context.freshTokenRejected),
	});
}

export interface ChatMessage {
	role: string;
	content: string | null;
	[key: string]: unknown;
}

export interface ChatCompletionResponse {
	id?: string;
	model?: string;
	choices?: Array<{ index?: number; message?: ChatMessage; finish_reason?: string | null }>;
	usage?: Record<string, unknown>;
	[key: string]: unknown;
}

export async function createChatCompletion(
	request: Record<string, unknown>,
	options: LlmCallOptions,
): Promise<ChatCompletionResponse> {
	return await callLlmApi<ChatCompletionResponse>('POST', 'chat/completions', request, options);
}

export async function listModels(options: LlmCallOptions): Promise<string[]> {
	const answer = await callLlmApi<{ data?: Array<{ id?: unknown }> }>('GET', 'models', undefined, options);
	return (answer.data ?? [])
		.map((model) => model.id)
		.filter((id): id is string => typeof id === 'string')
		.sort((a, b) => a.localeCompare(b));
}
