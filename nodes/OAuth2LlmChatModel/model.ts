/**
 * The chat model the AI Agent and the LLM chains call, built on n8n's AI node SDK (@n8n/ai-node-sdk,
 * supplied by n8n itself): n8n wraps it into its LangChain adapter (bindTools, callbacks, tracing).
 *
 * Every generate() goes through ../shared/wire/chat-client.ts, which takes the access token from the
 * process-wide cache at CALL time: an agent run that outlives a token gets a fresh one on its next
 * model call, and a 401 drops the token and replays once. Retries (429/5xx, Retry-After) live there
 * too, so nothing here retries, and every failure is worded by ../shared/n8n/n8n-errors.ts.
 */
import {
	BaseChatModel,
	type ChatModelConfig,
	type GenerateResult,
	type Message,
	type StreamChunk,
} from '@n8n/ai-node-sdk';
import type { INode } from 'n8n-workflow';

import { completeChat, streamChat } from '../shared/wire/chat-client';
import { toNodeError } from '../shared/n8n/n8n-errors';
import { knownSecrets } from '../shared/n8n/credential';
import type { ProviderConfig } from '../shared/config/provider-config';
import type { TokenCacheLogger } from '../shared/auth/token-cache';
import { CHAT_MODEL_IMAGE_HINTS, checkImages } from '../shared/wire/image-policy';
import { ToolCallAssembler, type ReasoningEffort } from '../shared/wire/openai-wire';
import { chatRequestOf, finishReasonOf, fromChatCompletion, tokenUsageOf, type ChatRequestSettings } from './openai-chat';

export const PROVIDER_ID = 'oauth2-llm';

export interface OAuth2ChatModelConfig extends ChatModelConfig {
	/** https:// image URLs from the agent (image-policy.ts); off: inline images only. */
	allowRemoteImageUrls?: boolean;
	responseFormat?: ChatRequestSettings['responseFormat'];
	maxResponseSizeMb?: number;
	maxCompletionTokens?: number;
	reasoningEffort?: ReasoningEffort;
	/** false: stream() makes one plain call and hands the finished answer over (gateways that do not stream). */
	streaming?: boolean;
	/** Over the credential's (Responses format only). */
	storeResponses?: boolean;
	/** Over the credential's (Anthropic Messages only). */
	anthropicVersion?: string;
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

	/** The request body and the call options of one model call. */
	private call(messages: Message[], config: OAuth2ChatModelConfig | undefined) {
		const { provider, logger, executionSignal } = this.runtime;
		const settings = merged(this.defaultConfig, config);
		// LangChain passes its own AbortSignal as `signal`, the SDK's contract calls it `abortSignal`.
		const callSignal = settings.abortSignal ?? (config as { signal?: AbortSignal } | undefined)?.signal;
		const request = chatRequestOf(
			{
				model: this.modelId,
				temperature: settings.temperature,
				maxTokens: settings.maxTokens,
				maxCompletionTokens: settings.maxCompletionTokens,
				reasoningEffort: settings.reasoningEffort,
				topP: settings.topP,
				stopSequences: settings.stopSequences,
				responseFormat: settings.responseFormat,
				storeResponses: settings.storeResponses,
				anthropicVersion: settings.anthropicVersion,
			},
			messages,
			this.tools,
		);
		checkImages(request.messages, settings.allowRemoteImageUrls === true, CHAT_MODEL_IMAGE_HINTS);
		const options = {
			provider,
			timeoutMs: settings.timeout,
			maxRetries: settings.maxRetries,
			maxResponseSizeMb: settings.maxResponseSizeMb,
			signal: anySignal([executionSignal, callSignal]),
			logger,
		};
		return { request, options, streaming: settings.streaming !== false };
	}

	async generate(messages: Message[], config?: OAuth2ChatModelConfig): Promise<GenerateResult> {
		const { provider, node } = this.runtime;
		try {
			const { request, options } = this.call(messages, config);
			return fromChatCompletion((await completeChat(request, options)).completion, provider.providerName);
		} catch (error) {
			throw toNodeError(node, error, undefined, knownSecrets(provider));
		}
	}

	/**
	 * Token by token (n8n calls this when its agent streams): text deltas as they arrive; each tool
	 * call as ONE delta, with its id, name and whole arguments, once the stream has ended (some formats
	 * send a call's arguments after the next call began, or only with the completed response; the agent
	 * runs tools only after the model's answer anyway). Not fragment by fragment: LangChain merges every
	 * chunk into all the ones before it, so a server sending thousands of argument fragments would stall
	 * n8n for minutes; n8n shows users only the text anyway. Then one finish with the usage. With
	 * Streaming off, one plain call handed over as chunks.
	 */
	async *stream(messages: Message[], config?: OAuth2ChatModelConfig): AsyncIterable<StreamChunk> {
		const { provider, node } = this.runtime;
		let prepared: ReturnType<OAuth2ChatModel['call']>;
		try {
			prepared = this.call(messages, config);
		} catch (error) {
			throw toNodeError(node, error, undefined, knownSecrets(provider));
		}
		if (!prepared.streaming) {
			yield* this.replay(await this.generate(messages, config));
			return;
		}
		const tools = new ToolCallAssembler();
		let finish: string | null = null;
		let usage: ReturnType<typeof tokenUsageOf>;
		try {
			for await (const delta of streamChat(prepared.request, prepared.options)) {
				switch (delta.kind) {
					case 'text':
						yield { type: 'text-delta', delta: delta.text };
						break;
					case 'tool':
						tools.add(delta);
						break;
					case 'finish':
						finish = delta.reason;
						break;
					case 'usage':
						usage = tokenUsageOf(delta.usage);
						break;
				}
			}
			for (const call of tools.all()) yield { type: 'tool-call-delta', id: call.id, name: call.function.name, argumentsDelta: call.function.arguments };
		} catch (error) {
			throw toNodeError(node, error, undefined, knownSecrets(provider));
		}
		yield { type: 'finish', finishReason: finishReasonOf(finish, tools.size > 0), usage };
	}

	private *replay(result: GenerateResult): Iterable<StreamChunk> {
		for (const part of result.message.content) {
			if (part.type === 'text' && part.text !== '') yield { type: 'text-delta', delta: part.text };
			if (part.type === 'tool-call') {
				yield { type: 'tool-call-delta', id: part.toolCallId, name: part.toolName, argumentsDelta: part.input };
			}
		}
		yield { type: 'finish', finishReason: result.finishReason ?? 'stop', usage: result.usage };
	}
}
