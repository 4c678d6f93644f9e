/**
 * One chat answer → one output item's JSON: Simplify Output's keys from the answer in the package's
 * shape, whatever the format; otherwise the provider's own answer. Pure.
 */
import type { IDataObject } from 'n8n-workflow';

import type { ChatCompletionResponse } from '../shared/wire/chat-client';
import type { WireFormat } from '../shared/wire/wire-format';
import { LlmApiError, ParameterError } from '../shared/core/errors';

/**
 * Models often wrap JSON in a Markdown fence (```json … ```) even when asked for a bare object. Cut by
 * hand, not by a pattern: a lazy pattern over a model's answer backtracks quadratically on long ones.
 */
export function unfence(text: string): string {
	const trimmed = text.trim();
	if (!trimmed.startsWith('```') || !trimmed.endsWith('```') || trimmed.length < 6) return trimmed;
	const inner = trimmed.slice(3, -3);
	const firstLineEnd = inner.indexOf('\n');
	const language = (firstLineEnd === -1 ? inner : inner.slice(0, firstLineEnd)).trim();
	// ```json\n{…}``` or ```\n{…}```: the first line names the language or is empty.
	if (firstLineEnd !== -1 && /^(json)?$/i.test(language)) return inner.slice(firstLineEnd + 1).trim();
	return inner.replace(/^json/i, '').trim();
}

export function parseJsonAnswer(content: unknown): unknown {
	if (typeof content !== 'string') return content;
	const unfenced = unfence(content);
	try {
		return JSON.parse(unfenced) as unknown;
	} catch (error) {
		const excerpt = content.length > 200 ? `${content.slice(0, 200)}…` : content;
		throw new ParameterError('jsonOutput', `The model's answer is not valid JSON (${(error as Error).message}): ${excerpt}`, {
			hint: 'Ask for JSON explicitly in a message, lower the temperature, or turn off Output Content as JSON.',
		});
	}
}

export function toOutputJson(
	answer: { completion: ChatCompletionResponse; raw: unknown },
	options: { simplify: boolean; jsonOutput: boolean; providerName: string; wire: WireFormat },
): IDataObject {
	const response = answer.completion;
	const choice = response.choices?.[0];
	if (!choice?.message) {
		throw new LlmApiError(`The LLM API of ${options.providerName} answered without a message`, {
			providerName: options.providerName,
			hint: "Check Base URL, and that the credential's API Format is the one this API speaks.",
		});
	}
	if (!options.simplify) {
		if (!options.jsonOutput) return answer.raw as IDataObject;
		// The content must be JSON whatever the format; where the format shows it parsed, it is.
		parseJsonAnswer(choice.message.content);
		return options.wire.withParsedContent(answer.raw, parseJsonAnswer) as IDataObject;
	}
	const { message } = choice;
	const output: IDataObject = {
		content: (options.jsonOutput ? parseJsonAnswer(message.content) : message.content) as IDataObject['content'],
		role: message.role,
		finishReason: choice.finish_reason ?? null,
		model: response.model ?? null,
		usage: (response.usage ?? null) as IDataObject['usage'],
	};
	if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) output.toolCalls = message.tool_calls as IDataObject[];
	return output;
}
