import { NodeConnectionTypes } from 'n8n-workflow';
import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription, NodeApiError, NodeOperationError } from 'n8n-workflow';

import { completeChat, streamChat, type LlmCallOptions } from '../shared/wire/chat-client';
import { mapWithConcurrency } from '../shared/core/concurrency';
import { n8nAtLeast } from '../shared/n8n/n8n-version';
import { knownSecrets, loadProvider } from '../shared/n8n/credential';
import { sharedNodeMethods } from '../shared/n8n/node-methods';
import { toNodeError } from '../shared/n8n/n8n-errors';
import { perItemParameter } from '../shared/n8n/parameters';
import { StreamedAnswer, type ChatCompletionResponse } from '../shared/wire/openai-wire';
import { wireFormatOf, type ChatRequest } from '../shared/wire/wire-format';
import type { ProviderConfig } from '../shared/config/provider-config';
import { imageParts, imagePropertyNames } from './images';
import { DEFAULT_CONCURRENCY, MAX_CONCURRENCY, chatProperties } from './description';
import { buildChatRequest, type ChatOptions, type ChatParameters } from './request';
import { toOutputJson } from './response';

/**
 * A failed item's json, in the shape n8n's On Error setting can route. "Continue (using error output)"
 * sends an item to the error output only when its json has no keys but error, message and details
 * (2.x's WorkflowExecute.handleNodeErrorOutput; HTTP Request 4.5 uses the same shape), or, in n8n
 * 1.x, exactly {error} or {error, message}: there the description goes into `message`. With
 * "Continue (regular output)" the top-level description that earlier versions wrote stays, for
 * workflows that read $json.description.
 */
function errorJson(error: NodeApiError | NodeOperationError, toErrorOutput: boolean): IDataObject {
	if (toErrorOutput && !n8nAtLeast(2, 0)) return { error: error.message, message: error.description ?? error.message };
	return {
		error: error.message,
		...(!toErrorOutput && error.description ? { description: error.description } : {}),
		details: {
			message: error.message,
			...(error.description ? { description: error.description } : {}),
			...('httpCode' in error && error.httpCode ? { httpCode: error.httpCode } : {}),
		},
	};
}

/**
 * Each input item → one chat call → one output item (same order, pairedItem kept), through the
 * process-wide token cache, in the format the credential names. This file routes; the steps live in
 * request.ts, ../shared/wire/chat-client.ts (with the format's module) and response.ts.
 */
export class OAuth2LlmChat implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'OAuth2 LLM Chat',
		name: 'oAuth2LlmChat',
		icon: { light: 'file:oauth2llm.svg', dark: 'file:oauth2llm.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ "Chat: " + ($parameter["model"]?.value ?? $parameter["model"] ?? "") }}',
		description: 'Chat with an LLM behind OAuth2 (LLM gateways, SAP AI Core, Azure OpenAI, Claude on Vertex AI…): Chat Completions, Responses or Anthropic Messages',
		defaults: { name: 'OAuth2 LLM Chat' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		usableAsTool: true,
		credentials: [{ name: 'llmProviderOAuth2Api', required: true, testedBy: 'llmProviderOAuth2ApiTest' }],
		properties: chatProperties,
	};

	methods = sharedNodeMethods;

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const node = this.getNode();
		const toErrorOutput = node.onError === 'continueErrorOutput';
		const errorItem = (error: ReturnType<typeof toNodeError>, itemIndex: number): INodeExecutionData => ({
			json: errorJson(error, toErrorOutput),
			pairedItem: { item: itemIndex },
		});

		let provider: ProviderConfig;
		try {
			provider = await loadProvider(this);
		} catch (error) {
			if (!this.continueOnFail()) throw toNodeError(node, error, 0);
			// Nothing can run without a provider; every item still leaves the node, as an error item.
			return [items.map((_item, itemIndex) => errorItem(toNodeError(node, error, itemIndex), itemIndex))];
		}
		const signal = this.getExecutionCancelSignal?.();
		const concurrencySetting = Number(this.getNodeParameter('options.concurrency', 0, DEFAULT_CONCURRENCY));
		const concurrency = Math.min(MAX_CONCURRENCY, Math.max(1, Math.floor(concurrencySetting) || DEFAULT_CONCURRENCY));

		const optionsOf = perItemParameter<ChatOptions>(this, 'options', {});
		const modelOf = perItemParameter<unknown>(this, 'model', '', { extractValue: true });
		const messagesOf = perItemParameter<ChatParameters['messages'] | undefined>(this, 'messages.values', []);
		const jsonOutputOf = perItemParameter(this, 'jsonOutput', false);
		const simplifyOf = perItemParameter(this, 'simplify', true);

		// Where n8n streams this execution (a Webhook in Streaming mode, a Chat Trigger), the answer goes
		// out as it arrives: begin, the text in pieces, end, per item (metadata.itemIndex tells them apart).
		// Not when an agent calls this node as its tool: then the answer is the agent's to use, not the user's to read.
		const streamingHere = typeof this.isStreaming === 'function' && this.isStreaming() && node.rewireOutputLogTo !== NodeConnectionTypes.AiTool;
		const send = async (type: 'begin' | 'item' | 'end' | 'error', itemIndex: number, content?: string) => {
			// Typed as void, but n8n 2.41 returns the hook's promise: wait for it to keep the order.
			await (this.sendChunk(type, itemIndex, content) as unknown as Promise<void> | undefined);
		};
		const wire = wireFormatOf(provider.api.format);
		const streamed = async (request: ChatRequest, itemIndex: number, call: LlmCallOptions): Promise<{ completion: ChatCompletionResponse; raw: unknown }> => {
			const answer = new StreamedAnswer();
			await send('begin', itemIndex);
			try {
				for await (const delta of streamChat(request, call)) {
					answer.add(delta);
					if (delta.kind === 'text') await send('item', itemIndex, delta.text);
				}
			} catch (error) {
				const nodeError = toNodeError(node, error, itemIndex, knownSecrets(provider));
				// Without Continue On Fail n8n ends the execution and sends its own error chunk. The client of a
				// streaming webhook may be anyone: it learns that the item failed, not the provider's words or hosts.
				if (this.continueOnFail()) await send('error', itemIndex, `The answer for item ${itemIndex + 1} failed; the execution holds the details.`);
				throw nodeError;
			}
			await send('end', itemIndex);
			return { completion: answer.toCompletion(), raw: wire.answerOfStream(answer) };
		};

		const runItem = async (itemIndex: number): Promise<INodeExecutionData> => {
			try {
				const options = optionsOf(itemIndex);
				const imageNames = imagePropertyNames(options.imageBinaryProperties);
				const parameters: ChatParameters = {
					model: modelOf(itemIndex),
					messages: messagesOf(itemIndex) ?? [],
					jsonOutput: jsonOutputOf(itemIndex),
					options,
					images: imageNames.length > 0 ? await imageParts(this, itemIndex, imageNames) : undefined,
				};
				const simplify = simplifyOf(itemIndex);
				const stream = streamingHere && options.streaming !== false;
				const request = buildChatRequest(parameters);
				const call: LlmCallOptions = {
					provider,
					timeoutMs: options.timeout,
					maxRetries: options.maxRetries,
					maxResponseSizeMb: options.maxResponseSizeMb,
					signal,
					logger: this.logger,
				};
				const answer = stream ? await streamed(request, itemIndex, call) : await completeChat(request, call);
				const json: IDataObject = toOutputJson(answer, {
					simplify,
					jsonOutput: parameters.jsonOutput,
					providerName: provider.providerName,
					wire,
				});
				return { json, pairedItem: { item: itemIndex } };
			} catch (error) {
				const nodeError = toNodeError(node, error, itemIndex, knownSecrets(provider));
				if (this.continueOnFail()) return errorItem(nodeError, itemIndex);
				throw nodeError;
			}
		};

		return [await mapWithConcurrency(items.length, concurrency, runItem)];
	}
}
