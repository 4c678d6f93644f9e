/**
 * One token request on the wire: the grant (RFC 6749 §4.4 client credentials, §6 refresh token,
 * RFC 7523 §2.1 JWT bearer, RFC 8693 token exchange, or a platform's metadata endpoint), client
 * authentication, response parsing. No caching and no retries here: token-cache.ts owns those.
 */
import { CLIENT_ASSERTION_TYPE, signClientAssertion, signGrantAssertion } from '../keys/client-assertion';
import { readFederatedToken, type Environment } from '../keys/workload-identity';
import { discoverIssuerOf } from './discovery';
import { FEDERATED_TOKEN_ORIGINS_HINT, federatedTokenMayGoTo } from '../config/identity-policy';
import { platformTokenRequest, PLATFORM_TOKEN_TIMEOUT_MS, type PlatformTokenRequest } from './platform-identity';
import { certificateDateWarning } from '../keys/client-key';
import { markScrubbed, OAuth2AuthenticationError, type AuthenticationErrorOptions } from '../core/errors';
import { asTransportFailure, exchange, isTransientFailure, redirectTarget, requestNeverArrived, tlsFailureHint, TransportFailure, type HttpAnswer } from '../transport/http';
import { PLATFORM_GRANTS, secretsOf, type TokenEndpointConfig } from '../config/provider-config';
import { providerWordsOf } from '../core/provider-error';
import { parseRetryAfterMs } from '../transport/retry';
import { boundedServerText, formEncode, scrubValue, urlForMessage } from '../core/scrub';

/** Used when a token response has neither `expires_in`, `expires_on` nor a JWT `exp` (RFC 6749 §5.1 makes them optional). */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 3600;
/** A token endpoint answers in well under a second; a hung one should cost retries, not minutes. A deadline for the whole exchange. */
export const DEFAULT_TOKEN_TIMEOUT_MS = 15_000;
/** Largest token response read (after decompression): real ones are a few KiB. */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/**
 * Longest access token accepted: it goes out as a header, and common servers cap a header line at
 * 8–16 KiB (nginx, Node). Entra ID tokens with many group claims stay well below this.
 */
export const MAX_ACCESS_TOKEN_CHARS = 16 * 1024;
/** RFC 6750 §2.1 b64token, widened to visible ASCII: anything else cannot go into an HTTP header. */
const ACCESS_TOKEN_PATTERN = /^[\x21-\x7E]+$/;

export interface TokenRequestOptions {
	providerName: string;
	/** Wall-clock time (ms since epoch): expires_on and JWT exp are wall-clock dates. */
	wallNowMs: () => number;
	timeoutMs?: number;
	signal?: AbortSignal;
	/** The refresh token to use now: the configured one, or the one the server rotated it to. */
	refreshToken?: string;
	/** n8n's environment (workload identity file, platform endpoints); tests pass their own. */
	env?: Environment;
}

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** What proves the grant and the client in one token request; each is a secret, made or read for this request only. */
export interface TokenProofs {
	refreshToken?: string;
	clientAssertion?: string;
	/** jwtBearer: the grant's signed assertion. */
	grantAssertion?: string;
	/** tokenExchange: the federated token file's content. */
	subjectToken?: string;
}

const proofValues = (proofs: TokenProofs) => [proofs.refreshToken, proofs.clientAssertion, proofs.grantAssertion, proofs.subjectToken];

export function basicAuthorization(config: TokenEndpointConfig): string {
	const encode = config.basicAuthEncoding === 'raw' ? (value: string) => value : formEncode;
	const pair = `${encode(config.clientId)}:${encode(config.clientSecret)}`;
	return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

export interface TokenHttpRequest {
	headers: Record<string, string>;
	body: string;
}

/**
 * The client_assertion for this request (RFC 7523 §2.2), or undefined for the other methods. Signed
 * anew on every call: a retry must not resend a used `jti`.
 */
export function clientAssertionFor(config: TokenEndpointConfig, wallNowMs: number, tokenUrl = config.tokenUrl): string | undefined {
	if (!config.assertion) return undefined;
	const key = config.assertion.algorithm === 'HS256'
		? { clientSecret: config.clientSecret }
		: { privateKeyPem: config.privateKeyPem ?? '', passphrase: config.privateKeyPassphrase };
	return signClientAssertion({ ...config.assertion, audience: config.assertion.audience ?? tokenUrl }, key, config.clientId, wallNowMs / 1000);
}

/** The JWT bearer grant's assertion (RFC 7523 §2.1), signed anew for every request. */
export function grantAssertionFor(config: TokenEndpointConfig, wallNowMs: number, tokenUrl = config.tokenUrl): string | undefined {
	const settings = config.grantAssertion;
	if (!settings) return undefined;
	return signGrantAssertion(
		settings,
		{ issuer: settings.issuer, subject: settings.subject, audience: settings.audience ?? tokenUrl, scope: settings.scopeInClaim ? config.scope : undefined },
		{ privateKeyPem: config.privateKeyPem ?? '', passphrase: config.privateKeyPassphrase },
		wallNowMs / 1000,
	);
}

function setGrant(form: URLSearchParams, config: TokenEndpointConfig, proofs: TokenProofs): void {
	switch (config.grantType) {
		case 'refreshToken':
			form.set('grant_type', 'refresh_token');
			form.set('refresh_token', proofs.refreshToken ?? '');
			return;
		case 'jwtBearer':
			form.set('grant_type', JWT_BEARER_GRANT);
			form.set('assertion', proofs.grantAssertion ?? '');
			return;
		case 'tokenExchange':
			form.set('grant_type', TOKEN_EXCHANGE_GRANT);
			form.set('subject_token', proofs.subjectToken ?? '');
			form.set('subject_token_type', config.tokenExchange?.subjectTokenType ?? '');
			if (config.tokenExchange?.requestedTokenType) form.set('requested_token_type', config.tokenExchange.requestedTokenType);
			return;
		default:
			form.set('grant_type', 'client_credentials');
	}
}

export function buildTokenRequest(config: TokenEndpointConfig, proofs: TokenProofs = {}): TokenHttpRequest {
	const form = new URLSearchParams();
	setGrant(form, config, proofs);
	// Google takes the scope in the assertion and nowhere else.
	if (config.scope && !config.grantAssertion?.scopeInClaim) form.set('scope', config.scope);
	for (const [name, value] of Object.entries(config.additionalTokenParameters)) form.set(name, value);
	const clientAssertion = proofs.clientAssertion;

	const headers: Record<string, string> = {
		'Content-Type': 'application/x-www-form-urlencoded',
		Accept: 'application/json',
	};
	// Only where there is one: a Google service account and a Databricks account-wide policy go without.
	const nameClient = () => config.clientId && form.set('client_id', config.clientId);
	if (clientAssertion !== undefined) {
		// RFC 7521 §4.2: client_id is optional beside an assertion, but Entra ID and XSUAA want it.
		nameClient();
		form.set('client_assertion_type', CLIENT_ASSERTION_TYPE);
		form.set('client_assertion', clientAssertion);
	} else if (config.clientAuthentication === 'tlsClientAuth' || config.clientAuthentication === 'none') {
		// RFC 8705 §2: the certificate on the connection authenticates; the body names the client.
		// RFC 6749 §2.1: a public client (or a federation policy) names itself and proves nothing.
		nameClient();
	} else if (config.clientAuthentication === 'header' && config.clientSecret) {
		headers.Authorization = basicAuthorization(config);
	} else {
		nameClient();
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

function clientProofHint(config: TokenEndpointConfig, wallNowMs: number): string {
	const dates = certificateDateWarning(config.certificateValidity, wallNowMs);
	const datesNote = dates ? ` ${dates}` : '';
	switch (config.clientAuthentication) {
		case 'workloadIdentity':
			return "The provider did not accept the federated token as the client's proof: check the federated credential at the provider against the token (Entra ID: issuer, subject system:serviceaccount:<namespace>:<name>, audience api://AzureADTokenExchange; AADSTS700213 means one of them does not match) and Client ID.";
		case 'none':
			return 'The provider wants this client to authenticate: choose the method it expects in Client Authentication.';
		case 'privateKeyJwt':
			return `The provider did not accept the signed client assertion: check that the public key or certificate of Private Key is registered for this Client ID, JWT Algorithm, JWT Key ID (kid), JWT Audience (default: the Token URL), and the n8n host's clock.${datesNote}`;
		case 'clientSecretJwt':
			return "The provider did not accept the HS256 client assertion: check Client Secret, JWT Audience (default: the Token URL), and the n8n host's clock.";
		case 'tlsClientAuth':
			return `The provider did not accept the client certificate: check that Certificate is the one registered for this Client ID (subject or thumbprint), that the Token URL is the provider's mTLS endpoint (SAP XSUAA: the service key's certurl), and that no proxy ends TLS on the way.${datesNote}`;
		default:
			return clientCredentialsHint(config);
	}
}

function hintFor(oauthError: string | undefined, status: number, config: TokenEndpointConfig, wallNowMs: number): string {
	switch (oauthError) {
		case 'invalid_client':
			return clientProofHint(config, wallNowMs);
		case 'invalid_scope':
			return 'Check the Scope field: the provider does not grant that scope to this client.';
		case 'unauthorized_client':
			return `The provider does not let this client use this grant type; enable ${GRANT_NAMES[config.grantType]} for the client at the provider.`;
		case 'invalid_grant':
			switch (config.grantType) {
				case 'refreshToken':
					return 'The refresh token was rejected: it expired, was revoked, or was used already (a provider that detects reuse then revokes the whole token family). Put a fresh refresh token in the credential (Refresh Token).';
				case 'jwtBearer':
					return "The provider did not accept the signed assertion: check JWT Issuer (Google: the key's client_email), that Private Key is that account's key (Google: private_key, with JWT Key ID its private_key_id), JWT Audience (default: the Token URL), Scope in Assertion, and the n8n host's clock.";
				case 'tokenExchange':
					return "The provider did not accept the subject token (the federated token file): check the federation policy at the provider (issuer, subject, audience) against the token, and Subject Token Type.";
				default:
					return 'The provider rejected the grant; check Scope and Additional Token Parameters.';
			}
		case 'unsupported_grant_type':
			return 'The provider does not support this grant on this endpoint; check Token URL.';
		case 'invalid_request':
			return 'The provider says the request is malformed; check Token URL, Scope and Additional Token Parameters (audience/resource).';
		default:
			if (status === 404 || status === 405) return 'Check Token URL: the provider has no token endpoint there.';
			// Not every server says invalid_client: XSUAA answers 401 "unauthorized: Bad credentials".
			if (status === 401 || status === 403) return clientProofHint(config, wallNowMs);
			if (isRetryableStatus(status)) return 'The token endpoint is unavailable; try again later.';
			return 'Check the credential fields against the provider\'s documentation.';
	}
}

const GRANT_NAMES: Record<TokenEndpointConfig['grantType'], string> = {
	clientCredentials: 'the client credentials grant',
	refreshToken: 'the refresh token grant',
	jwtBearer: 'the JWT bearer grant (urn:ietf:params:oauth:grant-type:jwt-bearer)',
	tokenExchange: 'token exchange (urn:ietf:params:oauth:grant-type:token-exchange)',
	azureManagedIdentity: 'managed identity',
	googleMetadataServer: 'the metadata server',
};

/**
 * RFC 8693 §2.2.1: a token exchange answer names what it issued, and `token_type` says how to use it;
 * `N_A` (not an access token in OAuth's sense) is what some servers answer for a JWT that the API still
 * takes as a bearer token. Anything else (DPoP, MAC) cannot be sent as `Authorization: Bearer`.
 */
function exchangedTokenProblem(body: Record<string, unknown>): string | undefined {
	if (typeof body.issued_token_type !== 'string' || body.issued_token_type === '') return 'without issued_token_type (RFC 8693 §2.2.1 requires it), so it is not a token exchange answer';
	const tokenType = typeof body.token_type === 'string' ? body.token_type : '';
	if (!/^(bearer|n_a)$/i.test(tokenType)) {
		return `with token_type ${JSON.stringify(tokenType.slice(0, 40))}, which cannot be sent as a bearer token`;
	}
	return undefined;
}

function accessTokenProblem(accessToken: unknown): string | undefined {
	if (typeof accessToken !== 'string' || accessToken.trim() === '') return 'without an access_token';
	if (accessToken.length > MAX_ACCESS_TOKEN_CHARS) {
		return `with an access_token of ${accessToken.length} characters (at most ${MAX_ACCESS_TOKEN_CHARS} are accepted: it goes out as a header)`;
	}
	if (!ACCESS_TOKEN_PATTERN.test(accessToken)) return 'with an access_token that cannot be sent in an HTTP header (spaces or control characters)';
	return undefined;
}

/** What a token endpoint issued; the cache places it on its own (monotonic) timeline. */
export interface IssuedToken {
	accessToken: string;
	lifetimeSeconds: number;
	/** A refresh token the server returned with it (rotation, RFC 6749 §6 / OAuth 2.1 §4.3.1). */
	refreshToken?: string;
	/** Scope the server granted, when it said (RFC 6749 §5.1). */
	scope?: string;
}

/** Turns the token endpoint's HTTP answer into an issued token or an OAuth2AuthenticationError. Pure. */
export function parseTokenResponse(
	response: HttpAnswer,
	config: TokenEndpointConfig,
	providerName: string,
	wallNowMs: number,
	extraSecrets: ReadonlyArray<string | undefined> = [],
	platform?: PlatformTokenRequest,
): IssuedToken {
	const secrets = [...secretsOf(config), ...extraSecrets];
	const contentType = typeof response.headers['content-type'] === 'string' ? response.headers['content-type'] : undefined;
	const parsed = parseBody(response.bodyText, contentType);
	const body = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
	const ok = response.status >= 200 && response.status < 300;
	const rfcError = typeof body?.error === 'string' ? body.error : undefined;

	if (ok && body && !rfcError) {
		const accessToken = body.access_token;
		const problem = accessTokenProblem(accessToken);
		if (problem !== undefined) {
			throw new OAuth2AuthenticationError(`The token endpoint of ${providerName} answered HTTP ${response.status} ${problem}`, {
				providerName,
				status: response.status,
				hint: 'Check Token URL: it must be the provider\'s OAuth2 token endpoint, not a login page or API URL.',
			});
		}
		const exchangeProblem = config.grantType === 'tokenExchange' ? exchangedTokenProblem(body) : undefined;
		if (exchangeProblem !== undefined) {
			throw new OAuth2AuthenticationError(`The token endpoint of ${providerName} answered the token exchange ${boundedServerText(exchangeProblem, secrets, 300)}`, {
				providerName,
				status: response.status,
				hint: 'Ask for an access token: set Requested Token Type to urn:ietf:params:oauth:token-type:access_token, or check Token URL.',
			});
		}
		return {
			accessToken: accessToken as string,
			lifetimeSeconds: tokenLifetimeSeconds(body, accessToken as string, wallNowMs),
			refreshToken: typeof body.refresh_token === 'string' && body.refresh_token ? body.refresh_token : undefined,
			scope: typeof body.scope === 'string' ? boundedServerText(body.scope, secrets, 500) : undefined,
		};
	}

	// Every field below came from the server: bounded and scrubbed before it is kept anywhere.
	const words = providerWordsOf(parsed, response.bodyText);
	const oauthError = rfcError === undefined ? undefined : boundedServerText(rfcError, secrets, 100);
	const oauthErrorDescription =
		typeof body?.error_description === 'string' ? boundedServerText(body.error_description, secrets) : undefined;
	const providerMessage = words.message === undefined ? undefined : boundedServerText(words.message, secrets);
	const retryAfterMs = parseRetryAfterMs(response.headers['retry-after'], wallNowMs);
	const retryable = isRetryableStatus(response.status) || (rfcError !== undefined && TRANSIENT_OAUTH_ERRORS.has(rfcError));
	const what = providerMessage
		? `${providerMessage} (HTTP ${response.status})`
		: ok
			? `an answer that is not a JSON token response (HTTP ${response.status})`
			: `HTTP ${response.status}`;
	const waitNote = retryAfterMs !== undefined && retryable ? ` (it asks to retry after ${Math.ceil(retryAfterMs / 1000)} s)` : '';
	const options: AuthenticationErrorOptions = {
		providerName,
		status: response.status,
		oauthError,
		oauthErrorDescription,
		retryable,
		retryAfterMs,
		hint: platform && !retryable ? platform.hint : hintFor(rfcError, response.status, config, wallNowMs),
		originalError: {
			name: 'TokenEndpointResponse',
			message: JSON.stringify(body === undefined ? boundedServerText(response.bodyText, secrets, 500) : scrubValue(body, secrets)),
		},
	};
	throw new OAuth2AuthenticationError(`Token request to ${providerName} failed: ${what}${waitNote}`, options);
}

function transportHint(failure: TransportFailure): string | undefined {
	const tlsHint = tlsFailureHint(failure, 'token endpoint');
	if (tlsHint) return tlsHint;
	switch (failure.kind) {
		case 'aborted':
			return undefined;
		case 'blocked':
			return 'An n8n administrator restricts which hosts n8n may reach (N8N_SSRF_PROTECTION_ENABLED); ask them to allow the token endpoint (N8N_SSRF_ALLOWED_HOSTNAMES or N8N_SSRF_ALLOWED_IP_RANGES).';
		case 'too-large':
			return `Check Token URL: a token response is a few KiB; more than ${MAX_TOKEN_RESPONSE_BYTES} bytes is not a token endpoint's answer.`;
		case 'deadline':
			return 'The token endpoint did not answer in time; check Token URL and that n8n can reach it.';
		default:
			return failure.code === 'ENOTFOUND'
				? 'Check the host name in Token URL.'
				: 'Check Token URL and that n8n can reach it (proxy, firewall, TLS).';
	}
}

/** One token request. Throws OAuth2AuthenticationError (retryable or not), never a raw axios error. */
export async function requestToken(config: TokenEndpointConfig, options: TokenRequestOptions): Promise<IssuedToken> {
	try {
		return PLATFORM_GRANTS.includes(config.grantType) ? await sendPlatformRequest(config, options) : await sendTokenRequest(config, options);
	} catch (error) {
		// Every word from the server in it is scrubbed of these already (see n8n-errors.ts).
		markScrubbed(error, [...secretsOf(config), options.refreshToken]);
		throw error;
	}
}

/** A transport failure as an error's redacted cause: bounded, scrubbed, with its code. */
function causeOf(failure: TransportFailure, secrets: ReadonlyArray<string | undefined>) {
	return { name: failure.name, message: boundedServerText(failure.message, secrets, 300), ...(failure.code ? { code: failure.code } : {}) };
}

/** Where the POST goes: Token URL, or the issuer's metadata when only Issuer URL is given. */
async function tokenEndpointOf(config: TokenEndpointConfig, options: TokenRequestOptions): Promise<string> {
	if (config.tokenUrl || !config.issuerUrl) return config.tokenUrl;
	const metadata = await discoverIssuerOf(config, config.issuerUrl, {
		providerName: options.providerName,
		nowMs: options.wallNowMs(),
		timeoutMs: options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS,
		signal: options.signal,
	});
	return metadata.tokenEndpoint;
}

/** The assertions signed and the federated token read for this one request. */
async function proofsFor(config: TokenEndpointConfig, tokenUrl: string, options: TokenRequestOptions): Promise<TokenProofs> {
	const env = options.env ?? process.env;
	const needsFederatedToken = config.clientAuthentication === 'workloadIdentity' || config.grantType === 'tokenExchange';
	// Checked on the endpoint actually used (after discovery too), before the file is even read.
	if (needsFederatedToken && !federatedTokenMayGoTo(tokenUrl, env)) {
		throw new OAuth2AuthenticationError(
			`The federated token of n8n's workload goes only to Entra ID's authority (AZURE_AUTHORITY_HOST) or to token endpoints an n8n administrator allows; ${urlForMessage(tokenUrl, secretsOf(config))} is not one (credential for ${options.providerName})`,
			{ providerName: options.providerName, hint: `Check Token URL; ${FEDERATED_TOKEN_ORIGINS_HINT}.` },
		);
	}
	// Read anew for every request: the platform rotates it (see workload-identity.ts).
	const federatedToken = needsFederatedToken ? await readFederatedToken(env, options.providerName) : undefined;
	try {
		const wallNowMs = options.wallNowMs();
		return {
			refreshToken: config.grantType === 'refreshToken' ? options.refreshToken : undefined,
			clientAssertion: config.clientAuthentication === 'workloadIdentity' ? federatedToken : clientAssertionFor(config, wallNowMs, tokenUrl),
			grantAssertion: grantAssertionFor(config, wallNowMs, tokenUrl),
			subjectToken: config.grantType === 'tokenExchange' ? federatedToken : undefined,
		};
	} catch (error) {
		// OpenSSL's words ("unsupported padding mode"…) name no key material; the key itself is the suspect.
		throw new OAuth2AuthenticationError(`Could not sign the ${config.grantAssertion ? 'assertion' : 'client assertion'} for ${options.providerName}: ${boundedServerText(String((error as Error)?.message ?? error), [...secretsOf(config), federatedToken], 200)}`, {
			providerName: options.providerName,
			hint: 'Check that Private Key and JWT Algorithm fit each other (RSA: RS256 or PS256; RSA-PSS: PS256; EC P-256: ES256).',
		});
	}
}

async function sendTokenRequest(config: TokenEndpointConfig, options: TokenRequestOptions): Promise<IssuedToken> {
	const tokenUrl = await tokenEndpointOf(config, options);
	const proofs = await proofsFor(config, tokenUrl, options);
	const request = buildTokenRequest(config, proofs);
	const secrets = [...secretsOf(config), ...proofValues(proofs)];
	const timeoutMs = options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
	let answer: HttpAnswer;
	try {
		answer = await exchange({
			method: 'POST',
			url: tokenUrl,
			headers: request.headers,
			body: request.body,
			maxResponseBytes: MAX_TOKEN_RESPONSE_BYTES,
			deadlineMs: timeoutMs,
			signal: options.signal,
			tls: config.tls,
		});
	} catch (error) {
		const failure = asTransportFailure(error);
		// A refresh grant whose answer was lost may have consumed a rotating refresh token already: sending it
		// again would be reuse, which Auth0, Okta and Keycloak answer by revoking the whole family.
		const lostRefresh = proofs.refreshToken !== undefined && !requestNeverArrived(failure) && failure.kind !== 'aborted';
		throw new OAuth2AuthenticationError(
			`Could not reach the token endpoint of ${options.providerName} at ${urlForMessage(tokenUrl, secrets)}: ${boundedServerText(failure.message, secrets, 300)}` +
				(lostRefresh ? '; the refresh token is not sent again, since the server may have used it already' : ''),
			{
				providerName: options.providerName,
				retryable: isTransientFailure(failure) && !lostRefresh,
				refreshTokenMayBeSpent: lostRefresh,
				originalError: causeOf(failure, secrets),
				hint: lostRefresh
					? 'No refresh is sent with this token for a while (for good, where the provider is known to rotate refresh tokens). If the provider answers invalid_grant later, put a fresh refresh token in the credential.'
					: transportHint(failure),
			},
		);
	}
	const location = redirectTarget(answer);
	if (location !== undefined) {
		// A redirected POST turns into a GET and loses the grant, or carries the secret to another host: reported, never followed.
		throw new OAuth2AuthenticationError(
			`The token endpoint of ${options.providerName} redirects (HTTP ${answer.status}) to ${urlForMessage(location, secrets, tokenUrl)}; redirects are not followed`,
			{ providerName: options.providerName, status: answer.status, hint: 'Put the final token endpoint URL in Token URL.' },
		);
	}
	// The configured and the rotated refresh token, the assertions and the federated token are all scrubbed.
	return parseTokenResponse(answer, config, options.providerName, options.wallNowMs(), proofValues(proofs));
}

/** A GET to the platform's metadata endpoint: fixed host, no proxy, no redirects, a short deadline, a bounded answer. */
async function sendPlatformRequest(config: TokenEndpointConfig, options: TokenRequestOptions): Promise<IssuedToken> {
	let platform: PlatformTokenRequest;
	try {
		platform = platformTokenRequest(config, options.env ?? process.env);
	} catch (error) {
		throw new OAuth2AuthenticationError(`${(error as Error).message}`, { providerName: options.providerName, hint: 'Ask the n8n administrator to correct or remove that variable.' });
	}
	const secrets = [...secretsOf(config), ...platform.secrets];
	let answer: HttpAnswer;
	try {
		answer = await exchange({
			method: 'GET',
			url: platform.url,
			headers: platform.headers,
			maxResponseBytes: MAX_TOKEN_RESPONSE_BYTES,
			deadlineMs: Math.min(options.timeoutMs ?? PLATFORM_TOKEN_TIMEOUT_MS, PLATFORM_TOKEN_TIMEOUT_MS),
			signal: options.signal,
			platformEndpoint: true,
		});
	} catch (error) {
		const failure = asTransportFailure(error);
		throw new OAuth2AuthenticationError(
			`Could not reach ${platform.endpointName} for ${options.providerName}: ${boundedServerText(failure.message, secrets, 300)}`,
			{
				providerName: options.providerName,
				retryable: isTransientFailure(failure),
				originalError: causeOf(failure, secrets),
				hint: platform.hint,
			},
		);
	}
	const location = redirectTarget(answer);
	if (location !== undefined) {
		throw new OAuth2AuthenticationError(`${platform.endpointName} redirects (HTTP ${answer.status}); redirects are not followed`, {
			providerName: options.providerName,
			status: answer.status,
			hint: platform.hint,
		});
	}
	return parseTokenResponse(answer, config, options.providerName, options.wallNowMs(), platform.secrets, platform);
}
