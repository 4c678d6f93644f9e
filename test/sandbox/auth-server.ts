/**
 * The sandbox's OAuth2 authorization server: a real oidc-provider 9 instance with only the
 * client_credentials grant, issuing RFC 9068 JWT access tokens (header typ "at+jwt", RS256, signed
 * with a key pair generated at start; claims iss, sub = client_id, client_id, aud = RESOURCE,
 * scope, iat, exp, jti).
 *
 * It is mounted under AUTH_PREFIX ("/oauth") of the sandbox's single HTTP server, so:
 *   issuer    http://127.0.0.1:PORT/oauth
 *   token     http://127.0.0.1:PORT/oauth/token
 *   jwks      http://127.0.0.1:PORT/oauth/jwks
 *   discovery http://127.0.0.1:PORT/oauth/.well-known/openid-configuration
 *
 * Behaviour worth knowing when writing tests against it:
 *
 * - HTTP Basic client authentication (RFC 6749 §2.3.1). oidc-provider (lib/shared/client_auth.js)
 *   base64-decodes the header, splits at the FIRST ':' and then FORM-DECODES both halves:
 *   `decodeURIComponent(part.replace(/\+/g, '%20'))`. So a conforming client must send
 *   base64(formEncode(id) + ':' + formEncode(secret)). Consequences for a client that sends the raw
 *   values instead:
 *     - a raw '%' not followed by two hex digits makes decodeURIComponent throw → 400
 *       `invalid_request` ("client_id and client_secret in the authorization header are not
 *       properly encoded");
 *     - a raw '+' becomes a space and other '%XX' sequences get decoded → wrong secret → 401
 *       `invalid_client`;
 *     - ':' in the secret survives either way (split at the first ':'), but ':' in the client id
 *       would not unless encoded;
 *     - ids/secrets made only of unreserved characters decode to themselves, so raw works there.
 *       '!' and '|' (XSUAA ids like `sb-abc!a1|aicore!b2`) are left alone by decodeURIComponent, so
 *       the raw and the encoded (`sb-abc%21a1%7Caicore%21b2`) forms both work for that id.
 *   After decoding, characters outside %x20-7E are rejected (400 invalid_request).
 * - For secret-based clients oidc-provider accepts client_secret_basic and client_secret_post
 *   interchangeably: a client registered as `client_secret_post` may also authenticate with Basic
 *   and vice versa. Sending both (Basic header and client_secret in the body) → 400 invalid_request.
 * - Scope: when the request carries no `scope`, the sandbox grants the client's registered scope
 *   (like XSUAA/Keycloak defaults); unknown scopes → 400 `invalid_scope`; a known scope the client
 *   is not registered for (e.g. `llm.admin`) → 400 `invalid_scope` from oidc-provider itself.
 * - `resource` is optional (defaultResource); any value other than RESOURCE → 400 `invalid_target`.
 * - Errors are oidc-provider's own RFC 6749 §5.2 JSON answers: `{error, error_description}`, e.g.
 *   401 invalid_client (with `WWW-Authenticate: Basic …` when a Basic header was sent), 400
 *   invalid_scope, 400 unsupported_grant_type, 400 invalid_request.
 */
import type { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JSONWebKeySet } from 'jose';
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';

import { type Fault, type SandboxClient, type SandboxState, UNKNOWN_CLIENT } from './state';

export const AUTH_PREFIX = '/oauth';
/** Resource indicator (RFC 8707) of the sandbox LLM API = the `aud` of every access token. */
export const RESOURCE = 'urn:sandbox:llm-api';
/** Scopes the resource server knows. `llm.admin` exists so that asking for it can be refused. */
export const KNOWN_SCOPES = ['llm.chat', 'llm.models', 'llm.admin'] as const;
export const DEFAULT_CLIENT_SCOPE = 'llm.chat llm.models';

export interface AuthServer {
	issuer: string;
	tokenUrl: string;
	jwksUri: string;
	/** The public signing keys, for an in-process verifier (no fetch: an HTTPS sandbox's CA is private). */
	publicJwks: JSONWebKeySet;
	resource: string;
	/** Handles a request whose path starts with AUTH_PREFIX. */
	handle(req: IncomingMessage, res: ServerResponse): void;
}

/** The client certificate of a TLS connection, verified or not; undefined on plain HTTP or without one. */
export function peerCertificate(socket: unknown): X509Certificate | undefined {
	const tls = socket as Partial<TLSSocket>;
	return typeof tls.getPeerX509Certificate === 'function' ? tls.getPeerX509Certificate() : undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads the client id out of a Basic header the way oidc-provider does; undefined if impossible. */
export function clientIdFromBasic(authorization: string | undefined): string | undefined {
	if (!authorization) return undefined;
	const m = /^basic\s+(\S+)$/i.exec(authorization.trim());
	if (!m) return undefined;
	const decoded = Buffer.from(m[1], 'base64').toString('utf8');
	const i = decoded.indexOf(':');
	if (i <= 0) return undefined;
	const rawId = decoded.slice(0, i);
	try {
		return decodeURIComponent(rawId.replace(/\+/g, '%20'));
	} catch {
		return rawId;
	}
}

/**
 * Small in-memory storage adapter (per model, entries expire). JWT access tokens are never stored
 * (oidc-provider only persists opaque artifacts), so this stays empty in practice; it exists so that
 * oidc-provider does not warn about its development-only default adapter.
 */
class SandboxAdapter {
	private readonly store = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();

	private live(id: string) {
		const e = this.store.get(id);
		if (e && e.expiresAt <= Date.now()) {
			this.store.delete(id);
			return undefined;
		}
		return e;
	}

	async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
		const now = Date.now();
		for (const [k, e] of this.store) if (e.expiresAt <= now) this.store.delete(k);
		this.store.set(id, { payload, expiresAt: expiresIn ? now + expiresIn * 1000 : Infinity });
	}

	async find(id: string) {
		return this.live(id)?.payload;
	}

	async findByUserCode(userCode: string) {
		for (const [id, e] of this.store) if (e.payload.userCode === userCode) return this.live(id)?.payload;
		return undefined;
	}

	async findByUid(uid: string) {
		for (const [id, e] of this.store) if (e.payload.uid === uid) return this.live(id)?.payload;
		return undefined;
	}

	async consume(id: string): Promise<void> {
		const e = this.live(id);
		if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
	}

	async destroy(id: string): Promise<void> {
		this.store.delete(id);
	}

	async revokeByGrantId(grantId: string): Promise<void> {
		for (const [id, e] of this.store) if (e.payload.grantId === grantId) this.store.delete(id);
	}
}

export function readBody(req: IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});
}

function tokenFaultBody(status: number): { error: string; error_description: string } {
	const error_description = `sandbox injected fault (HTTP ${status})`;
	if (status === 401) return { error: 'invalid_client', error_description };
	if (status === 500) return { error: 'server_error', error_description };
	if (status >= 500 || status === 429) return { error: 'temporarily_unavailable', error_description };
	return { error: 'invalid_request', error_description };
}

/** Writes an injected fault answer (or drops/hangs). Shared with the chat server. */
export function sendFault(
	res: ServerResponse,
	fault: Fault,
	defaultBody: (status: number) => unknown,
	extraHeaders: Record<string, string> = {},
): void {
	if (fault.kind === 'drop') {
		res.socket?.destroy();
		return;
	}
	if (fault.kind === 'hang') return;
	const status = fault.status ?? 503;
	const headers: Record<string, string> = { 'cache-control': 'no-store', ...extraHeaders };
	if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
	let payload: string;
	if (typeof fault.body === 'string') {
		headers['content-type'] = fault.contentType ?? 'text/plain; charset=utf-8';
		payload = fault.body;
	} else {
		headers['content-type'] = fault.contentType ?? 'application/json; charset=utf-8';
		payload = JSON.stringify(fault.body ?? defaultBody(status));
	}
	res.writeHead(status, headers).end(payload);
}

function faultLabel(f: Fault): string {
	return f.kind === 'status' || f.kind === undefined ? `status ${f.status ?? 503}` : f.kind;
}

export async function createAuthServer(opts: {
	origin: string;
	clients: SandboxClient[];
	state: SandboxState;
}): Promise<AuthServer> {
	const { origin, clients, state } = opts;
	const issuer = `${origin}${AUTH_PREFIX}`;

	const { privateKey } = await generateKeyPair('RS256', { extractable: true });
	const jwk = await exportJWK(privateKey);
	jwk.kid = await calculateJwkThumbprint(jwk);
	jwk.alg = 'RS256';
	jwk.use = 'sig';

	const known = new Set<string>(KNOWN_SCOPES);

	const provider = new Provider(issuer, {
		adapter: SandboxAdapter,
		clients: clients.map((c) => ({
			client_id: c.id,
			...(c.secret ? { client_secret: c.secret } : {}),
			token_endpoint_auth_method: c.authMethod,
			...(c.jwks ? { jwks: c.jwks } : {}),
			...(c.signingAlg ? { token_endpoint_auth_signing_alg: c.signingAlg } : {}),
			...(c.subjectDn ? { tls_client_auth_subject_dn: c.subjectDn } : {}),
			grant_types: ['client_credentials'],
			response_types: [],
			redirect_uris: [],
			scope: c.scope ?? DEFAULT_CLIENT_SCOPE,
		})),
		jwks: { keys: [jwk] },
		scopes: ['openid', 'offline_access', ...KNOWN_SCOPES],
		clientAuthMethods: [
			'client_secret_basic',
			'client_secret_post',
			'client_secret_jwt',
			'private_key_jwt',
			'tls_client_auth',
			'self_signed_tls_client_auth',
		],
		// Entra ID's rule for certificate credentials, for the clients that ask for it.
		assertJwtClientAuthClaimsAndHeader: async (_ctx: KoaContextWithOIDC, _claims: unknown, header: Record<string, unknown>, client: { clientId: string }) => {
			const expected = clients.find((c) => c.id === client.clientId)?.expectX5tS256;
			if (expected !== undefined && header['x5t#S256'] !== expected) {
				throw new errors.InvalidClientAuth('x5t#S256 header does not match the registered certificate');
			}
		},
		features: {
			devInteractions: { enabled: false },
			// RFC 8705. On a plain HTTP sandbox there is never a certificate, and both methods fail as they should.
			mTLS: {
				enabled: true,
				tlsClientAuth: true,
				selfSignedTlsClientAuth: true,
				getCertificate: (ctx: KoaContextWithOIDC) => peerCertificate(ctx.req.socket)?.toString(),
				certificateAuthorized: (ctx: KoaContextWithOIDC) => (ctx.req.socket as TLSSocket).authorized === true,
				certificateSubjectMatches: (ctx: KoaContextWithOIDC, property: string, expected: string) =>
					property === 'tls_client_auth_subject_dn' && peerCertificate(ctx.req.socket)?.subject.replace(/\n/g, ',') === expected,
			},
			clientCredentials: { enabled: true },
			resourceIndicators: {
				enabled: true,
				defaultResource: () => RESOURCE,
				useGrantedResource: () => true,
				getResourceServerInfo: (
					ctx: KoaContextWithOIDC,
					resourceIndicator: string,
					client: { scope?: string },
				) => {
					if (resourceIndicator !== RESOURCE) {
						throw new errors.InvalidTarget(`unknown resource; this server only serves ${RESOURCE}`);
					}
					// Runs before oidc-provider validates the requested scope against the client
					// (client_credentials handler), so a defaulted scope gets validated like a sent one.
					const params = ctx.oidc?.params;
					if (params) {
						const requested = typeof params.scope === 'string' ? params.scope.split(' ').filter(Boolean) : [];
						if (requested.length === 0) {
							params.scope = client.scope ?? DEFAULT_CLIENT_SCOPE;
						} else {
							const unknown = requested.filter((s) => !known.has(s));
							if (unknown.length) {
								throw new errors.InvalidScope('requested scope is not recognized', unknown.join(' '));
							}
						}
					}
					return {
						scope: KNOWN_SCOPES.join(' '),
						audience: RESOURCE,
						accessTokenFormat: 'jwt',
						accessTokenTTL: state.config.tokenTtlSeconds,
						jwt: { sign: { alg: 'RS256' } },
					};
				},
			},
		},
		ttl: {
			ClientCredentials: () => state.config.tokenTtlSeconds,
			AccessToken: () => state.config.tokenTtlSeconds,
		},
	});

	// Count/record every token request that reached oidc-provider. Runs after oidc-provider's own
	// error handler has set status and body, but before Koa writes the response.
	// oidc-provider answers every client authentication failure with the same "invalid_client" words and
	// says why only in the error's detail: kept per request, so tests can tell the reasons apart.
	const errorDetails = new WeakMap<object, string>();
	provider.on('grant.error', (...args: unknown[]) => {
		const [ctx, error] = args as [object, { error_detail?: string }];
		if (error?.error_detail) errorDetails.set(ctx, error.error_detail);
	});

	provider.use(async (ctx, next) => {
		const at = Date.now();
		await next();
		if (ctx.path !== '/token') return;
		const params = ctx.oidc?.params ?? {};
		const form = ctx.oidc?.body;
		const clientId =
			ctx.oidc?.client?.clientId ??
			(typeof params.client_id === 'string' ? params.client_id : undefined) ??
			(typeof form?.client_id === 'string' ? form.client_id : undefined) ??
			clientIdFromBasic(ctx.headers.authorization as string | undefined) ??
			UNKNOWN_CLIENT;
		state.count(clientId, 'tokenRequests');
		state.count(clientId, ctx.status === 200 ? 'tokensIssued' : 'tokenErrors');
		state.record({
			at,
			kind: 'token',
			method: ctx.method,
			path: `${AUTH_PREFIX}${ctx.path}`,
			clientId,
			status: ctx.status,
			headers: { ...ctx.headers },
			body: form ? { ...form } : undefined,
			clientCertificate: peerCertificate(ctx.req.socket)?.subject,
			errorDetail: errorDetails.get(ctx),
		});
	});

	const callback = provider.callback();

	return {
		issuer,
		tokenUrl: `${issuer}/token`,
		jwksUri: `${issuer}/jwks`,
		publicJwks: { keys: [{ kty: jwk.kty, n: jwk.n, e: jwk.e, kid: jwk.kid, alg: jwk.alg, use: jwk.use }] },
		resource: RESOURCE,
		handle(req, res) {
			void (async () => {
				const url = req.url ?? '/';
				const isToken = url.split('?')[0] === `${AUTH_PREFIX}/token`;
				if (isToken) {
					const at = Date.now();
					if (state.config.tokenLatencyMs > 0) await sleep(state.config.tokenLatencyMs);
					const fault = state.takeTokenFault();
					if (fault) {
						const raw = await readBody(req).catch(() => '');
						const form = Object.fromEntries(new URLSearchParams(raw));
						const clientId = form.client_id ?? clientIdFromBasic(req.headers.authorization) ?? UNKNOWN_CLIENT;
						state.count(clientId, 'tokenRequests');
						state.count(clientId, 'tokenErrors');
						state.record({
							at,
							kind: 'token',
							method: req.method ?? 'GET',
							path: url,
							clientId,
							status: fault.kind === 'drop' ? 'dropped' : fault.kind === 'hang' ? 'hung' : (fault.status ?? 503),
							headers: { ...req.headers },
							body: form,
							fault: faultLabel(fault),
						});
						sendFault(res, fault, tokenFaultBody);
						return;
					}
				}
				// Mounting on a plain node:http server: strip the prefix and keep the original URL, which
				// oidc-provider uses to compute its mount path when building absolute URLs.
				(req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
				req.url = url.slice(AUTH_PREFIX.length) || '/';
				callback(req, res);
			})().catch((err: unknown) => {
				if (!res.headersSent) {
					res.writeHead(500, { 'content-type': 'application/json' });
					res.end(JSON.stringify({ error: 'server_error', error_description: String(err) }));
				}
			});
		},
	};
}
