/**
 * The one mapping from this package's errors to n8n's: NodeOperationError for configuration,
 * validation and parameter problems; NodeApiError (with httpCode) for token endpoint and LLM API
 * failures. Only scrubbed, hand-picked fields reach n8n, which shows and stores the whole error object.
 */
import { NodeApiError, NodeOperationError, type INode, type JsonObject } from 'n8n-workflow';

import { AbortedError } from '../core/clock';
import {
	LlmApiError,
	OAuth2AuthenticationError,
	OAuth2ConfigurationError,
	OAuth2Error,
	OAuth2ValidationError,
	ParameterError,
	secretsNotScrubbed,
} from '../core/errors';
import { scrubText, scrubValue } from '../core/scrub';

function withoutUndefined(record: Record<string, unknown>): JsonObject {
	return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as JsonObject;
}

/**
 * @param secrets extra strings to scrub (the provider's secrets and tokens) on top of what the
 * package's errors already scrubbed.
 */
export function toNodeError(
	node: INode,
	error: unknown,
	itemIndex?: number,
	secrets: ReadonlyArray<string | undefined> = [],
): NodeApiError | NodeOperationError {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;

	if (error instanceof OAuth2AuthenticationError || error instanceof LlmApiError) {
		const status = error.status;
		// n8n stores this object in the execution data. Every field, the server's OAuth `error` and API
		// `code` included, was scrubbed where the error was made; here only of what the caller knows
		// beyond that (an access token, a header value), and not at all when that is nothing.
		const remaining = secretsNotScrubbed(error, secrets);
		const details = withoutUndefined({
			name: error.name,
			message: error.message,
			provider: error.providerName,
			httpCode: status === undefined ? undefined : String(status),
			...(error instanceof OAuth2AuthenticationError
				? {
						error: error.oauthError,
						error_description: error.oauthErrorDescription,
						cause: error.originalError ? JSON.stringify(error.originalError) : undefined,
					}
				: { code: error.code, response: error.responseBody as JsonObject | undefined }),
		});
		// Always walked (bounded, and the patterns applied), but only the remaining secrets' forms are searched:
		// the expensive part, each secret in every encoding over a large body, is done once.
		const response = scrubValue(details, remaining) as JsonObject;
		const message = scrubText(error.message, remaining);
		const nodeError = new NodeApiError(node, response, {
			message,
			description: error.hint,
			httpCode: status === undefined ? undefined : String(status),
			itemIndex,
		});
		// NodeApiError swaps any message that mentions a known code (ECONNREFUSED, ETIMEDOUT…) for a
		// generic sentence that names neither the provider nor the endpoint; ours says both.
		nodeError.message = message;
		return nodeError;
	}

	if (error instanceof OAuth2ValidationError || error instanceof OAuth2ConfigurationError || error instanceof ParameterError) {
		return new NodeOperationError(node, scrubText(error.message, secrets), {
			itemIndex,
			description: error.hint,
		});
	}

	if (error instanceof OAuth2Error || error instanceof AbortedError) {
		return new NodeOperationError(node, scrubText(error.message, secrets), { itemIndex });
	}

	// Anything else (a bug, an unexpected library error): its message only, never the object.
	const message = error instanceof Error ? error.message : String(error);
	return new NodeOperationError(node, scrubText(message, secrets), { itemIndex });
}
