/**
 * How the model reaches n8n's agents and chains: n8n's own LangChain adapter for SDK models
 * (@n8n/ai-utilities LangchainChatModelAdapter, what the SDK's supplyModel builds), with one change.
 *
 * n8n 2.41's AI Agent passes binary images ("Passthrough Binary Images") as LangChain `image_url`
 * blocks, and the adapter's message converter (converters/message.js fromLcContent) knows only the
 * standard `image`/`file` blocks: it drops `image_url` blocks, so the model would get an empty user
 * message. Here every `image_url` block becomes the standard `{type: 'image', url, mimeType}` block
 * before the adapter converts, which it turns into a file part whose URL (data: or https:) this
 * model sends on as an OpenAI `image_url` part. Nothing else of the adapter is changed.
 *
 * A second repair: for a STREAMED answer, LangChain's core reports the usage to callbacks as
 * `llmOutput.tokenUsage.{promptTokens, completionTokens}`, while the adapter's tracing parser reads only
 * `input_tokens` / `output_tokens`, so n8n's AI logs showed an estimate instead of the provider's counts.
 * The parser here reads both spellings.
 *
 * Where the adapter cannot be found (another n8n layout), the SDK's supplyModel is used as it is and
 * images are dropped by n8n as before.
 */
import type { ISupplyDataFunctions, SupplyData } from 'n8n-workflow';

import { requireFromN8n } from '../shared/n8n/n8n-version';

interface AdapterInstance {
	_generate(messages: unknown[], options: unknown, runManager?: unknown): Promise<unknown>;
	_streamResponseChunks(messages: unknown[], options: unknown, runManager?: unknown): AsyncGenerator<unknown>;
	bindTools(tools: unknown[], kwargs?: unknown): unknown;
}
type AdapterClass = new (model: unknown, context: unknown) => AdapterInstance;

const IMAGE_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' };

/** The media type of an image URL: from a data URL's header or a file extension; `image/*` when neither says. */
export function imageMediaType(url: string): string {
	if (url.startsWith('data:')) {
		const header = url.slice(5, Math.min(url.length, 5 + 100)).split(/[;,]/)[0];
		return /^image\/[\w.+-]+$/i.test(header) ? header.toLowerCase() : 'image/*';
	}
	const extension = /\.([a-z0-9]{2,5})(?:$|[?#])/i.exec(url.slice(0, 2048))?.[1]?.toLowerCase();
	return (extension && IMAGE_TYPES[extension]) ?? 'image/*';
}

function isImageUrlBlock(block: unknown): block is { type: 'image_url'; image_url: string | { url?: unknown } } {
	return !!block && typeof block === 'object' && (block as { type?: unknown }).type === 'image_url';
}

/** LangChain's older image block spells the media type `mime_type`; the adapter reads `mimeType` only. */
function isLegacyImageBlock(block: unknown): block is { type: 'image'; mime_type?: unknown; mimeType?: unknown } {
	const candidate = block as { type?: unknown; mime_type?: unknown; mimeType?: unknown } | null;
	return !!candidate && typeof candidate === 'object' && candidate.type === 'image' && candidate.mimeType === undefined;
}

/** A copy of a LangChain message with its `image_url` blocks as standard image blocks; the message itself when it has none. */
export function withStandardImageBlocks<T>(message: T): T {
	const content = (message as { content?: unknown } | null)?.content;
	if (!Array.isArray(content) || !content.some((block) => isImageUrlBlock(block) || isLegacyImageBlock(block))) return message;
	const converted = content.map((block: unknown) => {
		if (isLegacyImageBlock(block)) {
			const { mime_type: mimeType, ...rest } = block as Record<string, unknown>;
			const url = typeof rest.url === 'string' ? rest.url : undefined;
			return { ...rest, mimeType: typeof mimeType === 'string' ? mimeType : url ? imageMediaType(url) : 'image/*' };
		}
		if (!isImageUrlBlock(block)) return block;
		const url = typeof block.image_url === 'string' ? block.image_url : block.image_url?.url;
		return typeof url === 'string' ? { type: 'image', url, mimeType: imageMediaType(url) } : block;
	});
	// Same prototype: LangChain tells message kinds apart by markers on it, not by the constructor.
	return Object.assign(Object.create(Object.getPrototypeOf(message) as object) as object, message, { content: converted }) as T;
}

interface UsageResult {
	llmOutput?: { tokenUsage?: { input_tokens?: number; output_tokens?: number; promptTokens?: number; completionTokens?: number } };
}

/** Reads both spellings of LangChain's token usage (see above). */
export function tokenUsageFromResult(result: UsageResult): { completionTokens: number; promptTokens: number; totalTokens: number } {
	const usage = result?.llmOutput?.tokenUsage;
	const completionTokens = usage?.output_tokens ?? usage?.completionTokens ?? 0;
	const promptTokens = usage?.input_tokens ?? usage?.promptTokens ?? 0;
	return { completionTokens, promptTokens, totalTokens: completionTokens + promptTokens };
}

/** Puts the two-spelling parser into the adapter's own N8nLlmTracing callback (n8n's class, found by name). */
function repairUsageParser(adapter: unknown): void {
	const callbacks = (adapter as { callbacks?: unknown }).callbacks;
	if (!Array.isArray(callbacks)) return;
	for (const callback of callbacks as Array<{ constructor?: { name?: string }; options?: { tokensUsageParser?: unknown } } | null>) {
		if (callback?.constructor?.name === 'N8nLlmTracing' && callback.options && typeof callback.options.tokensUsageParser === 'function') {
			callback.options.tokensUsageParser = tokenUsageFromResult;
		}
	}
}

let adapterClass: AdapterClass | null | undefined;

function imageKeepingAdapter(): AdapterClass | null {
	if (adapterClass !== undefined) return adapterClass;
	let Base: AdapterClass | undefined;
	try {
		Base = requireFromN8n<{ LangchainChatModelAdapter?: AdapterClass }>('@n8n/ai-utilities').LangchainChatModelAdapter;
	} catch {
		Base = undefined;
	}
	if (typeof Base !== 'function') return (adapterClass = null);
	class ImageKeepingAdapter extends Base {
		constructor(model: unknown, context: unknown) {
			super(model, context);
			repairUsageParser(this);
		}

		override async _generate(messages: unknown[], options: unknown, runManager?: unknown): Promise<unknown> {
			return await super._generate(messages.map(withStandardImageBlocks), options, runManager);
		}

		override async *_streamResponseChunks(messages: unknown[], options: unknown, runManager?: unknown): AsyncGenerator<unknown> {
			yield* super._streamResponseChunks(messages.map(withStandardImageBlocks), options, runManager);
		}

		override bindTools(tools: unknown[], kwargs?: unknown): unknown {
			// The adapter builds its own class here; the bound model keeps this one's behaviour.
			const bound = super.bindTools(tools, kwargs);
			if (bound && typeof bound === 'object') {
				Object.setPrototypeOf(bound, ImageKeepingAdapter.prototype);
				repairUsageParser(bound);
			}
			return bound;
		}
	}
	return (adapterClass = ImageKeepingAdapter);
}

export function supplyChatModel(
	context: ISupplyDataFunctions,
	model: unknown,
	supplyModel: (context: ISupplyDataFunctions, model: never) => SupplyData,
): SupplyData {
	const Adapter = imageKeepingAdapter();
	return Adapter ? { response: new Adapter(model, context) } : supplyModel(context, model as never);
}
