/**
 * The package's error family and the one place where secrets are scrubbed from anything a user can see.
 *
 * n8n shows a node error's whole object in the editor and stores it in the execution data, and an axios
 * error carries `config.data` (the form body with client_secret) and `config.headers` (Authorization).
 * So no error here ever keeps a raw axios error: only status, code, OAuth error fields and scrubbed text.
 */

export const REDACTED = '**hidden**';

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
}

/** Getting an access token failed: the token endpoint said no, answered nonsense, or could not be reached. */
export class OAuth2AuthenticationError extends OAuth2Error {
	readonly status?: number;
	readonly oauthError?: string;
	readonly oauthErrorDescription?: string;
	readonly retryable: boolean;
	readonly retryAfterMs?: number;
	readonly originalError?: RedactedCause;

	constructor(message: string, options: AuthenticationErrorOptions = {}) {
		super(message, options);
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

const AUTHORIZATION_VALUE_PATTERN = /\b(Bearer|Basic)\s+([A-Za-z0-9\-._~+/]+=*)/gi;
/** A credential value, not an English word ("Basic header", "Bearer token"): long, and not all lower-case letters. */
const looksLikeCredential = (value: string) => value.length >= 8 && !/^[a-z]+$/.test(value);
// Three base64url segments: a JWT, whoever's it is.
const JWT_PATTERN = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const SECRET_FIELD_PATTERN =
	/\b(client_secret|refresh_token|access_token|id_token|password|assertion)=[^&\s"']+/gi;

/** Shortest secret worth searching for: shorter strings would blank out ordinary words. */
const MIN_SECRET_LENGTH = 4;

/**
 * Replaces every known secret (and anything shaped like a credential: Authorization values, JWTs,
 * form fields named like secrets) in a text by REDACTED.
 */
export function scrubText(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
	let scrubbed = text;
	const known = secrets
		.filter((secret): secret is string => typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH)
		.sort((a, b) => b.length - a.length);
	for (const secret of known) {
		scrubbed = scrubbed.split(secret).join(REDACTED);
		// A secret may also appear form- or URI-encoded (it went out in a form body or a Basic header).
		const encoded = encodeURIComponent(secret);
		if (encoded !== secret) scrubbed = scrubbed.split(encoded).join(REDACTED);
	}
	return scrubbed
		.replace(AUTHORIZATION_VALUE_PATTERN, (match, scheme: string, value: string) =>
			looksLikeCredential(value) ? `${scheme} ${REDACTED}` : match,
		)
		.replace(JWT_PATTERN, REDACTED)
		.replace(SECRET_FIELD_PATTERN, (_match, field: string) => `${field}=${REDACTED}`);
}

const MAX_BODY_TEXT_LENGTH = 2000;
const SECRET_KEY_PATTERN = /secret|token|password|authorization|assertion|api[-_]?key/i;

/** Deep copy of a JSON-ish value with secret-named keys dropped and every string scrubbed. */
export function scrubValue(value: unknown, secrets: ReadonlyArray<string | undefined> = [], depth = 0): unknown {
	if (depth > 6) return '[…]';
	if (typeof value === 'string') {
		const text = scrubText(value, secrets);
		return text.length > MAX_BODY_TEXT_LENGTH ? `${text.slice(0, MAX_BODY_TEXT_LENGTH)}…` : text;
	}
	if (Array.isArray(value)) return value.slice(0, 50).map((entry) => scrubValue(entry, secrets, depth + 1));
	if (value && typeof value === 'object') {
		const copy: Record<string, unknown> = {};
		for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
			// OAuth error bodies legitimately carry `error`/`error_description`; keys like `access_token` never belong in a report.
			copy[key] = SECRET_KEY_PATTERN.test(key) ? REDACTED : scrubValue(entry, secrets, depth + 1);
		}
		return copy;
	}
	return value;
}

/** Keeps only name, message and code of a low-level error (axios, socket, DNS), scrubbed. */
export function redactCause(error: unknown, secrets: ReadonlyArray<string | undefined> = []): RedactedCause {
	if (error instanceof Error) {
		const code = (error as { code?: unknown }).code;
		return {
			name: error.name,
			message: scrubText(error.message, secrets),
			...(typeof code === 'string' ? { code } : {}),
		};
	}
	return { name: 'Error', message: scrubText(String(error), secrets) };
}
