/**
 * The embeddings object n8n's vector store nodes call (embedDocuments, embedQuery): a subclass of
 * n8n's OWN LangChain Embeddings (@langchain/core, resolved from n8n), so n8n's logWrapper recognises
 * it and shows its input and output in the run log. Every batch is one POST {baseUrl}/embeddings
 * through ../shared/wire/chat-client.ts: a token from the shared cache at call time, 401 replay, and
 * 429/5xx retries of the whole batch. Batches run a few at a time; results keep the input order.
 */
import type { INode } from 'n8n-workflow';

import { callLlmApi } from '../shared/wire/chat-client';
import { mapWithConcurrency } from '../shared/core/concurrency';
import { knownSecrets } from '../shared/n8n/credential';
import { LlmApiError, ParameterError } from '../shared/core/errors';
import { toNodeError } from '../shared/n8n/n8n-errors';
import { requireFromN8n } from '../shared/n8n/n8n-version';
import { embeddingsBody, embeddingsOf } from '../shared/wire/openai-wire';
import { wireFormatOf } from '../shared/wire/wire-format';
import type { ProviderConfig } from '../shared/config/provider-config';
import type { TokenCacheLogger } from '../shared/auth/token-cache';

/** Batches in flight at once: enough to hide latency, few enough not to trip a gateway's rate limit. */
export const MAX_PARALLEL_BATCHES = 4;

export interface EmbeddingsSettings {
	model: string;
	batchSize: number;
	dimensions?: number;
	timeoutMs?: number;
	maxRetries?: number;
}

export interface EmbeddingsRuntime {
	provider: ProviderConfig;
	node: INode;
	logger?: TokenCacheLogger;
	executionSignal?: AbortSignal;
}

/** What a vector store needs from an embeddings object. */
export interface TextEmbedder {
	embedDocuments(texts: string[]): Promise<number[][]>;
	embedQuery(text: string): Promise<number[]>;
}

/**
 * Where the credential's format takes embeddings: OpenAI's /embeddings for both OpenAI formats.
 * Anthropic has no embeddings API, so an Anthropic credential is refused with what to use instead.
 */
export function embeddingsPathOf(provider: ProviderConfig): string {
	const wire = wireFormatOf(provider.api.format);
	if (wire.embeddingsPath !== undefined) return wire.embeddingsPath;
	throw new ParameterError('credential', `The credential of ${provider.providerName} speaks ${wire.label}, which has no embeddings API: embeddings need an OpenAI-format endpoint (POST {Base URL}/embeddings)`, {
		hint: 'Use a credential whose API Format is OpenAI Chat Completions or OpenAI Responses, pointing at an API with /embeddings.',
	});
}

/** The calls themselves, without LangChain: what the class below delegates to. */
export async function embedTexts(texts: string[], settings: EmbeddingsSettings, runtime: EmbeddingsRuntime): Promise<number[][]> {
	const { provider } = runtime;
	const batchSize = Math.max(1, Math.floor(settings.batchSize));
	const batches: string[][] = [];
	for (let start = 0; start < texts.length; start += batchSize) batches.push(texts.slice(start, start + batchSize));
	try {
		const path = embeddingsPathOf(provider);
		const results = await mapWithConcurrency(batches.length, MAX_PARALLEL_BATCHES, async (index) => {
			const batch = batches[index];
			const answer = await callLlmApi<unknown>('POST', path, embeddingsBody(settings.model, batch, settings.dimensions), {
				provider,
				timeoutMs: settings.timeoutMs,
				maxRetries: settings.maxRetries,
				signal: runtime.executionSignal,
				logger: runtime.logger,
			});
			const vectors = embeddingsOf(answer, batch.length);
			if (typeof vectors === 'string') {
				throw new LlmApiError(`The embeddings API of ${provider.providerName} answered, but ${vectors}`, {
					providerName: provider.providerName,
					hint: 'Check Base URL and the model: it must be an OpenAI-compatible /embeddings endpoint and an embedding model.',
				});
			}
			return vectors;
		});
		return results.flat();
	} catch (error) {
		throw toNodeError(runtime.node, error, undefined, knownSecrets(provider));
	}
}

type EmbeddingsBase = new (params: Record<string, unknown>) => object;

/** An instance of n8n's LangChain Embeddings class with this package's calls; a plain object where n8n has no LangChain. */
export function createEmbeddings(settings: EmbeddingsSettings, runtime: EmbeddingsRuntime): TextEmbedder {
	let Base: EmbeddingsBase | undefined;
	try {
		Base = requireFromN8n<{ Embeddings?: EmbeddingsBase }>('@langchain/core/embeddings').Embeddings;
	} catch {
		Base = undefined;
	}
	const embedDocuments = async (texts: string[]) => await embedTexts(texts, settings, runtime);
	const embedQuery = async (text: string) => (await embedTexts([text], settings, runtime))[0];
	if (typeof Base !== 'function') return { embedDocuments, embedQuery };
	class OAuth2LlmEmbeddings extends Base implements TextEmbedder {
		embedDocuments = embedDocuments;
		embedQuery = embedQuery;
	}
	return new OAuth2LlmEmbeddings({});
}
