/**
 * The provider's own words from an error answer, whatever shape its gateway gives them. Token
 * endpoints and LLM APIs both answer through gateways, so one reader serves both. Pure; the caller
 * bounds and scrubs what it returns (scrub.ts), since all of it is server-controlled.
 */

export interface ProviderWords {
	/** What the provider says went wrong, as it said it. */
	message?: string;
	/** Its machine-readable code, when it gave one (OAuth `error`, OpenAI `error.code`, Apigee `ErrorCode`). */
	code?: string;
}

const text = (value: unknown): string | undefined =>
	typeof value === 'string' && value.trim() !== '' ? value.trim() : typeof value === 'number' ? String(value) : undefined;

function joined(code: string | undefined, message: string | undefined): string | undefined {
	if (code && message) return message.includes(code) ? message : `${code}: ${message}`;
	return message ?? code;
}

/** Reads one error object in the shapes real gateways use; undefined when it holds none of them. */
function fromObject(body: Record<string, unknown>): ProviderWords | undefined {
	const nested = body.error;
	// Gateways and OpenAI: {"error": {"message": …, "code" | "type": …}}.
	if (nested && typeof nested === 'object' && !Array.isArray(nested)) {
		const error = nested as Record<string, unknown>;
		const code = text(error.code) ?? text(error.type) ?? text(error.status);
		const message = text(error.message) ?? text(error.error_description) ?? text(error.description);
		if (code || message) return { message: message ?? code, code };
	}
	// RFC 6749 §5.2 {"error", "error_description"}; Apigee's {"ErrorCode", "Error"} uses `Error` (capital E).
	const oauthCode = text(nested);
	if (oauthCode) return { message: joined(oauthCode, text(body.error_description)), code: oauthCode };
	const apigeeCode = text(body.ErrorCode);
	const apigeeMessage = text(body.Error);
	if (apigeeCode || apigeeMessage) return { message: joined(apigeeCode, apigeeMessage), code: apigeeCode };
	// Apigee policies: {"fault": {"faultstring": …, "detail": {"errorcode": …}}}.
	const fault = body.fault;
	if (fault && typeof fault === 'object') {
		const record = fault as Record<string, unknown>;
		const detail = record.detail && typeof record.detail === 'object' ? (record.detail as Record<string, unknown>) : {};
		const code = text(detail.errorcode);
		const message = text(record.faultstring);
		if (code || message) return { message: message ?? code, code };
	}
	// Okta: {"errorCode": "E0000011", "errorSummary": "Invalid token provided"}.
	const oktaCode = text(body.errorCode);
	const oktaSummary = text(body.errorSummary);
	if (oktaCode || oktaSummary) return { message: oktaSummary ?? oktaCode, code: oktaCode };
	for (const key of ['message', 'detail', 'error_message', 'title', 'description']) {
		const message = text(body[key]);
		if (message) return { message, code: text(body.code) };
	}
	return undefined;
}

/**
 * `parsed` is the body as JSON when it parsed, `raw` the body as text. A plain-text body is the
 * message itself; an HTML page (a proxy's error page) says nothing worth quoting.
 */
export function providerWordsOf(parsed: unknown, raw: string): ProviderWords {
	if (parsed && typeof parsed === 'object') {
		const first = Array.isArray(parsed) ? parsed[0] : parsed;
		if (first && typeof first === 'object' && !Array.isArray(first)) return fromObject(first as Record<string, unknown>) ?? {};
		return {};
	}
	const plain = raw.trim();
	if (plain === '' || plain.startsWith('<')) return {};
	return { message: plain };
}
