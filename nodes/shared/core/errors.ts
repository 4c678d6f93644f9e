/**
 * The package's error family.
 *
 * n8n shows a node error's whole object in the editor and stores it in the execution data, and an axios
 * error carries `config.data` (the form body with client_secret) and `config.headers` (Authorization).
 * So no error here ever keeps a raw axios error: only status, code, OAuth error fields and text that
 * scrub.ts has bounded and scrubbed.
 */

export interface OAuth2ErrorOptions {
	/** Which provider (credential name, or token URL host) this is about, so a message names it. */
	providerName?: string;
	/** What the user should do about it. Shown as the n8n error's description. */
	hint?: string;
}

export class OAuth2Error extends Error {
	readonly providerName?: string;
	readonly hint?: string;

	constructor(message: string, options: OAuth2ErrorOptions = {}) {
		super(message);
		this.name = new.target.name;
		this.providerName = options.providerName;
		this.hint = options.hint;
	}
}

/** The configuration is missing or unusable as a whole (no credential, unreadable JSON field…). */
export class OAuth2ConfigurationError extends OAuth2Error {
	readonly field?: string;

	constructor(message: string, options: OAuth2ErrorOptions & { field?: string } = {}) {
		super(message, options);
		this.field = options.field;
	}
}

export interface ValidationIssue {
	/** Field name as the user sees it in the credential, or a JSON path in an imported file. */
	field: string;
	message: string;
}

/** One or more fields failed validation; every issue is kept so the user can fix them all at once. */
export class OAuth2ValidationError extends OAuth2Error {
	readonly issues: ValidationIssue[];

	constructor(issues: ValidationIssue[], options: OAuth2ErrorOptions = {}) {
		const where = options.providerName ? ` for ${options.providerName}` : '';
		const summary = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
		super(`Invalid OAuth2 LLM provider configuration${where}: ${summary}`, options);
		this.issues = issues;
	}
}

/** A redacted picture of the low-level error behind a failure: never the request's body or headers. */
export interface RedactedCause {
	name: string;
	message: string;
	code?: string;
}

export interface AuthenticationErrorOptions extends OAuth2ErrorOptions {
	/** HTTP status of the token endpoint's answer; absent for network errors. */
	status?: number;
	/** RFC 6749 §5.2 `error`, e.g. `invalid_client`. */
	oauthError?: string;
	/** RFC 6749 §5.2 `error_description`, scrubbed. */
	oauthErrorDescription?: string;
	retryable?: boolean;
	retryAfterMs?: number;
	originalError?: RedactedCause;
	/** A refresh grant whose answer was lost: the server may have consumed (rotated) the refresh token it sent. */
	refreshTokenMayBeSpent?: boolean;
}

/** Getting an access token failed: the token endpoint said no, answered nonsense, or could not be reached. */
export class OAuth2AuthenticationError extends OAuth2Error {
	readonly status?: number;
	readonly oauthError?: string;
	readonly oauthErrorDescription?: string;
	readonly retryable: boolean;
	readonly retryAfterMs?: number;
	readonly originalError?: RedactedCause;
	readonly refreshTokenMayBeSpent: boolean;

	constructor(message: string, options: AuthenticationErrorOptions = {}) {
		super(message, options);
		this.refreshTokenMayBeSpent = options.refreshTokenMayBeSpent ?? false;
		this.status = options.status;
		this.oauthError = options.oauthError;
		this.oauthErrorDescription = options.oauthErrorDescription;
		this.retryable = options.retryable ?? false;
		this.retryAfterMs = options.retryAfterMs;
		this.originalError = options.originalError;
	}
}

export interface LlmApiErrorOptions extends OAuth2ErrorOptions {
	status?: number;
	/** Provider's error code (OpenAI `error.code` / `error.type`) or a network error code. */
	code?: string;
	retryable?: boolean;
	retryAfterMs?: number;
	/** The provider's answer body, scrubbed and truncated, for the error's details. */
	responseBody?: unknown;
}

/** The LLM API (chat completions, models) answered with an error or could not be reached. */
export class LlmApiError extends OAuth2Error {
	readonly status?: number;
	readonly code?: string;
	readonly retryable: boolean;
	readonly retryAfterMs?: number;
	readonly responseBody?: unknown;

	constructor(message: string, options: LlmApiErrorOptions = {}) {
		super(message, options);
		this.status = options.status;
		this.code = options.code;
		this.retryable = options.retryable ?? false;
		this.retryAfterMs = options.retryAfterMs;
		this.responseBody = options.responseBody;
	}
}

/** A node parameter of one item is unusable (bad role, empty message, unparseable JSON answer…). */
export class ParameterError extends OAuth2Error {
	readonly parameter: string;

	constructor(parameter: string, message: string, options: OAuth2ErrorOptions = {}) {
		super(message, options);
		this.parameter = parameter;
	}
}

/**
 * Which secrets an error's fields were already scrubbed of where it was made. Kept beside the error,
 * not on it: nothing that prints or serialises the error can show them. The mapping to n8n's errors
 * then scrubs only of what the maker did not know (an access token, a header value), so a large error
 * body is walked once, not twice.
 */
const scrubbedOf = new WeakMap<Error, ReadonlySet<string>>();

export function markScrubbed(error: unknown, secrets: ReadonlyArray<string | undefined>): void {
	if (!(error instanceof Error)) return;
	const known = new Set(scrubbedOf.get(error));
	for (const secret of secrets) if (secret) known.add(secret);
	scrubbedOf.set(error, known);
}

/** The secrets among `secrets` that `error` was not yet scrubbed of (all of them for an unmarked error). */
export function secretsNotScrubbed(error: unknown, secrets: ReadonlyArray<string | undefined>): string[] {
	const known = error instanceof Error ? scrubbedOf.get(error) : undefined;
	return secrets.filter((secret): secret is string => !!secret && !known?.has(secret));
}

/** What `error` was scrubbed of, for an error made from it (the same fields, the same scrubbing). */
export function scrubbedSecretsOf(error: unknown): string[] {
	return error instanceof Error ? [...(scrubbedOf.get(error) ?? [])] : [];
}
