/**
 * Calls to the OpenAI-compatible LLM API with a bearer token from the shared cache: a 401 drops that
 * token and replays once (not counted as a retry); 408, 429, 5xx and network errors retry with backoff
 * and Retry-After. Never throws a raw axios error.
 */
import axios, { type AxiosResponse, type Method } from 'axios';

import { systemClock, type Clock } from './clock';
import { LlmApiError, scrubText, scrubValue } from './errors';
import { secretsOf, type ProviderConfig } from './provider-config';
import { parseRetryAfterMs, TOKEN_RETRY_POLICY, withRetries, type RetryPolicy } from './retry';
import { sharedTokenCache, type TokenCache, type TokenCacheLogger } from './token-cache';
import { networkError } from './token-client';

export const DEFAULT_LLM_TIMEOUT_MS = 60_000;
export const DEFAULT_LLM_MAX_RETRIES = 2;
/** LLM gateways ask for long pauses under load; beyond a minute the item is better failed and retried by the workflow. */
export const MAX_LLM_RETRY_AFTER_MS = 60_000;

export interface LlmCallOptions {
	provider: ProviderConfig;
	timeoutMs?: number;
	maxRetries?: number;
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

function errorMessageOf(body: unknown): { message?: string; code?: string } {
	if (!body || typeof body !== 'object') return {};
	const record = body as Record<string, unknown>;
	const nested = record.error;
	if (nested && typeof nested === 'object') {
		const error = nested as Record<string, unknown>;
		const code = typeof error.code === 'string' ? error.code : typeof error.type === 'string' ? error.type : undefined;
		return { message: typeof error.message === 'string' ? error.message : undefined, code };
	}
	if (typeof nested === 'string') {
		return {
			message: typeof record.error_description === 'string' ? `${nested}: ${record.error_description}` : nested,
			code: nested,
		};
	}
	for (const key of ['message', 'detail']) {
		if (typeof record[key] === 'string') return { message: record[key] as string };
	}
	return {};
}

function hintForStatus(status: number, replayed401: boolean): string | undefined {
	if (status === 401) {
		return replayed401
			? 'The LLM API rejected a freshly issued token too: the token is for a different audience or lacks a scope. Check Scope and Additional Token Parameters (audience / resource), and Base URL.'
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

/**
 * One LLM API call with token, 401 replay and retries. `path` is relative to the provider's base URL.
 */
export async function callLlmApi<T>(method: Method, path: string, body: unknown, options: LlmCallOptions): Promise<T> {
	const { provider } = options;
	const tokens = options.tokens ?? sharedTokenCache();
	const clock = options.clock ?? systemClock;
	const url = joinUrl(provider.baseUrl, path);
	// Same 1 s / 2 s / 4 s backoff as token requests; the retry count and Retry-After cap are the LLM's own.
	const policy: RetryPolicy = {
		...TOKEN_RETRY_POLICY,
		maxRetries: options.maxRetries ?? DEFAULT_LLM_MAX_RETRIES,
		maxRetryAfterMs: MAX_LLM_RETRY_AFTER_MS,
	};
	const context = { providerName: provider.providerName, signal: options.signal, logger: options.logger };
	let replayed401 = false;

	const attempt = async (): Promise<T> => {
		for (;;) {
			const token = await tokens.getToken(provider.tokenEndpoint, context);
			const secrets = [...secretsOf(provider.tokenEndpoint), token.accessToken];
			let response: AxiosResponse<string>;
			try {
				response = await axios.request<string>({
					method,
					url,
					data: body === undefined ? undefined : JSON.stringify(body),
					headers: {
						...provider.headers,
						Authorization: `Bearer ${token.accessToken}`,
						Accept: 'application/json',
						...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
					},
					timeout: options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS,
					signal: options.signal,
					responseType: 'text',
					transformResponse: (data: unknown) => data,
					validateStatus: () => true,
				});
			} catch (error) {
				const failure = networkError(error, `LLM API of ${provider.providerName}`, url, secrets);
				throw new LlmApiError(failure.message, {
					providerName: provider.providerName,
					code: failure.code,
					retryable: failure.retryable,
					hint: failure.aborted ? undefined : 'Check Base URL and that n8n can reach it; raise Timeout for slow models.',
				});
			}

			// RFC 6750 §3.1: invalid_token. The cached token may have been revoked or expired early:
			// drop it (if nobody has yet) and replay once with a fresh one.
			if (response.status === 401 && !replayed401) {
				replayed401 = true;
				tokens.invalidate(provider.tokenEndpoint, token.accessToken);
				continue;
			}

			const text = String(response.data ?? '');
			const parsed = parseJson(text);
			if (response.status >= 200 && response.status < 300) {
				if (parsed === undefined) {
					throw new LlmApiError(
						`The LLM API of ${provider.providerName} answered HTTP ${response.status} with something that is not JSON`,
						{ providerName: provider.providerName, status: response.status, hint: hintForStatus(404, false) },
					);
				}
				return parsed as T;
			}

			const { message, code } = errorMessageOf(parsed);
			const status = response.status;
			const retryAfter = response.headers['retry-after'] as unknown;
			throw new LlmApiError(
				`The LLM API of ${provider.providerName} answered HTTP ${status}${message ? `: ${scrubText(message, secrets)}` : ''}`,
				{
					providerName: provider.providerName,
					status,
					code,
					retryable: status === 408 || status === 429 || status >= 500,
					retryAfterMs: parseRetryAfterMs(retryAfter, clock.nowMs()),
					responseBody: scrubValue(parsed ?? text.slice(0, 500), secrets),
					hint: hintForStatus(status, replayed401),
				},
			);
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
