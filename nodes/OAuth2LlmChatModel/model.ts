/**
 * The chat model the AI Agent and the LLM chains call, built on n8n's AI node SDK (@n8n/ai-node-sdk,
 * supplied by n8n itself): n8n wraps it into its LangChain adapter (bindTools, callbacks, tracing).
 *
 * Every generate() goes through ../shared/chat-client.ts, which takes the access token from the
 * process-wide cache at CALL time: an agent run that outlives a token gets a fresh one on its next
 * model call, and a 401 drops the token and replays once. Retries (429/5xx, Retry-After) live there
 * too, so nothing here retries, and every failure is worded by ../shared/n8n-errors.ts.
 */
import {
	BaseChatModel,
	type ChatModelConfig,
	type GenerateResult,
	type Message,
	type StreamChunk,
} from '@n8n/ai-node-sdk';
import type { INode } from 'n8n-workflow';

import { createChatCompletion } from '../shared/chat-client';
import { toNodeError } from '../shared/n8n-errors';
import { knownSecrets } from '../shared/credential';
import type { ProviderConfig } from '../shared/provider-config';
import type { TokenCacheLogger } from '../shared/token-cache';
import { buildChatCompletionRequest, fromChatCompletion, type ChatRequestSettings } from './openai-chat';

export const PROVIDER_ID = 'oauth2-llm';

export interface OAuth2ChatModelConfig extends ChatModelConfig {
	responseFormat?: ChatRequestSettings['responseFormat'];
	maxResponseSizeMb?: number;
}

/** What a model call needs besides its settings; fixed when n8n supplies the model. */
export interface ModelRuntime {
	provider: ProviderConfig;
	/** The model node, for n8n errors. */
	node: INode;
	logger?: TokenCacheLogger;
	/** Aborts when the n8n execution is cancelled. */
	executionSignal?: AbortSignal;
}

/**
 * Call-time settings over the node's: LangChain hands its call options (signal, callbacks, tags…)
 * in as `config`; a key it sets to undefined must not erase the node's value.
 */
function merged(base: OAuth2ChatModelConfig | undefined, config: OAuth2ChatModelConfig | undefined): OAuth2ChatModelConfig {
	const result: Record<string, unknown> = { ...(base ?? {}) };
	for (const [key, value] of Object.entries(config ?? {})) if (value !== undefined) result[key] = value;
	return result as OAuth2ChatModelConfig;
}

function anySignal(signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
	const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
	if (present.length <= 1) return present[0];
	return AbortSignal.any(present);
}

export class OAuth2ChatModel extends BaseChatModel<OAuth2ChatModelConfig> {
	private readonly runtime: ModelRuntime;

	constructor(modelId: string, runtime: ModelRuntime, config?: OAuth2ChatModelConfig) {
		super(PROVIDER_ID, modelId, config);
		this.runtime = runtime;
	}

	async generate(messages: Message[], config?: OAuth2ChatModelConfig): Promise<GenerateResult> {
		const { provider, node, logger, executionSignal } = this.runtime;
		const settings = merged(this.defaultConfig, config);
		// LangChain passes its own AbortSignal as `signal`, the SDK's contract calls it `abortSignal`.
		const callSignal = settings.abortSignal ?? (config as { signal?: AbortSignal } | undefined)?.signal;
		try {
			const request = buildChatCompletionRequest(
				{
					model: this.modelId,
					temperature: settings.temperature,
					maxTokens: settings.maxTokens,
					topP: settings.topP,
					stopSequences: settings.stopSequences,
					responseFormat: settings.responseFormat,
				},
				messages,
				this.tools,
			);
			const response = await createChatCompletion(request, {
				provider,
				timeoutMs: settings.timeout,
				maxRetries: settings.maxRetries,
				maxResponseSizeMb: settings.maxResponseSizeMb,
				signal: anySignal([executionSignal, callSignal]),
				logger,
			});
			return fromChatCompletion(response, provider.providerName);
		} catch (error) {
			throw toNodeError(node, error, undefined, knownSecrets(provider));
		}
	}

	/**
	 * Not token streaming: the shared transport reads whole JSON answers, so this makes one call and
	 * hands the finished answer over as chunks (text, then one delta per tool call, then finish).
	 */
	async *stream(messages: Message[], config?: OAuth2ChatModelConfig): AsyncIterable<StreamChunk> {
		const result = await this.generate(messages, config);
		for (const part of result.message.content) {
			if (part.type === 'text' && part.text !== '') yield { type: 'text-delta', delta: part.text };
			if (part.type === 'tool-call') {
				yield { type: 'tool-call-delta', id: part.toolCallId, name: part.toolName, argumentsDelta: part.input };
			}
		}
		yield { type: 'finish', finishReason: result.finishReason ?? 'stop', usage: result.usage };
	}
}
