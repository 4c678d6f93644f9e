/**
 * Issue 21: secretless and federated identities, over HTTP against local stand-ins shaped like the
 * real endpoints (test/helpers/identity-servers.ts): AKS workload identity to Entra ID, Google's JWT
 * bearer grant (and the CLI that turns a service account key into a credential), RFC 8693 token
 * exchange, Azure IMDS, App Service, the GCE metadata server, and discovery. Each goes through the
 * package's own token request (or the shared cache and the credential Test); the last test searches
 * everything produced for the key, the assertions, the federated tokens and App Service's header.
 *
 * Run: node --import tsx --test test/identities.test.ts
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';

import { parseProviderConfig, safeParseProviderFields, type ProviderFieldsInput } from '../nodes/shared/config/provider-config';
import { requestToken } from '../nodes/shared/auth/token-client';
import { replaceSharedTokenCache, TokenCache } from '../nodes/shared/auth/token-cache';
import { FakeClock } from './helpers/fake-clock';
import { testProviderCredential } from '../nodes/shared/n8n/credential';
import { rememberEgressFilter, type EgressFilter } from '../nodes/shared/transport/egress';
import { googleServiceAccountToCredentials, vertexOpenAiBaseUrl } from '../cli/google-service-account';
import { ENTRA_CLIENT_ID, federatedJwt, GOOGLE_CLIENT_EMAIL, GOOGLE_SCOPE, startIdentityServers, type IdentityServers } from './helpers/identity-servers';
import { runNode } from './cli/run-cli';
import { hostileServer } from './helpers/hostile-server';
import { discoverIssuer, DISCOVERY_TTL_MS, MAX_METADATA_BYTES } from '../nodes/shared/auth/discovery';
import { startScriptedServer } from './helpers/token-server';

const REPO = path.resolve(__dirname, '..');
const CLI = path.join(REPO, 'cli', 'import-config.ts');
const TSX = pathToFileURL(require.resolve('tsx')).href;

const googleKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const GOOGLE_PRIVATE_KEY = googleKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const WRONG_PRIVATE_KEY = wrongKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const PEM_BODY = (pem: string) => pem.split('\n').slice(1, -2).join('');

let servers: IdentityServers;
let folder: string;
let tokenFile: string;
/** Everything the package produced (messages, errors, CLI output), for the leak search. */
const produced: string[] = [];
/** Every federated token written, for the leak search. */
const federatedTokens: string[] = [];

function writeFederatedToken(file = tokenFile): string {
	const value = federatedJwt(path.basename(file));
	writeFileSync(file, `${value}\n`);
	federatedTokens.push(value);
	return value;
}

const wallNowMs = () => Date.now();

async function tokenFor(fields: ProviderFieldsInput, env: Record<string, string>) {
	const config = parseProviderConfig(fields, 'Identity test', env).tokenEndpoint;
	return await requestToken(config, { providerName: 'Identity test', wallNowMs, env });
}

async function failureOf(fields: ProviderFieldsInput, env: Record<string, string>): Promise<Error & { hint?: string }> {
	try {
		await tokenFor(fields, env);
	} catch (error) {
		produced.push(inspect(error, { depth: 6 }), JSON.stringify(error), String((error as Error).message), String((error as { hint?: string }).hint));
		return error as Error & { hint?: string };
	}
	assert.fail('the token request should have failed');
}

function lastRequest(pathname: string) {
	const found = servers.requests.filter((request) => request.path === pathname).at(-1);
	assert.ok(found, `a request to ${pathname}`);
	return found;
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
const headerOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8')) as Record<string, unknown>;

before(async () => {
	folder = mkdtempSync(path.join(os.tmpdir(), 'oauth2-llm-identities-'));
	tokenFile = path.join(folder, 'azure-identity-token');
	writeFederatedToken();
	servers = await startIdentityServers({ googlePublicKeyPem: googleKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(), federatedTokenFile: tokenFile });
});

after(async () => {
	await servers?.close();
	rmSync(folder, { recursive: true, force: true });
});

describe('workload identity federation (clientAuthentication: workloadIdentity)', () => {
	const aksEnv = () => ({
		AZURE_CLIENT_ID: ENTRA_CLIENT_ID,
		AZURE_TENANT_ID: 'tenant-42',
		AZURE_AUTHORITY_HOST: `${servers.origin}/`,
		AZURE_FEDERATED_TOKEN_FILE: tokenFile,
	});
	const fields = { baseUrl: 'https://aoai-test.openai.azure.com/openai/v1', clientAuthentication: 'workloadIdentity', scope: 'https://cognitiveservices.azure.com/.default' };

	it("takes Client ID and Token URL from what AKS injects, and sends the file's CURRENT content as client_assertion, re-read for every token", async () => {
		const config = parseProviderConfig(fields, 'AKS', aksEnv()).tokenEndpoint;
		assert.equal(config.tokenUrl, servers.entraTokenUrl('tenant-42'));
		assert.equal(config.clientId, ENTRA_CLIENT_ID);
		const first = await requestToken(config, { providerName: 'AKS', wallNowMs, env: aksEnv() });
		const sentFirst = lastRequest('/tenant-42/oauth2/v2.0/token').form;
		assert.equal(sentFirst.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
		assert.equal(sentFirst.grant_type, 'client_credentials');
		assert.equal(sentFirst.client_id, ENTRA_CLIENT_ID);
		assert.equal(sentFirst.scope, 'https://cognitiveservices.azure.com/.default');
		assert.ok(!('client_secret' in sentFirst));
		// Kubelet rotates the file; the server accepts only the new content from now on.
		const rotated = writeFederatedToken();
		const second = await requestToken(config, { providerName: 'AKS', wallNowMs, env: aksEnv() });
		assert.equal(lastRequest('/tenant-42/oauth2/v2.0/token').form.client_assertion, rotated);
		assert.notEqual(sentFirst.client_assertion, rotated);
		assert.ok(servers.issued.has(first.accessToken) && servers.issued.has(second.accessToken));
	});

	it('OAUTH2_LLM_FEDERATED_TOKEN_FILE wins over AZURE_FEDERATED_TOKEN_FILE', async () => {
		const stale = path.join(folder, 'stale-token');
		writeFederatedToken(stale);
		await tokenFor(fields, { ...aksEnv(), AZURE_FEDERATED_TOKEN_FILE: stale, OAUTH2_LLM_FEDERATED_TOKEN_FILE: tokenFile });
		const error = await failureOf(fields, { ...aksEnv(), AZURE_FEDERATED_TOKEN_FILE: tokenFile, OAUTH2_LLM_FEDERATED_TOKEN_FILE: stale });
		// The server echoed the refused assertion; the package says what Entra said, without it.
		assert.match(error.message, /AADSTS700024/);
		assert.match(String(error.hint), /federated credential/);
	});

	it('a missing variable, an unreadable file and a file that holds no JWT each say what to set, and never the content', async () => {
		const { AZURE_FEDERATED_TOKEN_FILE: _file, ...withoutFile } = aksEnv();
		const missing = await failureOf(fields, withoutFile);
		assert.match(`${missing.message} ${missing.hint}`, /AZURE_FEDERATED_TOKEN_FILE.*OAUTH2_LLM_FEDERATED_TOKEN_FILE/);
		const unreadable = await failureOf(fields, { ...aksEnv(), AZURE_FEDERATED_TOKEN_FILE: path.join(folder, 'no-such-file') });
		assert.match(unreadable.message, /named by AZURE_FEDERATED_TOKEN_FILE could not be read \(ENOENT\)/);
		assert.doesNotMatch(unreadable.message, /no-such-file/, 'the path is the admin\'s; the message names the variable');
		const notJwt = path.join(folder, 'not-a-jwt');
		writeFileSync(notJwt, 'FederatedSecretThatIsNoJwt-7c1e');
		federatedTokens.push('FederatedSecretThatIsNoJwt-7c1e');
		const wrong = await failureOf(fields, { ...aksEnv(), OAUTH2_LLM_FEDERATED_TOKEN_FILE: notJwt });
		assert.match(wrong.message, /OAUTH2_LLM_FEDERATED_TOKEN_FILE does not hold a JWT/);
		const huge = path.join(folder, 'huge');
		writeFileSync(huge, `${'a'.repeat(9000)}.${'b'.repeat(9000)}.c`);
		assert.match((await failureOf(fields, { ...aksEnv(), OAUTH2_LLM_FEDERATED_TOKEN_FILE: huge })).message, /larger than 16 KiB/);
		const directory = await failureOf(fields, { ...aksEnv(), OAUTH2_LLM_FEDERATED_TOKEN_FILE: folder });
		assert.match(directory.message, /could not be read/);
	});

	it('no credential field names a file: the only file read is the one the environment names', async () => {
		const before = servers.requests.length;
		const secretFile = path.join(folder, 'other-secret');
		writeFileSync(secretFile, federatedJwt('other'));
		// Unknown fields are ignored, and a file: URL is no token endpoint.
		await tokenFor({ ...fields, federatedTokenFile: secretFile, tokenFile: secretFile } as ProviderFieldsInput, aksEnv());
		assert.notEqual(servers.requests.at(-1)?.form.client_assertion, federatedJwt('other'));
		const refused = safeParseProviderFields({ ...fields, tokenUrl: `file://${secretFile}` }, 'AKS', aksEnv());
		assert.equal(refused.ok, false);
		assert.ok(servers.requests.length === before + 1);
	});

	it("the federated token goes to no token endpoint but Entra's authority or one an administrator lists, also when discovery names it; the other server receives nothing", async () => {
		const other = await startIdentityServers({ googlePublicKeyPem: googleKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(), federatedTokenFile: tokenFile });
		try {
			const typed = await failureOf({ ...fields, tokenUrl: other.entraTokenUrl('tenant-42') }, aksEnv());
			assert.match(typed.message, /goes only to Entra ID's authority .* is not one/);
			assert.match(String(typed.hint), /OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS/);
			const discovered = await failureOf({ ...fields, clientId: 'c', issuerUrl: other.issuer }, { ...aksEnv(), AZURE_AUTHORITY_HOST: `${servers.origin}/` });
			assert.match(discovered.message, /is not one/);
			assert.equal(other.requests.filter((request) => request.method === 'POST').length, 0, 'no token request reached the other server');
			// An API origin listed for access tokens is not thereby a place for the federated token.
			const apiListed = await failureOf({ ...fields, tokenUrl: other.entraTokenUrl('tenant-42') }, { ...aksEnv(), OAUTH2_LLM_IDENTITY_ORIGINS: other.origin });
			assert.match(apiListed.message, /is not one/);
			assert.equal(other.requests.filter((request) => request.method === 'POST').length, 0, 'no token request reached the other server');
			// Listed by the administrator as a token endpoint: allowed.
			await tokenFor({ ...fields, tokenUrl: other.entraTokenUrl('tenant-42') }, { ...aksEnv(), OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS: other.origin });
		} finally {
			await other.close();
		}
	});

	it("a token got with n8n's own identity goes to no API but Azure OpenAI, AI Foundry and Vertex AI hosts, or origins an administrator lists", () => {
		for (const identity of [fields, { baseUrl: '', grantType: 'azureManagedIdentity', scope: 'https://management.azure.com/' }, { baseUrl: '', grantType: 'googleMetadataServer' }]) {
			const attacker = safeParseProviderFields({ ...identity, baseUrl: 'https://collector.example.com/v1' }, 'x', aksEnv());
			assert.match(JSON.stringify(!attacker.ok && attacker.issues), /baseUrl.*not an Azure OpenAI, AI Foundry or Vertex AI host.*OAUTH2_LLM_IDENTITY_ORIGINS/);
			const further = safeParseProviderFields({ ...identity, baseUrl: 'https://x.openai.azure.com/v1', allowedOrigins: 'https://collector.example.com' }, 'x', aksEnv());
			assert.match(JSON.stringify(!further.ok && further.issues), /allowedOrigins.*not an Azure OpenAI/);
			// An expression such as ={{ ["https://…"] }} resolves to a list: checked the same way.
			const listed = safeParseProviderFields({ ...identity, baseUrl: 'https://x.openai.azure.com/v1', allowedOrigins: ['https://collector.example.com'] }, 'x', aksEnv());
			assert.match(JSON.stringify(!listed.ok && listed.issues), /allowedOrigins.*not an Azure OpenAI/);
			const federatedListed = safeParseProviderFields({ ...identity, baseUrl: 'https://collector.example.com/v1' }, 'x', { ...aksEnv(), OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS: 'https://collector.example.com' });
			assert.equal(federatedListed.ok, false, 'a token endpoint listed for the federated token is no API origin');
			assert.equal(safeParseProviderFields({ ...identity, baseUrl: 'https://collector.example.com/v1' }, 'x', { ...aksEnv(), OAUTH2_LLM_IDENTITY_ORIGINS: 'https://collector.example.com' }).ok, true);
		}
		assert.equal(safeParseProviderFields({ ...fields, baseUrl: 'https://europe-west4-aiplatform.googleapis.com/v1' }, 'x', aksEnv()).ok, true);
	});

	it("without AKS's variables, Client ID and Token URL are required as usual, and the message says which variables would fill them", () => {
		const result = safeParseProviderFields(fields, 'AKS', {});
		assert.equal(result.ok, false);
		const text = JSON.stringify(!result.ok && result.issues);
		assert.match(text, /tokenUrl.*AZURE_TENANT_ID/);
		assert.match(text, /clientId.*AZURE_CLIENT_ID/);
	});
});

describe('JWT bearer grant (Google service accounts)', () => {
	const googleFields = (privateKey = GOOGLE_PRIVATE_KEY): ProviderFieldsInput => ({
		baseUrl: 'https://us-central1-aiplatform.googleapis.com/v1/projects/test-project/locations/us-central1/endpoints/openapi',
		tokenUrl: servers.googleTokenUrl,
		grantType: 'jwtBearer',
		clientAuthentication: 'none',
		scope: GOOGLE_SCOPE,
		jwtIssuer: GOOGLE_CLIENT_EMAIL,
		jwtScopeClaim: true,
		jwtKeyId: 'google-key-id-1',
		privateKey,
	});

	it('signs a new assertion per request (iss, scope claim, aud = Token URL, at most 1 hour), with no client authentication', async () => {
		const token = await tokenFor(googleFields(), {});
		assert.match(token.accessToken, /^ya29\./);
		assert.ok(token.lifetimeSeconds >= 3599);
		const form = lastRequest('/google/token').form;
		assert.deepEqual(Object.keys(form).sort(), ['assertion', 'grant_type']);
		const claims = claimsOf(form.assertion);
		assert.equal(headerOf(form.assertion).kid, 'google-key-id-1');
		assert.equal(claims.iss, GOOGLE_CLIENT_EMAIL);
		assert.equal(claims.scope, GOOGLE_SCOPE);
		assert.equal(claims.aud, servers.googleTokenUrl);
		assert.ok((claims.exp as number) - (claims.iat as number) <= 3600);
		assert.equal((claims.exp as number) - (claims.iat as number), 180, 'Google allows an hour, Salesforce three minutes');
		assert.equal(claims.sub, undefined);
		await tokenFor(googleFields(), {});
		assert.notEqual(lastRequest('/google/token').form.assertion, form.assertion, 'a new assertion for every request');
	});

	it("a key the service account does not have is reported in Google's words", async () => {
		const error = await failureOf(googleFields(WRONG_PRIVATE_KEY), {});
		assert.match(error.message, /Invalid JWT Signature\./);
		assert.match(String(error.hint), /JWT Issuer/);
	});

	it('needs JWT Issuer and Private Key, whatever the client authentication', () => {
		const result = safeParseProviderFields({ ...googleFields(), jwtIssuer: '', privateKey: '' }, 'Vertex', {});
		assert.equal(result.ok, false);
		const fields = !result.ok ? result.issues.map((issue) => issue.field) : [];
		assert.ok(fields.includes('jwtIssuer') && fields.includes('privateKey'), JSON.stringify(fields));
		assert.ok(!fields.includes('clientId'), 'Client ID is optional with None');
	});

	it('with Client Secret JWT beside it (SAP, Salesforce): the client assertion is HS256 with the secret, the grant assertion is signed with Private Key', async () => {
		const endpoint = await startScriptedServer([]);
		try {
			const secret = 'client-secret-for-hs256-of-32-bytes-or-more';
			const config = parseProviderConfig(
				{ baseUrl: 'https://llm.example.com/v1', tokenUrl: endpoint.url, grantType: 'jwtBearer', clientAuthentication: 'clientSecretJwt', clientId: 'sap-client', clientSecret: secret, jwtIssuer: 'sap-client', jwtSubject: 'user@example.com', privateKey: GOOGLE_PRIVATE_KEY },
				'SAP',
				{},
			).tokenEndpoint;
			await requestToken(config, { providerName: 'SAP', wallNowMs, env: {} });
			const form = endpoint.requests[0].form;
			assert.equal(form.grant_type, 'urn:ietf:params:oauth:grant-type:jwt-bearer');
			assert.equal(headerOf(form.client_assertion).alg, 'HS256');
			assert.equal(headerOf(form.assertion).alg, 'RS256');
			assert.equal(claimsOf(form.assertion).sub, 'user@example.com');
			assert.equal(claimsOf(form.client_assertion).iss, 'sap-client');
			const hs256 = safeParseProviderFields({ baseUrl: 'https://llm.example.com/v1', tokenUrl: endpoint.url, grantType: 'jwtBearer', clientAuthentication: 'none', jwtIssuer: 'x', jwtAlgorithm: 'HS256', privateKey: GOOGLE_PRIVATE_KEY }, 'SAP', {});
			assert.match(JSON.stringify(!hs256.ok && hs256.issues), /JWT Bearer assertion is signed with Private Key/);
		} finally {
			await endpoint.close();
		}
	});

	it('the import CLI turns a service account key into a working credential; an untrusted token_uri needs --allow-token-uri', async () => {
		const key = {
			type: 'service_account',
			project_id: 'test-project',
			private_key_id: 'google-key-id-1',
			private_key: GOOGLE_PRIVATE_KEY,
			client_email: GOOGLE_CLIENT_EMAIL,
			client_id: '1234567890',
			token_uri: servers.googleTokenUrl,
		};
		const refused = googleServiceAccountToCredentials(key, { location: 'us-central1' });
		assert.equal(refused.credentials.length, 0);
		assert.match(JSON.stringify(refused.issues), /token_uri.*--allow-token-uri/);
		const hostile = googleServiceAccountToCredentials({ ...key, token_uri: 'https://oauth2.googleapis.com.evil.example/token' }, { location: 'us-central1' });
		assert.match(JSON.stringify(hostile.issues), /token_uri/);
		produced.push(JSON.stringify(refused), JSON.stringify(hostile));

		const made = googleServiceAccountToCredentials(key, { location: 'us-central1', allowTokenUri: true });
		assert.deepEqual(made.issues, []);
		const [credential] = made.credentials;
		assert.equal(credential.data.baseUrl, 'https://us-central1-aiplatform.googleapis.com/v1/projects/test-project/locations/us-central1/endpoints/openapi');
		assert.equal(vertexOpenAiBaseUrl('test-project', 'global'), 'https://aiplatform.googleapis.com/v1/projects/test-project/locations/global/endpoints/openapi');
		assert.equal(credential.data.grantType, 'jwtBearer');
		const token = await tokenFor(credential.data as unknown as ProviderFieldsInput, {});
		assert.ok(servers.issued.has(token.accessToken));

		// The CLI itself, as a user's shell runs it.
		const keyFile = path.join(folder, 'sa-key.json');
		writeFileSync(keyFile, JSON.stringify(key));
		const output = path.join(folder, 'vertex-credentials.json');
		const denied = await runNode(['--import', TSX, CLI, '--google-service-account', keyFile, '--location', 'europe-west4', '-o', output], { cwd: folder });
		assert.equal(denied.code, 1, denied.stderr);
		assert.match(denied.stderr, /token_uri/);
		const cli = await runNode(['--import', TSX, CLI, '--google-service-account', keyFile, '--location', 'global', '--allow-token-uri', '-o', output], { cwd: folder });
		assert.equal(cli.code, 0, cli.stderr);
		produced.push(denied.stdout, denied.stderr, cli.stdout, cli.stderr);
		const broken = path.join(folder, 'broken-key.json');
		writeFileSync(broken, JSON.stringify(key).slice(0, -40));
		const unreadable = await runNode(['--import', TSX, CLI, '--google-service-account', broken, '--location', 'global'], { cwd: folder });
		assert.notEqual(unreadable.code, 0);
		produced.push(unreadable.stdout, unreadable.stderr);
	});
});

describe('token exchange (RFC 8693)', () => {
	const exchangeFields: ProviderFieldsInput = {
		baseUrl: 'https://adb-1234.azuredatabricks.net/serving-endpoints',
		tokenUrl: '',
		grantType: 'tokenExchange',
		clientAuthentication: 'none',
		clientId: 'databricks-service-principal',
		scope: 'all-apis',
	};
	const env = () => ({
		OAUTH2_LLM_FEDERATED_TOKEN_FILE: tokenFile,
		OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS: servers.origin,
		OAUTH2_LLM_IDENTITY_ORIGINS: 'https://adb-1234.azuredatabricks.net',
	});

	it("sends the federated token as subject_token with its type and client_id only, and accepts a bearer or N_A answer that names issued_token_type", async () => {
		servers.exchangeAnswer = 'bearer';
		const current = writeFederatedToken();
		const token = await tokenFor({ ...exchangeFields, tokenUrl: servers.exchangeTokenUrl }, env());
		const form = lastRequest('/exchange/token').form;
		assert.deepEqual(form, {
			grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
			subject_token: current,
			subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
			scope: 'all-apis',
			client_id: 'databricks-service-principal',
		});
		assert.ok(servers.issued.has(token.accessToken));
		servers.exchangeAnswer = 'notApplicable';
		await tokenFor({ ...exchangeFields, tokenUrl: servers.exchangeTokenUrl, requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token' }, env());
		assert.equal(lastRequest('/exchange/token').form.requested_token_type, 'urn:ietf:params:oauth:token-type:access_token');
	});

	it('refuses a token type that cannot be sent as a bearer token, and an answer without issued_token_type', async () => {
		servers.exchangeAnswer = 'dpop';
		const dpop = await failureOf({ ...exchangeFields, tokenUrl: servers.exchangeTokenUrl }, env());
		assert.match(dpop.message, /token_type "DPoP", which cannot be sent as a bearer token/);
		servers.exchangeAnswer = 'noIssuedType';
		const bare = await failureOf({ ...exchangeFields, tokenUrl: servers.exchangeTokenUrl }, env());
		assert.match(bare.message, /without issued_token_type/);
		servers.exchangeAnswer = 'bearer';
	});

	it('finds the token endpoint from Issuer URL (RFC 8414 first, then OpenID Connect), and refuses metadata for another issuer', async () => {
		const before = servers.requests.length;
		await tokenFor({ ...exchangeFields, issuerUrl: servers.issuer }, env());
		const paths = servers.requests.slice(before).map((request) => request.path);
		assert.deepEqual(paths, ['/.well-known/oauth-authorization-server/realm', '/realm/.well-known/openid-configuration', '/exchange/token']);
		const mismatch = await failureOf({ ...exchangeFields, issuerUrl: `${servers.issuer}/` }, env());
		assert.match(mismatch.message, /"issuer" is not exactly the Issuer URL/);
	});

	it('discovery keeps what it found for an hour (injected time), and refuses metadata larger than 256 KiB, which it reads no further', async () => {
		let padding = 0;
		const issuerServer = await hostileServer((request, res) => {
			if (!request.url.endsWith('/openid-configuration')) {
				res.writeHead(404);
				res.end();
				return;
			}
			res.writeHead(200, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ issuer: issuerServer.origin, token_endpoint: `${issuerServer.origin}/token`, padding: 'x'.repeat(padding) }));
		});
		try {
			const options = { providerName: 'Discovery', timeoutMs: 5000 };
			const t0 = Date.UTC(2026, 0, 1);
			await discoverIssuer(issuerServer.origin, { ...options, nowMs: t0 });
			await discoverIssuer(issuerServer.origin, { ...options, nowMs: t0 + DISCOVERY_TTL_MS - 1 });
			assert.equal(issuerServer.received.length, 2, 'one discovery (RFC 8414 404, then OIDC) within the hour');
			padding = MAX_METADATA_BYTES;
			await assert.rejects(discoverIssuer(issuerServer.origin, { ...options, nowMs: t0 + DISCOVERY_TTL_MS }), /larger than 262144 bytes/);
			assert.equal(issuerServer.received.length, 4, 'after the hour, asked again');
		} finally {
			await issuerServer.close();
		}
	});

	it("the credential Test warns, without failing, when the issuer does not advertise the chosen client authentication", async () => {
		replaceSharedTokenCache();
		servers.advertisedAuthMethods = ['private_key_jwt'];
		Object.assign(process.env, env());
		try {
			const result = await testProviderCredential({ id: 'x', name: 'Databricks', type: 'llmProviderOAuth2Api', data: { ...exchangeFields, issuerUrl: servers.issuer } } as never);
			produced.push(result.message);
			assert.equal(result.status, 'OK', result.message);
			assert.match(result.message, /Warning: the issuer does not advertise none \(Client Authentication\); it lists private_key_jwt/);
		} finally {
			delete process.env.OAUTH2_LLM_FEDERATED_TOKEN_FILE;
			delete process.env.OAUTH2_LLM_IDENTITY_ORIGINS;
			delete process.env.OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS;
			servers.advertisedAuthMethods = ['private_key_jwt', 'client_secret_basic'];
		}
	});

	it('the credential Test names the variable to set when n8n has no federated token file', async () => {
		replaceSharedTokenCache();
		Object.assign(process.env, { OAUTH2_LLM_IDENTITY_ORIGINS: env().OAUTH2_LLM_IDENTITY_ORIGINS, OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS: env().OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS });
		const result = await testProviderCredential({ id: 'x', name: 'Databricks', type: 'llmProviderOAuth2Api', data: { ...exchangeFields, tokenUrl: servers.exchangeTokenUrl } } as never).finally(() => {
			delete process.env.OAUTH2_LLM_IDENTITY_ORIGINS;
			delete process.env.OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS;
		});
		produced.push(result.message);
		assert.equal(result.status, 'Error');
		assert.match(result.message, /AZURE_FEDERATED_TOKEN_FILE/);
	});
});

describe('platform identities: no secret at all', () => {
	const azureFields: ProviderFieldsInput = {
		baseUrl: 'https://aoai-test.openai.azure.com/openai/v1',
		grantType: 'azureManagedIdentity',
		scope: 'https://cognitiveservices.azure.com/.default',
	};
	const googleFields: ProviderFieldsInput = { baseUrl: 'https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi', grantType: 'googleMetadataServer' };

	it('Azure IMDS: Metadata header, api-version 2018-02-01, the resource without /.default, string numbers, a user-assigned identity', async () => {
		const env = { OAUTH2_LLM_IMDS_ENDPOINT: servers.imdsEndpoint };
		const token = await tokenFor(azureFields, env);
		assert.ok(servers.issued.has(token.accessToken));
		assert.ok(token.lifetimeSeconds > 3500 && token.lifetimeSeconds <= 3599, String(token.lifetimeSeconds));
		const sent = lastRequest('/metadata/identity/oauth2/token');
		assert.equal(sent.headers.metadata, 'true');
		assert.deepEqual(sent.query, { 'api-version': '2018-02-01', resource: 'https://cognitiveservices.azure.com' });
		await tokenFor({ ...azureFields, managedIdentityClientId: 'user-assigned-id' }, env);
		assert.equal(lastRequest('/metadata/identity/oauth2/token').query.client_id, 'user-assigned-id');
		const unknown = await failureOf({ ...azureFields, managedIdentityClientId: 'not-assigned' }, env);
		assert.match(unknown.message, /Identity not found/);
		assert.match(String(unknown.hint), /managed identity/);
	});

	it('a busy IMDS (503, then 429 with Retry-After) is retried on the cache\'s schedule, with the time from an injected clock', async () => {
		const imds = await startScriptedServer(
			[{ status: 503, body: { error: 'server_error' } }, { status: 429, headers: { 'Retry-After': '2' }, body: { error: 'too_many_requests' } }],
			'/metadata/identity/oauth2/token',
		);
		process.env.OAUTH2_LLM_IMDS_ENDPOINT = imds.url;
		try {
			const clock = new FakeClock();
			const config = parseProviderConfig(azureFields, 'MI', {}).tokenEndpoint;
			const token = await new TokenCache({ clock }).getToken(config, { providerName: 'MI' });
			assert.equal(token.accessToken, 'access-token-2');
			assert.equal(imds.requests.length, 3);
			assert.ok(imds.requests.every((request) => request.method === 'GET' && request.headers.metadata === 'true'));
			assert.equal(clock.sleeps.length, 2);
			assert.ok(clock.sleeps[0] >= 1000 && clock.sleeps[0] <= 1200, String(clock.sleeps));
			assert.ok(clock.sleeps[1] >= 2000 && clock.sleeps[1] <= 2400, `Retry-After honoured: ${clock.sleeps}`);
		} finally {
			delete process.env.OAUTH2_LLM_IMDS_ENDPOINT;
			await imds.close();
		}
	});

	it("App Service and Container Apps: IDENTITY_ENDPOINT with X-IDENTITY-HEADER and api-version 2019-08-01; the header's value is never shown", async () => {
		const env = { IDENTITY_ENDPOINT: servers.appServiceEndpoint, IDENTITY_HEADER: servers.appServiceSecret };
		const token = await tokenFor(azureFields, env);
		assert.ok(servers.issued.has(token.accessToken));
		assert.ok(token.lifetimeSeconds > 86000, 'expires_on as a string');
		const sent = lastRequest('/msi/token');
		assert.equal(sent.headers['x-identity-header'], servers.appServiceSecret);
		assert.equal(sent.query['api-version'], '2019-08-01');
		const refused = await failureOf(azureFields, { ...env, IDENTITY_HEADER: `${servers.appServiceSecret}-old` });
		assert.match(refused.message, /Unauthorized request/);
	});

	it('GCE / GKE / Cloud Run metadata server: Metadata-Flavor: Google, scopes comma-separated', async () => {
		const env = { OAUTH2_LLM_GCE_METADATA_HOST: servers.origin.replace('http://', '') };
		const token = await tokenFor({ ...googleFields, scope: `${GOOGLE_SCOPE} openid` }, env);
		assert.ok(servers.issued.has(token.accessToken));
		const sent = lastRequest('/computeMetadata/v1/instance/service-accounts/default/token');
		assert.equal(sent.headers['metadata-flavor'], 'Google');
		assert.equal(sent.query.scopes, `${GOOGLE_SCOPE},openid`);
	});

	it('Azure Managed Identity needs exactly one resource in Scope', () => {
		const none = safeParseProviderFields({ ...azureFields, scope: '' }, 'MI', {});
		const two = safeParseProviderFields({ ...azureFields, scope: 'a b' }, 'MI', {});
		assert.match(JSON.stringify(!none.ok && none.issues), /scope.*required for Azure Managed Identity/);
		assert.match(JSON.stringify(!two.ok && two.issues), /scope.*one value/);
	});

	it("with n8n's SSRF protection on, only these fixed endpoints pass by the filter, past any proxy; a typed URL to the same host stays blocked", async () => {
		const saved = { ...process.env };
		const blockAll: EgressFilter = {
			validateUrl: async () => ({ ok: false, error: new Error('Access to restricted IP 127.0.0.1 is not allowed') }),
			createSecureLookup: () => () => assert.fail('no lookup for a platform endpoint'),
		};
		Object.assign(process.env, { N8N_SSRF_PROTECTION_ENABLED: 'true', HTTP_PROXY: 'http://127.0.0.1:9', http_proxy: 'http://127.0.0.1:9', NO_PROXY: '' });
		rememberEgressFilter({ getSecureEgressFilter: () => blockAll });
		try {
			const env = { OAUTH2_LLM_IMDS_ENDPOINT: servers.imdsEndpoint };
			const token = await tokenFor(azureFields, env);
			assert.ok(servers.issued.has(token.accessToken), 'IMDS reached directly, not through the (dead) proxy');
			const typed = await failureOf({ baseUrl: 'https://aoai.example.com/v1', tokenUrl: `${servers.origin}/metadata/identity/oauth2/token`, clientId: 'c', clientSecret: 'typed-url-secret' }, env);
			assert.match(typed.message, /SSRF protection blocked it/);
		} finally {
			for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
			Object.assign(process.env, saved);
		}
	});
});

describe('saved credentials keep working', () => {
	const base = { baseUrl: 'https://llm.example.com/v1', tokenUrl: 'https://login.example.com/token', clientId: 'c' };

	it('no Grant Type (or n8n filling in Client Credentials) with a Refresh Token means the refresh grant, as before', () => {
		assert.equal(parseProviderConfig({ ...base, refreshToken: 'rt' }, 'x', {}).tokenEndpoint.grantType, 'refreshToken');
		assert.equal(parseProviderConfig({ ...base, grantType: 'clientCredentials', refreshToken: 'rt' }, 'x', {}).tokenEndpoint.grantType, 'refreshToken');
		assert.equal(parseProviderConfig({ ...base, clientSecret: 's' }, 'x', {}).tokenEndpoint.grantType, 'clientCredentials');
		const missing = safeParseProviderFields({ ...base, grantType: 'refreshToken' }, 'x', {});
		assert.match(JSON.stringify(!missing.ok && missing.issues), /refreshToken.*required for the Refresh Token grant/);
		const none = parseProviderConfig({ ...base, clientAuthentication: 'none' }, 'x', {}).tokenEndpoint;
		assert.equal(none.clientAuthentication, 'none');
	});
});

describe('leaks', () => {
	it('no key, assertion, federated token or App Service header appears in anything the package produced', () => {
		const assertions = servers.requests.flatMap((request) => [request.form.assertion, request.form.client_assertion, request.form.subject_token]).filter((value): value is string => !!value);
		assert.ok(assertions.length > 5);
		const secrets = [PEM_BODY(GOOGLE_PRIVATE_KEY), PEM_BODY(WRONG_PRIVATE_KEY), servers.appServiceSecret, ...federatedTokens, ...assertions];
		const everything = produced.join('\n');
		assert.ok(everything.length > 1000);
		for (const secret of secrets) {
			assert.ok(!everything.includes(secret), `leaked: ${secret.slice(0, 12)}…`);
			// Long secrets in part, too (a message cut in the middle of one).
			if (secret.length > 80) assert.ok(!everything.includes(secret.slice(20, 80)), `leaked in part: ${secret.slice(0, 12)}…`);
		}
	});
});
