/**
 * One token request on the wire (RFC 6749 §4.4 client credentials, §6 refresh token): grant, client
 * authentication, response parsing. No caching and no retries here: token-cache.ts owns those.
 */
import axios, { type AxiosResponse } from 'axios';

import {
	OAuth2AuthenticationError,
	redactCause,
	scrubText,
	scrubValue,
	type AuthenticationErrorOptions,
} from './errors';
import { secretsOf, type TokenEndpointConfig } from './provider-config';
import { parseRetryAfterMs } from './retry';
import type { AccessToken } from './token-policy';

/** Used when a token response has neither `expires_in`, `expires_on` nor a JWT `exp` (RFC 6749 §5.1 makes them optional). */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 3600;
/** A token endpoint answers in well under a second; a hung one should cost retries, not minutes. */
export const DEFAULT_TOKEN_TIMEOUT_MS = 15_000;

export interface TokenRequestOptions {
	providerName: string;
	nowMs: () => number;
	timeoutMs?: number;
	signal?: AbortSignal;
	/** The refresh token to use now: the configured one, or the one the server rotated it to. */
	refreshToken?: string;
}

/** RFC 6749 Appendix B: application/x-www-form-urlencoded, as used for the Basic header in §2.3.1. */
export function formEncode(value: string): string {
	return new URLSearchParams([['', value]]).toString().slice(1);
}

export function basicAuthorization(config: TokenEndpointConfig): string {
	const encode = config.basicAuthEncoding === 'raw' ? (value: string) => value : formEncode;
	const pair = `${encode(config.clientId)}:${encode(config.clientSecret)}`;
	return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

export interface TokenHttpRequest {
	headers: Record<string, string>;
	body: string;
}

export function buildTokenRequest(config: TokenEndpointConfig, refreshToken?: string): TokenHttpRequest {
	const form = new URLSearchParams();
	if (refreshToken) {
		form.set('grant_type', 'refresh_token');
		form.set('refresh_token', refreshToken);
	} else {
		form.set('grant_type', 'client_credentials');
	}
	if (config.scope) form.set('scope', config.scope);
	for (const [name, value] of Object.entries(config.additionalTokenParameters)) form.set(name, value);

	const headers: Record<string, string> = {
		'Content-Type': 'application/x-www-form-urlencoded',
		Accept: 'application/json',
	};
	if (config.clientAuthentication === 'header' && config.clientSecret) {
		headers.Authorization = basicAuthorization(config);
	} else {
		form.set('client_id', config.clientId);
		if (config.clientSecret) form.set('client_secret', config.clientSecret);
	}
	return { headers, body: form.toString() };
}

function parseBody(text: string, contentType: string | undefined): unknown {
	try {
		return JSON.parse(text) as unknown;
	} catch {
		// A few older servers (GitHub-style) answer form-encoded.
		if (contentType?.includes('application/x-www-form-urlencoded')) {
			return Object.fromEntries(new URLSearchParams(text));
		}
		return undefined;
	}
}

function positiveNumber(value: unknown): number | undefined {
	const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
	return typeof number === 'number' && Number.isFinite(number) && number > 0 ? number : undefined;
}

/** Lifetime from a JWT's own claims, when the server sent no expiry field. Not verified: only for scheduling. */
function jwtLifetimeSeconds(accessToken: string, nowMs: number): number | undefined {
	const parts = accessToken.split('.');
	if (parts.length !== 3) return undefined;
	try {
		const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown; iat?: unknown };
		const exp = positiveNumber(claims.exp);
		if (exp === undefined) return undefined;
		const iat = positiveNumber(claims.iat);
		// exp - iat is immune to clock skew between us and the server; exp - now is the fallback.
		return iat !== undefined && exp > iat ? exp - iat : positiveNumber(exp - nowMs / 1000);
	} catch {
		return undefined;
	}
}

/**
 * Lifetime in seconds: `expires_in` (number or numeric string; RFC 6749 §5.1), else `expires_on`
 * (epoch seconds, Entra ID v1), else the JWT's exp, else DEFAULT_TOKEN_LIFETIME_SECONDS.
 */
export function tokenLifetimeSeconds(body: Record<string, unknown>, accessToken: string, nowMs: number): number {
	const expiresIn = positiveNumber(body.expires_in);
	if (expiresIn !== undefined) return expiresIn;
	const expiresOn = positiveNumber(body.expires_on);
	if (expiresOn !== undefined) {
		const remaining = expiresOn - nowMs / 1000;
		if (remaining > 0) return remaining;
	}
	return jwtLifetimeSeconds(accessToken, nowMs) ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
}

// RFC 6749 §4.1.2.1 defines these two as transient; some token endpoints use them with a 400.
const TRANSIENT_OAUTH_ERRORS = new Set(['temporarily_unavailable', 'server_error']);

function isRetryableStatus(status: number): boolean {
	return status === 408 || status === 429 || status >= 500;
}

function clientCredentialsHint(config: TokenEndpointConfig): string {
	const special = /[^A-Za-z0-9\-._~]/.test(config.clientId + config.clientSecret);
	const encodingHint =
		config.clientAuthentication === 'header' && config.basicAuthEncoding === 'formEncoded' && special
			? ' Your client ID or secret has characters that RFC 6749 form-encodes inside the Basic header; if the provider expects them raw (SAP AI Core / XSUAA does), set Basic Auth Encoding to Raw.'
			: '';
	return `Check Client ID and Client Secret, and whether the provider wants them in the request body or in a Basic header (Client Authentication).${encodingHint}`;
}

function hintFor(oauthError: string | undefined, status: number, config: TokenEndpointConfig): string {
	switch (oauthError) {
		case 'invalid_client':
			return clientCredentialsHint(config);
		case 'invalid_scope':
			return 'Check the Scope field: the provider does not grant that scope to this client.';
		case 'unauthorized_client':
			return 'The provider does not let this client use this grant type; enable client credentials for the client at the provider.';
		case 'invalid_grant':
			return config.refreshToken
				? 'The refresh token was rejected (expired, revoked or already rotated): put a fresh one in Refresh Token.'
				: 'The provider rejected the grant; check Scope and Additional Token Parameters.';
		case 'unsupported_grant_type':
			return 'The provider does not support this grant on this endpoint; check Token URL.';
		case 'invalid_request':
			return 'The provider says the request is malformed; check Token URL, Scope and Additional Token Parameters (audience/resource).';
		default:
			if (status === 404 || status === 405) return 'Check Token URL: the provider has no token endpoint there.';
			// Not every server says invalid_client: XSUAA answers 401 "unauthorized: Bad credentials".
			if (status === 401 || status === 403) return clientCredentialsHint(config);
			if (isRetryableStatus(status)) return 'The token endpoint is unavailable; try again later.';
			return 'Check the credential fields against the provider\'s documentation.';
	}
}

/** Turns the token endpoint's HTTP answer into a token or an OAuth2AuthenticationError. Pure. */
export function parseTokenResponse(
	response: { status: number; headers: Record<string, unknown>; bodyText: string },
	config: TokenEndpointConfig,
	providerName: string,
	nowMs: number,
): AccessToken {
	const secrets = secretsOf(config);
	const contentType = typeof response.headers['content-type'] === 'string' ? response.headers['content-type'] : undefined;
	const parsed = parseBody(response.bodyText, contentType);
	const body = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
	const oauthError = typeof body?.error === 'string' ? body.error : undefined;
	const oauthErrorDescription =
		typeof body?.error_description === 'string' ? scrubText(body.error_description, secrets) : undefined;
	const ok = response.status >= 200 && response.status < 300;

	if (ok && body && !oauthError) {
		const accessToken = body.access_token;
		if (typeof accessToken !== 'string' || accessToken.trim() === '') {
			throw new OAuth2AuthenticationError(
				`The token endpoint of ${providerName} answered HTTP ${response.status} without an access_token`,
				{
					providerName,
					status: response.status,
					hint: 'Check Token URL: it must be the provider\'s OAuth2 token endpoint, not a login page or API URL.',
				},
			);
		}
		const lifetimeSeconds = tokenLifetimeSeconds(body, accessToken, nowMs);
		return {
			accessToken,
			obtainedAtMs: nowMs,
			expiresAtMs: nowMs + lifetimeSeconds * 1000,
			refreshToken: typeof body.refresh_token === 'string' && body.refresh_token ? body.refresh_token : undefined,
			scope: typeof body.scope === 'string' ? body.scope : undefined,
		};
	}

	const retryable = isRetryableStatus(response.status) || (oauthError !== undefined && TRANSIENT_OAUTH_ERRORS.has(oauthError));
	const what = oauthError
		? `${oauthError}${oauthErrorDescription ? `: ${oauthErrorDescription}` : ''}`
		: ok
			? `an answer that is not a JSON token response`
			: `HTTP ${response.status}`;
	const options: AuthenticationErrorOptions = {
		providerName,
		status: response.status,
		oauthError,
		oauthErrorDescription,
		retryable,
		retryAfterMs: parseRetryAfterMs(response.headers['retry-after'], nowMs),
		hint: hintFor(oauthError, response.status, config),
		originalError: {
			name: 'TokenEndpointResponse',
			message: JSON.stringify(scrubValue(body ?? response.bodyText.slice(0, 500), secrets)),
		},
	};
	const statusNote = oauthError ? ` (HTTP ${response.status})` : '';
	throw new OAuth2AuthenticationError(`Token request to ${providerName} failed: ${what}${statusNote}`, options);
}

const TRANSIENT_NETWORK_CODES = new Set([
	'ECONNREFUSED',
	'ECONNRESET',
	'ETIMEDOUT',
	'ECONNABORTED',
	'EPIPE',
	'EAI_AGAIN',
	'ENETUNREACH',
	'EHOSTUNREACH',
	'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** Network-level failure (no HTTP answer) as an error the user can act on; retryable when it may pass. */
export function networkError(error: unknown, what: string, url: string, secrets: string[]): {
	message: string;
	code?: string;
	retryable: boolean;
	aborted: boolean;
} {
	const code = (error as { code?: unknown })?.code;
	const codeText = typeof code === 'string' ? code : undefined;
	const aborted = axios.isCancel(error) || codeText === 'ERR_CANCELED';
	const timedOut = codeText === 'ECONNABORTED' || codeText === 'ETIMEDOUT';
	const cause = redactCause(error, secrets);
	const detail = timedOut ? 'timed out' : codeText === 'ENOTFOUND' ? 'host not found' : (codeText ?? cause.message);
	return {
		message: `Could not reach the ${what} at ${scrubText(url, secrets)}: ${detail}`,
		code: codeText,
		retryable: !aborted && (codeText === undefined ? /socket hang up/i.test(cause.message) : TRANSIENT_NETWORK_CODES.has(codeText)),
		aborted,
	};
}

/** One POST to the token endpoint. Throws OAuth2AuthenticationError (retryable or not), never a raw axios error. */
export async function requestToken(config: TokenEndpointConfig, options: TokenRequestOptions): Promise<AccessToken> {
	const request = buildTokenRequest(config, options.refreshToken);
	let response: AxiosResponse<string>;
	try {
		response = await axios.post<string>(config.tokenUrl, request.body, {
			headers: request.headers,
			timeout: options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS,
			signal: options.signal,
			responseType: 'text',
			transformResponse: (data: unknown) => data,
			validateStatus: () => true,
			// A redirected POST turns into a GET and loses the grant; report it instead.
			maxRedirects: 0,
		});
	} catch (error) {
		const secrets = [...secretsOf(config), options.refreshToken];
		const failure = networkError(error, `token endpoint of ${options.providerName}`, config.tokenUrl, secrets as string[]);
		throw new OAuth2AuthenticationError(failure.message, {
			providerName: options.providerName,
			retryable: failure.retryable,
			originalError: redactCause(error, secrets),
			hint: failure.aborted
				? undefined
				: failure.code === 'ENOTFOUND'
					? 'Check the host name in Token URL.'
					: 'Check Token URL and that n8n can reach it (proxy, firewall, TLS).',
		});
	}
	if (response.status >= 300 && response.status < 400) {
		const location = typeof response.headers.location === 'string' ? response.headers.location : 'elsewhere';
		throw new OAuth2AuthenticationError(
			`The token endpoint of ${options.providerName} redirects (HTTP ${response.status}) to ${scrubText(location, secretsOf(config))}`,
			{ providerName: options.providerName, status: response.status, hint: 'Put the final token endpoint URL in Token URL.' },
		);
	}
	return parseTokenResponse(
		{ status: response.status, headers: response.headers as Record<string, unknown>, bodyText: String(response.data ?? '') },
		options.refreshToken ? { ...config, refreshToken: options.refreshToken } : config,
		options.providerName,
		options.nowMs(),
	);
}
