/**
 * What identifies a token: everything that makes the token endpoint hand out a different one. Secrets
 * enter only as keyed hashes under a per-process key, so a heap dump or a log of a key shows no
 * guessable digest of them.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';

import type { TokenEndpointConfig } from '../config/provider-config';

const KEY_HASH_SECRET = randomBytes(32);

// A config object is parsed once per execution and then asked for a token once per item: hash it once.
const keysByConfig = new WeakMap<TokenEndpointConfig, string>();

/** A keyed digest of a secret: equal secrets give equal digests, and nothing else can be read from it. */
export type SecretDigest = (secret: string | undefined) => string;

const digest: SecretDigest = (value) => (value ? createHmac('sha256', KEY_HASH_SECRET).update(value).digest('base64url') : '');

/** The cache key of a configuration's access token. */
export function cacheKey(config: TokenEndpointConfig): string {
	let key = keysByConfig.get(config);
	if (key === undefined) {
		key = computeCacheKey(config);
		keysByConfig.set(config, key);
	}
	return key;
}

/** Everything that authenticates the client at the token endpoint. */
function clientAuthenticationParts(config: TokenEndpointConfig, digest: SecretDigest): unknown[] {
	return [
		config.clientId,
		config.clientAuthentication,
		config.basicAuthEncoding,
		digest(config.clientSecret),
		// A different key, certificate or assertion shape may get a different token (or none).
		digest(config.privateKeyPem ?? config.tls?.privateKeyPem),
		digest(config.tls?.certificatePem),
		config.assertion ? [config.assertion.algorithm, config.assertion.audience, config.assertion.keyId ?? '', config.assertion.x5tS256 ?? '', !!config.assertion.x5c] : [],
	];
}

/**
 * A refresh token's identity: configurations that differ in scope or parameters but hold the same
 * refresh token, as the same client, rotate ONE token, so they share its rotated value and take turns
 * using it. A configuration holding the same stored token with another (or a wrong, or no) client
 * authentication is another family: it is never handed what the first one rotated to.
 */
export function refreshFamilyKey(config: TokenEndpointConfig, secretDigest: SecretDigest = digest): string {
	return JSON.stringify([config.tokenUrl, secretDigest(config.refreshToken), clientAuthenticationParts(config, secretDigest)]);
}

/**
 * What the other grants ask for: another issuer, subject or audience in the assertion, another token
 * type, another managed identity is another token. The federated token file's content is not part of
 * it: the platform rotates it, and the identity it proves stays the same.
 */
function grantParts(config: TokenEndpointConfig): unknown[] {
	const assertion = config.grantAssertion;
	return [
		config.grantType,
		config.issuerUrl ?? '',
		assertion ? [assertion.issuer, assertion.subject ?? '', assertion.audience ?? '', assertion.scopeInClaim, assertion.algorithm, assertion.keyId ?? ''] : [],
		config.tokenExchange ? [config.tokenExchange.subjectTokenType, config.tokenExchange.requestedTokenType ?? ''] : [],
		config.managedIdentityClientId ?? '',
	];
}

/**
 * Everything that identifies a configuration's access token, secrets as `secretDigest` gives them: the
 * per-process key for the cache key, a key the whole n8n cluster shares for the names of shared state.
 */
export function tokenIdentity(config: TokenEndpointConfig, secretDigest: SecretDigest = digest): string {
	const parameters = Object.entries(config.additionalTokenParameters).sort(([a], [b]) => a.localeCompare(b));
	// The CA decides whom n8n trusts as the token endpoint: another CA, another token (or none). It is no
	// part of the refresh family: a new CA must not fork it and replay a rotated-away refresh token.
	return JSON.stringify([
		config.tokenUrl,
		config.scope ?? '',
		parameters,
		secretDigest(config.refreshToken),
		clientAuthenticationParts(config, secretDigest),
		secretDigest(config.tls?.caPems?.join('')),
		grantParts(config),
	]);
}

function computeCacheKey(config: TokenEndpointConfig): string {
	return createHash('sha256').update(tokenIdentity(config)).digest('base64url');
}
