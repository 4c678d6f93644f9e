/**
 * One input item's parameters → one chat request in the package's own shape (../shared/wire/wire-format.ts),
 * which the credential's format module puts on the wire. Pure: the images of the item are read by
 * images.ts and handed in.
 */
import { ParameterError } from '../shared/core/errors';
import { CHAT_NODE_IMAGE_HINTS, checkImages } from '../shared/wire/image-policy';
import type { ChatSettings, OpenAiContentPart, OpenAiMessage } from '../shared/wire/openai-wire';
import type { ChatRequest } from '../shared/wire/wire-format';

export const CHAT_ROLES = ['system', 'user', 'assistant'] as const;

/** The node's options: the wire's sampling fields (openai-wire.ts), and the node's own. */
export interface ChatOptions
	extends Pick<
		ChatSettings,
		'temperature' | 'maxTokens' | 'maxCompletionTokens' | 'reasoningEffort' | 'topP' | 'frequencyPenalty' | 'presencePenalty' | 'storeResponses' | 'anthropicVersion'
	> {
	/** Text: one sequence, or a JSON array of up to 4 (parseStop). */
	stop?: string;
	timeout?: number;
	maxRetries?: number;
	maxResponseSizeMb?: number;
	concurrency?: number;
	streaming?: boolean;
	imageBinaryProperties?: string;
	/** https:// image URLs in content parts (image-policy.ts); off: inline images only. */
	allowRemoteImageUrls?: boolean;
}

export interface ChatParameters {
	model: unknown;
	messages: Array<{ role?: unknown; content?: unknown }>;
	jsonOutput: boolean;
	options: ChatOptions;
	/** The item's images (Image Binary Properties), as data-URL parts for the last user message. */
	images?: OpenAiContentPart[];
}

/**
 * A content given as OpenAI content parts: a JSON array (typed, or from an expression) of
 * `{"type": "text", "text": …}` and `{"type": "image_url", "image_url": {"url": …}}`. Undefined when
 * the content is plain text (a text that merely starts with "[" stays text).
 *
 * Image URLs that the provider would fetch are taken only from a real array (an expression that
 * yields one), and only as image-policy.ts allows (https://, with Allow Remote Image URLs on): text,
 * which may come from a webhook caller, gives data URLs only, so a caller cannot make a URL-fetching
 * gateway reach into its own network.
 */
function contentParts(content: unknown, index: number): OpenAiContentPart[] | undefined {
	let value = content;
	const fromText = typeof content === 'string';
	if (typeof content === 'string') {
		const trimmed = content.trim();
		if (!trimmed.startsWith('[') || !trimmed.endsWith(']')) return undefined;
		try {
			value = JSON.parse(trimmed) as unknown;
		} catch {
			return undefined;
		}
	}
	if (!Array.isArray(value) || value.length === 0) return undefined;
	// Only text and image parts make a list of content parts; any other JSON array (`[{"type": "order"…}]`) stays text.
	const looksLikeParts = value.every((part) => part && typeof part === 'object' && ['text', 'image_url'].includes((part as { type?: unknown }).type as string));
	if (!looksLikeParts) return undefined;
	return value.map((raw: { type: string; text?: unknown; image_url?: unknown }, partIndex) => {
		if (raw.type === 'text' && typeof raw.text === 'string') return { type: 'text', text: raw.text };
		if (raw.type === 'image_url') {
			const image = raw.image_url;
			const url = typeof image === 'string' ? image : (image as { url?: unknown } | null)?.url;
			const detail = typeof image === 'object' && image !== null ? (image as { detail?: unknown }).detail : undefined;
			// Which URLs may go on (inline only, or https:// with Allow Remote Image URLs) is image-policy.ts's rule, for every path;
			// here only where the array came from: text gives data URLs only.
			if (typeof url === 'string' && (!fromText || /^data:/i.test(url))) {
				return { type: 'image_url', image_url: { url, ...(typeof detail === 'string' ? { detail } : {}) } };
			}
		}
		throw new ParameterError('messages', `Message ${index + 1} is a list of content parts, and part ${partIndex + 1} is not a text or image part`, {
			hint: 'Write parts as {"type": "text", "text": "…"} or {"type": "image_url", "image_url": {"url": "data:image/png;base64,…"}}; an https:// image URL only from an expression that yields the array itself, with Allow Remote Image URLs on.',
		});
	});
}

function contentText(content: unknown): string {
	if (typeof content === 'string') return content;
	if (content === undefined || content === null) return '';
	// An expression may yield a number or an object; send what the user would see in the editor.
	return typeof content === 'object' ? JSON.stringify(content) : String(content);
}

/** OpenAI accepts one stop string or an array of up to 4. */
export function parseStop(stop: string | undefined): string | string[] | undefined {
	if (stop === undefined || stop === '') return undefined;
	if (!stop.trim().startsWith('[')) return stop;
	let parsed: unknown;
	try {
		parsed = JSON.parse(stop);
	} catch {
		// The value is not quoted: whatever a user typed stays out of error messages and execution data.
		throw new ParameterError('options.stop', 'Stop Sequences starts like a JSON array but is not valid JSON', {
			hint: 'Write one stop sequence as plain text, or several as a JSON array such as ["END", "###"].',
		});
	}
	if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > 4 || !parsed.every((entry) => typeof entry === 'string')) {
		throw new ParameterError('options.stop', 'Stop Sequences must be a JSON array of 1 to 4 strings', {
			hint: 'For example ["END", "###"].',
		});
	}
	return parsed as string[];
}

function toMessages(parameters: ChatParameters): OpenAiMessage[] {
	const messages = parameters.messages.map((message, index): OpenAiMessage => {
		const role = message.role ?? 'user';
		if (typeof role !== 'string' || !(CHAT_ROLES as readonly string[]).includes(role)) {
			throw new ParameterError('messages', `Message ${index + 1} has the role "${String(role)}"`, {
				hint: `Use one of: ${CHAT_ROLES.join(', ')}.`,
			});
		}
		const parts = contentParts(message.content, index);
		if (parts !== undefined) {
			if (role === 'assistant') {
				throw new ParameterError('messages', `Message ${index + 1} (assistant) is a list of content parts`, {
					hint: 'Only system and user messages take content parts; write an earlier answer as text.',
				});
			}
			return { role: role as 'system' | 'user', content: parts };
		}
		const content = contentText(message.content);
		if (content.trim() === '') {
			throw new ParameterError('messages', `Message ${index + 1} (${role}) is empty`, {
				hint: 'Type its content, or check that the expression in it resolves for this item.',
			});
		}
		return { role: role as 'system' | 'user' | 'assistant', content } as OpenAiMessage;
	});
	const images = parameters.images ?? [];
	if (images.length === 0) return messages;
	const last = messages.map((message) => message.role).lastIndexOf('user');
	if (last === -1) {
		throw new ParameterError('options.imageBinaryProperties', 'Image Binary Properties needs a user message to attach the images to', {
			hint: 'Add a message with the role User.',
		});
	}
	const target = messages[last] as Extract<OpenAiMessage, { role: 'user' }>;
	const before: OpenAiContentPart[] = typeof target.content === 'string' ? [{ type: 'text', text: target.content }] : target.content;
	messages[last] = { ...target, content: [...before, ...images] };
	return messages;
}

export function buildChatRequest(parameters: ChatParameters): ChatRequest {
	const model = typeof parameters.model === 'string' ? parameters.model.trim() : '';
	if (!model) {
		throw new ParameterError('model', 'No model is set', {
			hint: 'Pick a model from the list, or switch Model to "By Name" and type the model or deployment name.',
		});
	}
	if (parameters.messages.length === 0) {
		throw new ParameterError('messages', 'There are no messages to send', { hint: 'Add at least one message under Messages.' });
	}
	const { options } = parameters;
	const messages = toMessages(parameters);
	checkImages(messages, options.allowRemoteImageUrls === true, CHAT_NODE_IMAGE_HINTS);
	return {
		settings: {
			model,
			temperature: options.temperature,
			maxTokens: options.maxTokens,
			maxCompletionTokens: options.maxCompletionTokens,
			reasoningEffort: options.reasoningEffort,
			topP: options.topP,
			frequencyPenalty: options.frequencyPenalty,
			presencePenalty: options.presencePenalty,
			stop: parseStop(options.stop),
			responseFormat: parameters.jsonOutput ? 'json_object' : undefined,
			storeResponses: options.storeResponses,
			anthropicVersion: options.anthropicVersion,
		},
		messages,
	};
}
