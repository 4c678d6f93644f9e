/**
 * The token endpoint from the issuer's metadata, when the credential gives an Issuer URL and no Token
 * URL: RFC 8414's location first, then OpenID Connect Discovery's. A help, not a trust anchor: the
 * answer must name exactly the issuer asked for, no redirect is followed, and an https issuer must
 * name an https token endpoint. Kept per issuer for an hour, so discovery costs one request per
 * process, not one per token.
 */
import { OAuth2AuthenticationError } from '../core/errors';
import { createHash } from 'node:crypto';

import { boundedServerText, urlForMessage } from '../core/scrub';
import type { TokenEndpointConfig } from '../config/provider-config';
import { asTransportFailure, exchange, isTransientFailure, type TlsMaterial } from '../transport/http';

export const DISCOVERY_TTL_MS = 60 * 60 * 1000;
/** Real metadata documents are a few KiB (Entra ID's is about 2). */
export const MAX_METADATA_BYTES = 256 * 1024;
const MAX_ISSUERS_KEPT = 100;

export interface IssuerMetadata {
	issuer: string;
	tokenEndpoint: string;
	authMethods?: string[];
	signingAlgorithms?: string[];
}

/** RFC 8414 §3.1 inserts the well-known path before the issuer's path; OIDC Discovery §4 appends it. */
export function metadataUrls(issuer: string): string[] {
	const url = new URL(issuer);
	const path = url.pathname.replace(/\/+$/, '');
	return [`${url.origin}/.well-known/oauth-authorization-server${path}`, `${url.origin}${path}/.well-known/openid-configuration`];
}

const stringList = (value: unknown) => (Array.isArray(value) && value.every((item) => typeof item === 'string') ? (value as string[]) : undefined);

/** Reads one metadata document; a problem is a sentence for the user (never the server's raw text). Pure. */
export function readMetadata(bodyText: string, issuer: string): IssuerMetadata | string {
	let body: unknown;
	try {
		body = JSON.parse(bodyText);
	} catch {
		return 'its answer is not JSON';
	}
	if (!body || typeof body !== 'object' || Array.isArray(body)) return 'its answer is not a JSON object';
	const fields = body as Record<string, unknown>;
	if (fields.issuer !== issuer) return 'its "issuer" is not exactly the Issuer URL (RFC 8414 §3.3); copy the issuer value from the provider\'s metadata into Issuer URL';
	if (typeof fields.token_endpoint !== 'string') return 'it names no token_endpoint';
	let tokenEndpoint: URL;
	try {
		tokenEndpoint = new URL(fields.token_endpoint);
	} catch {
		return 'its token_endpoint is not a URL';
	}
	const secureIssuer = new URL(issuer).protocol === 'https:';
	if (tokenEndpoint.protocol !== 'https:' && (secureIssuer || tokenEndpoint.protocol !== 'http:')) return 'its token_endpoint is not an https URL';
	if (tokenEndpoint.username || tokenEndpoint.password || tokenEndpoint.hash) return 'its token_endpoint carries a user name, password or #fragment';
	return {
		issuer,
		tokenEndpoint: tokenEndpoint.toString(),
		authMethods: stringList(fields.token_endpoint_auth_methods_supported),
		signingAlgorithms: stringList(fields.token_endpoint_auth_signing_alg_values_supported),
	};
}

interface Kept {
	metadata: IssuerMetadata;
	untilMs: number;
}
const kept = new Map<string, Kept>();

export interface DiscoveryOptions {
	providerName: string;
	nowMs: number;
	timeoutMs: number;
	signal?: AbortSignal;
	tls?: TlsMaterial;
}

/** Whom n8n trusts as the issuer decides what it says: another CA, another entry. */
const keptKey = (issuer: string, tls: TlsMaterial | undefined) => JSON.stringify([issuer, createHash('sha256').update(tls?.caPems?.join('') ?? '').digest('base64url')]);

export async function discoverIssuer(issuer: string, options: DiscoveryOptions): Promise<IssuerMetadata> {
	const key = keptKey(issuer, options.tls);
	const shown = urlForMessage(issuer, []);
	const cached = kept.get(key);
	if (cached && cached.untilMs > options.nowMs) return cached.metadata;
	const problems: string[] = [];
	for (const url of metadataUrls(issuer)) {
		let status: number;
		let bodyText: string;
		try {
			({ status, bodyText } = await exchange({
				method: 'GET',
				url,
				headers: { Accept: 'application/json' },
				maxResponseBytes: MAX_METADATA_BYTES,
				deadlineMs: options.timeoutMs,
				signal: options.signal,
				tls: options.tls,
			}));
		} catch (error) {
			const failure = asTransportFailure(error);
			throw new OAuth2AuthenticationError(`Could not read the metadata of issuer ${shown} for ${options.providerName}: ${boundedServerText(failure.message, [], 300)}`, {
				providerName: options.providerName,
				retryable: isTransientFailure(failure),
				hint: 'Check Issuer URL and that n8n can reach it, or fill Token URL instead.',
			});
		}
		if (status !== 200) {
			problems.push(`${urlForMessage(url, [])} answered HTTP ${status}`);
			continue;
		}
		const read = readMetadata(bodyText, issuer);
		if (typeof read === 'string') {
			// A document that is there but wrong is an answer, not a reason to try the other location.
			throw new OAuth2AuthenticationError(`The metadata of issuer ${shown} for ${options.providerName} cannot be used: ${read}`, {
				providerName: options.providerName,
				hint: 'Check Issuer URL, or fill Token URL instead.',
			});
		}
		if (kept.size >= MAX_ISSUERS_KEPT) kept.delete(kept.keys().next().value!);
		kept.set(key, { metadata: read, untilMs: options.nowMs + DISCOVERY_TTL_MS });
		return read;
	}
	throw new OAuth2AuthenticationError(`Found no metadata for issuer ${shown} of ${options.providerName}: ${problems.join('; ')}`, {
		providerName: options.providerName,
		retryable: problems.some((problem) => / HTTP (429|5\d\d)$/.test(problem)),
		hint: 'Check Issuer URL (the issuer itself, without /.well-known/…), or fill Token URL instead.',
	});
}

/** A credential's issuer, trusted with the credential's own CAs (the client certificate is for the token request only). */
export function discoverIssuerOf(endpoint: TokenEndpointConfig, issuer: string, options: Omit<DiscoveryOptions, 'tls'>): Promise<IssuerMetadata> {
	return discoverIssuer(issuer, { ...options, tls: endpoint.tls?.caPems ? { caPems: endpoint.tls.caPems } : undefined });
}

/** RFC 8414 / OIDC names of the client authentication methods. */
const METHOD_NAMES: Record<string, string> = {
	body: 'client_secret_post',
	header: 'client_secret_basic',
	privateKeyJwt: 'private_key_jwt',
	clientSecretJwt: 'client_secret_jwt',
	tlsClientAuth: 'tls_client_auth',
	// A federated token is a private_key_jwt-style assertion to the server (Entra ID advertises it so).
	workloadIdentity: 'private_key_jwt',
	none: 'none',
};

/**
 * What the credential Test warns about: a method or algorithm the server does not advertise. Never a
 * block: Entra ID and Google advertise less than they accept.
 */
export function metadataWarnings(metadata: IssuerMetadata, clientAuthentication: string, algorithm: string | undefined): string[] {
	const warnings: string[] = [];
	// The lists are the server's words: each value and the list cut short before they reach a message.
	const listed = (values: string[]) => (values.length === 0 ? 'none' : values.slice(0, 20).map((value) => boundedServerText(value, [], 64)).join(', ') + (values.length > 20 ? ', …' : ''));
	const method = METHOD_NAMES[clientAuthentication];
	if (method && metadata.authMethods && !metadata.authMethods.includes(method)) {
		warnings.push(`the issuer does not advertise ${method} (Client Authentication); it lists ${listed(metadata.authMethods)}`);
	}
	if (algorithm && metadata.signingAlgorithms && !metadata.signingAlgorithms.includes(algorithm)) {
		warnings.push(`the issuer does not advertise ${algorithm} for client assertions; it lists ${listed(metadata.signingAlgorithms)}`);
	}
	return warnings;
}
