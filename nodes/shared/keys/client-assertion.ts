/**
 * The JWTs this package signs: the `client_assertion` of RFC 7523 §2.2 (OIDC Core §9 private_key_jwt /
 * client_secret_jwt), sent instead of a secret, and the authorization grant `assertion` of RFC 7523
 * §2.1 (Google service accounts, Salesforce, SAP). A new one for every token request, each with its
 * own `jti`: servers keep seen `jti`s and refuse a second use (oidc-provider, Entra ID, Okta).
 */
import { constants, createHmac, createPrivateKey, randomUUID, sign } from 'node:crypto';

import type { JwtAlgorithm } from './client-key';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/**
 * How long an assertion is valid. It is used once, within a second of being signed; the margin is for
 * clocks that disagree, and 5 minutes is the most that Entra ID, Okta and RFC 7523bis advise.
 */
export const ASSERTION_LIFETIME_SECONDS = 300;

export interface AssertionSettings {
	algorithm: JwtAlgorithm;
	/** The assertion's `aud`: the token URL, or what the provider asks for (Auth0: its issuer URL with a trailing slash). */
	audience: string;
	keyId?: string;
	/** Certificate thumbprints and chain (client-key.ts), sent in the header when a certificate is configured. */
	x5tS256?: string;
	x5t?: string;
	x5c?: string[];
}

/**
 * How long a grant assertion is valid. Google takes at most 1 hour, Salesforce wants `exp` within
 * 3 minutes; it is used within a second of being signed, so the shorter bound serves both.
 */
export const GRANT_ASSERTION_LIFETIME_SECONDS = 180;

/** The claims of a JWT bearer grant's assertion (RFC 7523 §3) that come from the credential. */
export interface GrantAssertionClaims {
	issuer: string;
	subject?: string;
	audience: string;
	/** Google puts the scope into the assertion instead of the form. */
	scope?: string;
}

export type SigningKey = { privateKeyPem: string; passphrase?: string } | { clientSecret: string };

const json64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

function signature(algorithm: JwtAlgorithm, input: string, key: SigningKey): Buffer {
	if (algorithm === 'HS256') {
		if (!('clientSecret' in key)) throw new Error('HS256 needs the client secret');
		return createHmac('sha256', key.clientSecret).update(input).digest();
	}
	if (!('privateKeyPem' in key)) throw new Error(`${algorithm} needs a private key`);
	const privateKey = createPrivateKey({ key: key.privateKeyPem, format: 'pem', passphrase: key.passphrase });
	const data = Buffer.from(input, 'utf8');
	switch (algorithm) {
		case 'RS256':
			return sign('sha256', data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
		case 'PS256':
			// RFC 7518 §3.5: MGF1 with SHA-256 and a salt as long as the hash.
			return sign('sha256', data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
		case 'ES256':
			// JWS wants the raw r||s pair (RFC 7518 §3.4), not OpenSSL's DER.
			return sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
	}
}

function signedJwt(header: Record<string, unknown>, claims: Record<string, unknown>, algorithm: JwtAlgorithm, key: SigningKey): string {
	const input = `${json64(header)}.${json64(claims)}`;
	return `${input}.${signature(algorithm, input, key).toString('base64url')}`;
}

/** The JOSE header both kinds of assertion start with. */
function joseHeader(settings: Pick<AssertionSettings, 'algorithm' | 'keyId'>): Record<string, unknown> {
	return settings.keyId ? { alg: settings.algorithm, typ: 'JWT', kid: settings.keyId } : { alg: settings.algorithm, typ: 'JWT' };
}

/** Signs one grant assertion (RFC 7523 §2.1). `nowSeconds` is wall-clock time. */
export function signGrantAssertion(
	settings: Pick<AssertionSettings, 'algorithm' | 'keyId'>,
	claims: GrantAssertionClaims,
	key: SigningKey,
	nowSeconds: number,
	jti: string = randomUUID(),
): string {
	const iat = Math.floor(nowSeconds);
	return signedJwt(
		joseHeader(settings),
		{
			iss: claims.issuer,
			...(claims.subject ? { sub: claims.subject } : {}),
			aud: claims.audience,
			...(claims.scope ? { scope: claims.scope } : {}),
			jti,
			iat,
			exp: iat + GRANT_ASSERTION_LIFETIME_SECONDS,
		},
		settings.algorithm,
		key,
	);
}

/** Signs one assertion. `nowSeconds` is wall-clock time; `jti` is fresh unless a test passes one. */
export function signClientAssertion(
	settings: AssertionSettings,
	key: SigningKey,
	clientId: string,
	nowSeconds: number,
	jti: string = randomUUID(),
): string {
	const iat = Math.floor(nowSeconds);
	const header = joseHeader(settings);
	if (settings.x5tS256) header['x5t#S256'] = settings.x5tS256;
	// Entra ID's older guidance (and AD FS) reads the SHA-1 `x5t` with RS256; PS256 callers use x5t#S256 only.
	if (settings.x5t && settings.algorithm === 'RS256') header.x5t = settings.x5t;
	if (settings.x5c) header.x5c = settings.x5c;
	const claims = { iss: clientId, sub: clientId, aud: settings.audience, jti, iat, nbf: iat, exp: iat + ASSERTION_LIFETIME_SECONDS };
	return signedJwt(header, claims, settings.algorithm, key);
}
