/**
 * The item's binary images (option Image Binary Properties) → `image_url` content parts with data
 * URLs, the form every OpenAI-compatible chat API takes. Reads through n8n's helper, so binary data
 * kept on disk or in S3 (N8N_DEFAULT_BINARY_DATA_MODE) works too.
 */
import type { IExecuteFunctions } from 'n8n-workflow';

import { ParameterError } from '../shared/core/errors';
import type { OpenAiContentPart } from '../shared/wire/openai-wire';

import { MAX_IMAGE_BYTES, MAX_IMAGE_BYTES_PER_ITEM, MAX_IMAGES_PER_ITEM, mebibytes } from '../shared/wire/image-policy';


/** What n8n knows of a binary's size without reading it: `bytes` (2.x), else the base64 length of data held in memory. */
function knownSize(entry: { bytes?: unknown; id?: unknown; data?: unknown }): number | undefined {
	if (typeof entry.bytes === 'number') return entry.bytes;
	if (!entry.id && typeof entry.data === 'string') return Math.floor((entry.data.length * 3) / 4);
	return undefined;
}
const OPTION = 'options.imageBinaryProperties';

/** The last setting read and its names: one value for every item, unless it is an expression. */
let lastSetting: { setting: string | undefined; names: readonly string[] } = { setting: undefined, names: [] };

export function imagePropertyNames(setting: string | undefined): readonly string[] {
	if (setting !== lastSetting.setting) {
		const names = (setting ?? '')
			.split(',')
			.map((name) => name.trim())
			.filter((name) => name !== '');
		lastSetting = { setting, names: Object.freeze(names) };
	}
	return lastSetting.names;
}

export async function imageParts(context: IExecuteFunctions, itemIndex: number, names: readonly string[]): Promise<OpenAiContentPart[]> {
	const binary = context.getInputData()[itemIndex]?.binary ?? {};
	const parts: OpenAiContentPart[] = [];
	if (names.length > MAX_IMAGES_PER_ITEM) {
		throw new ParameterError(OPTION, `Image Binary Properties names ${names.length} properties; at most ${MAX_IMAGES_PER_ITEM} images are sent per item`);
	}
	let total = 0;
	for (const name of names) {
		const entry = binary[name];
		if (!entry) {
			const present = Object.keys(binary);
			throw new ParameterError(OPTION, `Item ${itemIndex + 1} has no binary property "${name}"`, {
				hint: present.length > 0 ? `Its binary properties are: ${present.join(', ')}.` : 'This item has no binary data; read or download the image in an earlier node.',
			});
		}
		const mimeType = (entry.mimeType ?? '').toLowerCase();
		if (!mimeType.startsWith('image/')) {
			throw new ParameterError(OPTION, `Binary property "${name}" of item ${itemIndex + 1} is ${mimeType || 'of no known type'}, not an image`, {
				hint: 'Chat completions take images (PNG, JPEG, GIF, WebP) only; convert other files to text first.',
			});
		}
		const tooLarge = (size: number) =>
			new ParameterError(OPTION, `Binary property "${name}" of item ${itemIndex + 1} is ${mebibytes(size)}; at most ${MAX_IMAGE_BYTES / 1024 / 1024} MiB per image are sent`, {
				hint: 'Scale the image down first (n8n\'s Edit Image node can resize it).',
			});
		// Checked before reading where n8n knows the size: a file kept on disk or in S3 may be large.
		const announced = knownSize(entry as { bytes?: unknown; id?: unknown; data?: unknown });
		if (announced !== undefined && announced > MAX_IMAGE_BYTES) throw tooLarge(announced);
		const bytes = await context.helpers.getBinaryDataBuffer(itemIndex, name);
		if (bytes.length > MAX_IMAGE_BYTES) throw tooLarge(bytes.length);
		total += bytes.length;
		if (total > MAX_IMAGE_BYTES_PER_ITEM) {
			throw new ParameterError(OPTION, `The images of item ${itemIndex + 1} are ${mebibytes(total)} together; at most ${MAX_IMAGE_BYTES_PER_ITEM / 1024 / 1024} MiB per item are sent`);
		}
		parts.push({ type: 'image_url', image_url: { url: `data:${mimeType};base64,${bytes.toString('base64')}` } });
	}
	return parts;
}
