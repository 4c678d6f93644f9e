/**
 * Issue 21 against a real authorization server: oidc-provider with the two grants registered the way
 * panva recommends (registerGrantType), each verifying what it gets: RFC 8693 token exchange whose
 * subject token must be a JWT signed by the "cluster" key with the right issuer and audience (Keycloak's
 * standard token exchange, Databricks federation), and the RFC 7523 JWT bearer grant whose assertion must
 * be signed by the service account's key, name it as issuer, carry the scope claim, be meant for the
 * token endpoint and live at most an hour (Google). Tokens come through the process-wide cache, with
 * n8n's environment as the package reads it (process.env).
 *
 * Run: node --import tsx --test test/identities-oidc.test.ts
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Provider, { errors } from 'oidc-provider';

import { parseProviderConfig, type ProviderFieldsInput } from '../nodes/shared/config/provider-config';
import { OAuth2AuthenticationError } from '../nodes/shared/core/errors';
import { TokenCache } from '../nodes/shared/auth/token-cache';
import { JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT } from '../nodes/shared/auth/token-client';

const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const CLUSTER_ISSUER = 'https://oidc.cluster.example';
const SERVICE_ACCOUNT = 'vertex-caller@test-project.iam.gserviceaccount.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

const clusterKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serviceAccountKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
function signedJwt(claims: Record<string, unknown>, key: KeyObject): string {
	const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
	return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}
function verifiedClaims(jwt: string, key: KeyObject): Record<string, unknown> | undefined {
	const [header, body, signature] = jwt.split('.');
	if (!signature || !verify('sha256', Buffer.from(`${header}.${body}`), key, Buffer.from(signature, 'base64url'))) return undefined;
	return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
}

let server: Server;
let issuer: string;
let folder: string;
let tokenFile: string;
/** What each grant handler saw, for the checks. */
const seen: Array<{ grant: string; params: Record<string, unknown>; claims?: Record<string, unknown> }> = [];

/** A projected service account token, as kubelet writes it: signed by the cluster, for the exchange's audience. */
function writeClusterToken(audience = 'n8n-federation'): string {
	const now = Math.floor(Date.now() / 1000);
	const value = signedJwt({ iss: CLUSTER_ISSUER, sub: 'system:serviceaccount:n8n:n8n', aud: audience, iat: now, exp: now + 3600, jti: randomUUID() }, clusterKey.privateKey);
	writeFileSync(tokenFile, value);
	return value;
}

before(async () => {
	folder = mkdtempSync(path.join(os.tmpdir(), 'oauth2-llm-oidc-identities-'));
	tokenFile = path.join(folder, 'token');
	server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	const provider = new Provider(issuer, {
		clients: [
			{ client_id: 'exchange-client', token_endpoint_auth_method: 'none', grant_types: [TOKEN_EXCHANGE_GRANT], response_types: [], redirect_uris: [] },
			{ client_id: 'google-sa', token_endpoint_auth_method: 'none', grant_types: [JWT_BEARER_GRANT], response_types: [], redirect_uris: [] },
		],
		features: { devInteractions: { enabled: false } },
	}) as Provider & {
		registerGrantType(type: string, handler: (ctx: never) => Promise<void>, parameters: string[]): void;
		ClientCredentials: new (init: { client: unknown; scope?: string }) => { save(): Promise<string>; expiration: number };
	};
	type GrantContext = { oidc: { params: Record<string, unknown>; client: unknown }; body: unknown };
	const issue = async (ctx: GrantContext, scope: string | undefined, issuedType?: string) => {
		const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope });
		const value = await token.save();
		ctx.body = { access_token: value, token_type: 'Bearer', expires_in: token.expiration, ...(issuedType ? { issued_token_type: issuedType } : {}) };
	};
	provider.registerGrantType(
		TOKEN_EXCHANGE_GRANT,
		(async (ctx: GrantContext) => {
			const params = ctx.oidc.params;
			seen.push({ grant: 'exchange', params: { ...params } });
			if (params.subject_token_type !== JWT_TYPE) throw new errors.InvalidRequest('subject_token_type must be urn:ietf:params:oauth:token-type:jwt');
			const claims = verifiedClaims(String(params.subject_token ?? ''), clusterKey.publicKey);
			if (!claims || claims.iss !== CLUSTER_ISSUER || claims.aud !== 'n8n-federation' || Number(claims.exp) < Date.now() / 1000) {
				throw new errors.InvalidGrant('subject token is not trusted by this federation policy');
			}
			await issue(ctx, typeof params.scope === 'string' ? params.scope : undefined, 'urn:ietf:params:oauth:token-type:access_token');
		}) as never,
		['subject_token', 'subject_token_type', 'requested_token_type', 'scope', 'audience'],
	);
	provider.registerGrantType(
		JWT_BEARER_GRANT,
		(async (ctx: GrantContext) => {
			const params = ctx.oidc.params;
			const claims = verifiedClaims(String(params.assertion ?? ''), serviceAccountKey.publicKey);
			seen.push({ grant: 'jwtBearer', params: { ...params }, claims });
			if (!claims) throw new errors.InvalidGrant('Invalid JWT Signature.');
			const now = Date.now() / 1000;
			if (claims.iss !== SERVICE_ACCOUNT || claims.aud !== `${issuer}/token` || claims.scope !== CLOUD_PLATFORM) throw new errors.InvalidGrant('Invalid JWT: claims do not match');
			if (Number(claims.exp) - Number(claims.iat) > 3600 || Number(claims.exp) < now) throw new errors.InvalidGrant('Invalid JWT: Token must be a short-lived token (60 minutes)');
			await issue(ctx, undefined);
		}) as never,
		['assertion', 'scope'],
	);
	server.on('request', provider.callback());
	writeClusterToken();
	Object.assign(process.env, { OAUTH2_LLM_FEDERATED_TOKEN_FILE: tokenFile, OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS: issuer });
});

after(async () => {
	server.closeAllConnections();
	await new Promise<void>((resolve) => server.close(() => resolve()));
	rmSync(folder, { recursive: true, force: true });
});

const baseUrl = 'https://vertex-test-aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi';

describe('oidc-provider: token exchange (registerGrantType)', () => {
	const fields = (): ProviderFieldsInput => ({ baseUrl, grantType: 'tokenExchange', clientAuthentication: 'none', clientId: 'exchange-client', issuerUrl: issuer, scope: 'openid' });

	it("exchanges the cluster's projected token, found through OpenID discovery, and exchanges the rotated one after the file changes", async () => {
		const cache = new TokenCache();
		const config = parseProviderConfig(fields(), 'Keycloak-style exchange').tokenEndpoint;
		const first = await cache.getToken(config, { providerName: 'Keycloak-style exchange' });
		assert.ok(first.accessToken.length > 20);
		const rotated = writeClusterToken();
		cache.clear();
		const second = await cache.getToken(config, { providerName: 'Keycloak-style exchange' });
		assert.notEqual(second.accessToken, first.accessToken);
		assert.equal(seen.filter((entry) => entry.grant === 'exchange').at(-1)?.params.subject_token, rotated);
	});

	it("a subject token the policy does not trust is refused in the server's words", async () => {
		writeClusterToken('someone-else');
		try {
			const config = parseProviderConfig(fields(), 'Keycloak-style exchange').tokenEndpoint;
			await assert.rejects(new TokenCache().getToken(config, { providerName: 'Keycloak-style exchange' }), (error: unknown) => {
				assert.ok(error instanceof OAuth2AuthenticationError);
				assert.match(error.message, /invalid_grant|not trusted by this federation policy/);
				assert.match(String(error.hint), /federation policy/);
				return true;
			});
		} finally {
			writeClusterToken();
		}
	});
});

describe('oidc-provider: JWT bearer grant (registerGrantType)', () => {
	const fields = (key: KeyObject): ProviderFieldsInput => ({
		baseUrl,
		tokenUrl: `${issuer}/token`,
		grantType: 'jwtBearer',
		clientAuthentication: 'none',
		clientId: 'google-sa',
		jwtIssuer: SERVICE_ACCOUNT,
		jwtScopeClaim: true,
		scope: CLOUD_PLATFORM,
		privateKey: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
	});

	it('the signed assertion is accepted: issuer, audience, scope claim and lifetime checked by the server', async () => {
		const token = await new TokenCache().getToken(parseProviderConfig(fields(serviceAccountKey.privateKey), 'Vertex').tokenEndpoint, { providerName: 'Vertex' });
		assert.ok(token.accessToken.length > 20);
		const last = seen.filter((entry) => entry.grant === 'jwtBearer').at(-1);
		assert.equal(last?.claims?.iss, SERVICE_ACCOUNT);
		assert.equal(last?.params.scope, undefined, 'the scope went into the assertion, not the form');
	});

	it("an assertion signed with another key is refused with the server's error and a hint at the key and issuer", async () => {
		const config = parseProviderConfig(fields(otherKey.privateKey), 'Vertex').tokenEndpoint;
		await assert.rejects(new TokenCache().getToken(config, { providerName: 'Vertex' }), (error: unknown) => {
			assert.ok(error instanceof OAuth2AuthenticationError);
			// oidc-provider keeps a grant handler's detail to itself and answers its generic invalid_grant words.
			assert.match(error.message, /invalid_grant: grant request is invalid/);
			assert.match(String(error.hint), /JWT Issuer.*Private Key/);
			return true;
		});
		assert.equal(seen.filter((entry) => entry.grant === 'jwtBearer').at(-1)?.claims, undefined, 'the server found the signature wrong');
	});
});
