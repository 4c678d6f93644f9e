/**
 * Which images a chat request may carry, and how much of them: one rule for every path (the chat node's
 * Image Binary Properties and content parts, the Chat Model's images from an AI Agent), applied to the
 * request as it goes on the wire (issue 19 §5).
 *
 * An image named by URL is fetched by the gateway, from inside its own network (LiteLLM and others do):
 * whoever writes the message could make it reach an internal address. So by default only inline images
 * (data URLs) are sent; https:// URLs only when the node's Allow Remote Image URLs option is on, and no
 * other scheme ever (http:// would be fetched in clear, file: or gopher: from the gateway's own host).
 * Inline images are the raster types chat APIs take (PNG, JPEG, GIF, WebP): an SVG may name URLs of its
 * own, which a gateway that renders it would fetch.
 */
import { ParameterError } from '../core/errors';
import type { OpenAiMessage } from './openai-wire';

/** OpenAI's own limit per image; most gateways take no more. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
/** Images per request, and their inline bytes together: one request stays far below what gateways accept. */
export const MAX_IMAGES_PER_ITEM = 16;
export const MAX_IMAGE_BYTES_PER_ITEM = 50 * 1024 * 1024;

export const ALLOW_REMOTE_IMAGE_URLS_OPTION = 'options.allowRemoteImageUrls';

export const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The image types sent inline. */
const INLINE_IMAGE = /^data:image\/(png|jpeg|jpg|gif|webp)[;,]/i;

/** What to do instead of a URL, in the words of the path the image came by. */
export interface ImageHints {
	/** How to send an image inline on this path. */
	inline: string;
}

export const CHAT_NODE_IMAGE_HINTS: ImageHints = { inline: "the chat node's Image Binary Properties, or a data:image/…;base64 URL" };
export const CHAT_MODEL_IMAGE_HINTS: ImageHints = {
	inline: "binary data: the AI Agent's Passthrough Binary Images, or the Basic LLM Chain's Image (Binary) message instead of Image (URL)",
};


/** The bytes a data URL holds, from its length alone (no decoding). */
export function dataUrlBytes(url: string): number {
	const comma = url.indexOf(',');
	const header = url.slice(0, comma);
	const payloadChars = url.length - comma - 1;
	if (!/;base64$/i.test(header)) return payloadChars;
	const padding = url.endsWith('==') ? 2 : url.endsWith('=') ? 1 : 0;
	return Math.max(0, Math.floor((payloadChars * 3) / 4) - padding);
}

/** Throws when the images of these messages break the rule above; `allowRemote`: the node's option. */
export function checkImages(messages: OpenAiMessage[], allowRemote: boolean, hints: ImageHints): void {
	let count = 0;
	let totalBytes = 0;
	messages.forEach((message, messageIndex) => {
		if (!Array.isArray(message.content)) return;
		for (const part of message.content) {
			if (part.type !== 'image_url') continue;
			const url = part.image_url.url;
			const which = `Image ${count + 1} (message ${messageIndex + 1})`;
			count += 1;
			if (count > MAX_IMAGES_PER_ITEM) {
				throw new ParameterError('messages', `The request holds ${count} images; at most ${MAX_IMAGES_PER_ITEM} are sent per call`);
			}
			if (INLINE_IMAGE.test(url)) {
				const bytes = dataUrlBytes(url);
				if (bytes > MAX_IMAGE_BYTES) {
					throw new ParameterError('messages', `${which} is ${mebibytes(bytes)}; at most ${MAX_IMAGE_BYTES / 1024 / 1024} MiB per image are sent`, {
						hint: "Scale the image down first (n8n's Edit Image node can resize it).",
					});
				}
				totalBytes += bytes;
				if (totalBytes > MAX_IMAGE_BYTES_PER_ITEM) {
					throw new ParameterError('messages', `The images of this request are ${mebibytes(totalBytes)} together; at most ${MAX_IMAGE_BYTES_PER_ITEM / 1024 / 1024} MiB per call are sent`);
				}
				continue;
			}
			const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url.trim())?.[1]?.toLowerCase();
			if (scheme === 'https' && allowRemote) continue;
			const what =
				scheme === 'data'
					? 'a data URL of another type than PNG, JPEG, GIF or WebP'
					: scheme === 'https'
						? 'an https:// URL'
						: scheme
							? `a${/^[aeiou]/.test(scheme) || scheme === 'http' ? 'n' : ''} ${scheme}: URL`
							: 'neither a data URL nor an https:// URL';
			throw new ParameterError(
				scheme === 'https' ? ALLOW_REMOTE_IMAGE_URLS_OPTION : 'messages',
				scheme === 'https'
					? `${which} is an https:// URL, which the gateway would fetch itself, from its own network; remote image URLs are off`
					: `${which} is ${what}; images go inline (PNG, JPEG, GIF or WebP data URLs) or, with Allow Remote Image URLs on, as https:// URLs`,
				{
					hint:
						scheme === 'https'
							? `Send the image inline (${hints.inline}), or turn on Allow Remote Image URLs in the node's options if the gateway may fetch it.`
							: `Send the image inline: ${hints.inline}.`,
				},
			);
		}
	});
}
