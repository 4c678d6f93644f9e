/**
 * Local stand-ins, on 127.0.0.1, for the token endpoints of issue 21, each shaped like the real one
 * and each checking what it receives the way the real one does:
 * - Entra ID's v2 token endpoint for AKS workload identity: client_credentials whose client_assertion
 *   must be the CURRENT content of the federated token file (a rotated-away one is refused, AADSTS700024);
 * - Google's token endpoint: the JWT bearer grant, no client authentication, RS256 signature checked
 *   against the service account's public key, `iss`, `scope` in the claim, `aud`, `exp - iat ≤ 3600`;
 * - an RFC 8693 token exchange (Databricks / Keycloak): the subject token must be the current file;
 *   Keycloak's 400 when subject_token_type is missing; answer shapes chosen per test;
 * - Azure IMDS (numbers as strings), App Service's IDENTITY_ENDPOINT, and the GCE metadata server;
 * - OpenID Connect discovery for an issuer with a path;
 * - an OpenAI-compatible chat API that accepts only tokens issued here.
 * Everything received is recorded, for the wire checks and the leak search.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IdentityRequest {
	method: string;
	path: string;
	query: Record<string, string>;
	headers: IncomingHttpHeaders;
	form: Record<string, string>;
	rawBody: string;
}

export type ExchangeAnswer = 'bearer' | 'notApplicable' | 'dpop' | 'noIssuedType';

export interface IdentityServers {
	origin: string;
	entraTokenUrl(tenant: string): string;
	googleTokenUrl: string;
	exchangeTokenUrl: string;
	imdsEndpoint: string;
	appServiceEndpoint: string;
	appServiceSecret: string;
	issuer: string;
	baseUrl: string;
	requests: IdentityRequest[];
	/** Every body and header value this server sent, for the leak search. */
	sent: string[];
	issued: Set<string>;
	/** The file whose current content is the only accepted federated token. */
	federatedTokenFile: string;
	exchangeAnswer: ExchangeAnswer;
	/** expires_in of the Entra-shaped endpoint's tokens. */
	entraLifetimeSeconds: number;
	/** Google's public key for the service account (a JWK-less PEM is enough here). */
	googlePublicKey: KeyObject;
	advertisedAuthMethods: string[];
	close(): Promise<void>;
}

export const ENTRA_CLIENT_ID = 'aks-workload-client-id';
export const GOOGLE_CLIENT_EMAIL = 'n8n-vertex@test-project.iam.gserviceaccount.com';
export const GOOGLE_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

const json64 = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

export async function startIdentityServers(options: { googlePublicKeyPem: string; federatedTokenFile: string }): Promise<IdentityServers> {
	const requests: IdentityRequest[] = [];
	const sent: string[] = [];
	const issued = new Set<string>();
	const appServiceSecret = `AppServiceHeader${randomBytes(8).toString('hex')}`;
	let origin = '';
	const state: Pick<IdentityServers, 'exchangeAnswer' | 'entraLifetimeSeconds' | 'advertisedAuthMethods' | 'federatedTokenFile' | 'googlePublicKey'> = {
		exchangeAnswer: 'bearer',
		entraLifetimeSeconds: 3599,
		advertisedAuthMethods: ['private_key_jwt', 'client_secret_basic'],
		federatedTokenFile: options.federatedTokenFile,
		googlePublicKey: createPublicKey(options.googlePublicKeyPem),
	};
	const currentFederatedToken = () => {
		try {
			return readFileSync(state.federatedTokenFile, 'utf8').trim();
		} catch {
			return undefined;
		}
	};
	const answer = (res: ServerResponse, status: number, body: unknown) => {
		const text = JSON.stringify(body);
		sent.push(text);
		res.writeHead(status, { 'Content-Type': 'application/json' });
		res.end(text);
	};
	const token = (kind: string, prefix = '') => {
		const value = `${prefix}tok-${kind}-${randomBytes(12).toString('hex')}`;
		issued.add(value);
		return value;
	};

	const server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const url = new URL(req.url ?? '/', 'http://127.0.0.1');
			const rawBody = Buffer.concat(chunks).toString('utf8');
			const form = Object.fromEntries(new URLSearchParams(rawBody));
			const request: IdentityRequest = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, form, rawBody };
			requests.push(request);
			route(request, res);
		});
	});

	function route(request: IdentityRequest, res: ServerResponse): void {
		const { path, form, headers, query } = request;
		const entra = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
		if (entra && request.method === 'POST') {
			if (form.grant_type !== 'client_credentials') return answer(res, 400, { error: 'unsupported_grant_type' });
			if (form.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' || !form.client_assertion) {
				return answer(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000218: The request body must contain client_assertion or client_secret.' });
			}
			if (form.client_assertion !== currentFederatedToken()) {
				// Entra echoes nothing of the assertion; a hostile one might: the package must scrub it.
				return answer(res, 401, { error: 'invalid_client', error_description: `AADSTS700024: Client assertion is not within its valid time range. Got ${form.client_assertion}` });
			}
			if (form.client_id !== ENTRA_CLIENT_ID) return answer(res, 400, { error: 'unauthorized_client', error_description: 'AADSTS700016: Application not found.' });
			return answer(res, 200, { token_type: 'Bearer', expires_in: state.entraLifetimeSeconds, ext_expires_in: state.entraLifetimeSeconds, access_token: token(`entra-${entra[1]}`) });
		}
		if (path === '/google/token' && request.method === 'POST') {
			if (headers.authorization || form.client_id || form.client_secret || form.client_assertion) {
				return answer(res, 400, { error: 'invalid_request', error_description: 'Unexpected client authentication.' });
			}
			if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' || !form.assertion) return answer(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: ' });
			if ('scope' in form) return answer(res, 400, { error: 'invalid_scope', error_description: 'scope belongs in the assertion' });
			const parts = form.assertion.split('.');
			if (parts.length !== 3) return answer(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe' });
			const header = json64(parts[0]);
			const claims = json64(parts[1]);
			const signatureOk = header.alg === 'RS256' && verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), state.googlePublicKey, Buffer.from(parts[2], 'base64url'));
			if (!signatureOk) return answer(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
			const now = Math.floor(Date.now() / 1000);
			const iat = Number(claims.iat);
			const exp = Number(claims.exp);
			if (claims.iss !== GOOGLE_CLIENT_EMAIL) return answer(res, 400, { error: 'invalid_grant', error_description: 'Invalid grant: account not found' });
			if (claims.aud !== `${origin}/google/token`) return answer(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Failed audience check.' });
			if (!(exp - iat <= 3600 && exp > now && iat <= now + 60)) return answer(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.' });
			if (claims.scope !== GOOGLE_SCOPE) return answer(res, 400, { error: 'invalid_scope', error_description: 'Invalid OAuth scope or ID token audience provided.' });
			return answer(res, 200, { access_token: token('google', 'ya29.'), expires_in: 3599, token_type: 'Bearer' });
		}
		if (path === '/exchange/token' && request.method === 'POST') {
			if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:token-exchange') return answer(res, 400, { error: 'unsupported_grant_type' });
			if (!form.subject_token_type) return answer(res, 400, { error: 'invalid_request', error_description: 'Parameter subject_token_type is required' });
			if (form.subject_token !== currentFederatedToken()) return answer(res, 400, { error: 'invalid_grant', error_description: `subject token rejected: ${form.subject_token}` });
			const access = token('exchange');
			switch (state.exchangeAnswer) {
				case 'notApplicable':
					return answer(res, 200, { access_token: access, issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_type: 'N_A', expires_in: 3600 });
				case 'dpop':
					return answer(res, 200, { access_token: access, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'DPoP', expires_in: 3600 });
				case 'noIssuedType':
					return answer(res, 200, { access_token: access, token_type: 'Bearer', expires_in: 3600 });
				default:
					return answer(res, 200, { access_token: access, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600, scope: form.scope });
			}
		}
		if (path === '/metadata/identity/oauth2/token' && request.method === 'GET') {
			if (headers.metadata !== 'true') return answer(res, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' });
			if (query['api-version'] !== '2018-02-01') return answer(res, 400, { error: 'invalid_request', error_description: 'Bad api-version' });
			if (query.resource !== 'https://cognitiveservices.azure.com') return answer(res, 400, { error: 'invalid_resource', error_description: 'AADSTS500011: The resource principal was not found.' });
			if (query.client_id && query.client_id !== 'user-assigned-id') return answer(res, 400, { error: 'invalid_request', error_description: 'Identity not found' });
			const now = Math.floor(Date.now() / 1000);
			// IMDS sends every number as a string.
			return answer(res, 200, { access_token: token('imds'), refresh_token: '', expires_in: '3599', expires_on: String(now + 3599), not_before: String(now), resource: query.resource, token_type: 'Bearer' });
		}
		if (path === '/msi/token' && request.method === 'GET') {
			if (headers['x-identity-header'] !== appServiceSecret) return answer(res, 401, { statusCode: 401, message: 'Unauthorized request' });
			if (query['api-version'] !== '2019-08-01' || query.resource !== 'https://cognitiveservices.azure.com') return answer(res, 400, { statusCode: 400, message: 'Bad request' });
			const now = Math.floor(Date.now() / 1000);
			return answer(res, 200, { access_token: token('appservice'), expires_on: String(now + 86399), resource: query.resource, token_type: 'Bearer', client_id: 'system' });
		}
		if (path === '/computeMetadata/v1/instance/service-accounts/default/token' && request.method === 'GET') {
			if (headers['metadata-flavor'] !== 'Google') return answer(res, 403, { error: 'Missing Metadata-Flavor:Google header.' });
			res.setHeader('Metadata-Flavor', 'Google');
			return answer(res, 200, { access_token: token('gce'), expires_in: 3599, token_type: 'Bearer' });
		}
		if (path === '/realm/.well-known/openid-configuration' && request.method === 'GET') {
			return answer(res, 200, {
				issuer: `${origin}/realm`,
				token_endpoint: `${origin}/exchange/token`,
				token_endpoint_auth_methods_supported: state.advertisedAuthMethods,
				token_endpoint_auth_signing_alg_values_supported: ['RS256'],
			});
		}
		if (path === '/v1/chat/completions' && request.method === 'POST') {
			const bearer = String(headers.authorization ?? '').replace(/^Bearer /, '');
			if (!issued.has(bearer)) return answer(res, 401, { error: { message: 'invalid token', type: 'invalid_request_error' } });
			const body = JSON.parse(request.rawBody || '{}') as { model?: string; messages?: Array<{ content?: unknown }> };
			const question = String(body.messages?.at(-1)?.content ?? '');
			return answer(res, 200, {
				id: 'chatcmpl-identity',
				object: 'chat.completion',
				created: Math.floor(Date.now() / 1000),
				model: body.model ?? 'model',
				choices: [{ index: 0, message: { role: 'assistant', content: `Identity echo: ${question}` }, finish_reason: 'stop' }],
				usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
			});
		}
		answer(res, 404, { error: 'not_found' });
	}

	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	// The returned object IS the state the routes read: a test's `servers.exchangeAnswer = …` takes effect at once.
	return Object.assign(state, {
		origin,
		entraTokenUrl: (tenant: string) => `${origin}/${tenant}/oauth2/v2.0/token`,
		googleTokenUrl: `${origin}/google/token`,
		exchangeTokenUrl: `${origin}/exchange/token`,
		imdsEndpoint: `${origin}/metadata/identity/oauth2/token`,
		appServiceEndpoint: `${origin}/msi/token`,
		appServiceSecret,
		issuer: `${origin}/realm`,
		baseUrl: `${origin}/v1`,
		requests,
		sent,
		issued,
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	});
}

/** A JWT-shaped federated token (as kubelet writes one), unique per call, so a rotated-away one is recognisable. */
export function federatedJwt(label: string): string {
	const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
	return `${part({ alg: 'RS256', kid: 'k8s' })}.${part({ iss: 'https://oidc.aks.example', sub: `system:serviceaccount:n8n:${label}`, aud: 'api://AzureADTokenExchange', jti: randomBytes(8).toString('hex') })}.${randomBytes(64).toString('base64url')}`;
}
