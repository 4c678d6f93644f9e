/**
 * One input item's parameters → one OpenAI-compatible chat completion request. Pure.
 */
import { ParameterError } from '../shared/errors';

export const CHAT_ROLES = ['system', 'user', 'assistant'] as const;

export interface ChatOptions {
	temperature?: number;
	maxTokens?: number;
	topP?: number;
	frequencyPenalty?: number;
	presencePenalty?: number;
	stop?: string;
	timeout?: number;
	maxRetries?: number;
	maxResponseSizeMb?: number;
	concurrency?: number;
}

export interface ChatParameters {
	model: unknown;
	messages: Array<{ role?: unknown; content?: unknown }>;
	jsonOutput: boolean;
	options: ChatOptions;
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

export function buildChatRequest(parameters: ChatParameters): Record<string, unknown> {
	const model = typeof parameters.model === 'string' ? parameters.model.trim() : '';
	if (!model) {
		throw new ParameterError('model', 'No model is set', {
			hint: 'Pick a model from the list, or switch Model to "By Name" and type the model or deployment name.',
		});
	}
	if (parameters.messages.length === 0) {
		throw new ParameterError('messages', 'There are no messages to send', { hint: 'Add at least one message under Messages.' });
	}
	const messages = parameters.messages.map((message, index) => {
		const role = message.role ?? 'user';
		if (typeof role !== 'string' || !(CHAT_ROLES as readonly string[]).includes(role)) {
			throw new ParameterError('messages', `Message ${index + 1} has the role "${String(role)}"`, {
				hint: `Use one of: ${CHAT_ROLES.join(', ')}.`,
			});
		}
		const content = contentText(message.content);
		if (content.trim() === '') {
			throw new ParameterError('messages', `Message ${index + 1} (${role}) is empty`, {
				hint: 'Type its content, or check that the expression in it resolves for this item.',
			});
		}
		return { role, content };
	});

	const { options } = parameters;
	const request: Record<string, unknown> = { model, messages };
	if (options.temperature !== undefined) request.temperature = options.temperature;
	if (options.maxTokens !== undefined) request.max_tokens = options.maxTokens;
	if (options.topP !== undefined) request.top_p = options.topP;
	if (options.frequencyPenalty !== undefined) request.frequency_penalty = options.frequencyPenalty;
	if (options.presencePenalty !== undefined) request.presence_penalty = options.presencePenalty;
	const stop = parseStop(options.stop);
	if (stop !== undefined) request.stop = stop;
	if (parameters.jsonOutput) request.response_format = { type: 'json_object' };
	return request;
}
