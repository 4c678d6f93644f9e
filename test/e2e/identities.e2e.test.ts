/**
 * Issue 21's identities in a REAL n8n 2.41: one workflow whose OAuth2 LLM Chat nodes each use
 * another way of getting a token (AKS workload identity to an Entra-shaped endpoint, a Google service
 * account made by the import CLI, token exchange found through the issuer's metadata, Azure IMDS,
 * the GCE metadata server), against the local stand-ins of test/helpers/identity-servers.ts and a
 * chat API that takes only the tokens they issued. Then the failures a platform team meets (no
 * variable, a file that is no JWT), IMDS with n8n's SSRF protection on, the credential dialog's Test,
 * and a search of everything n8n stored and printed for the key, the assertions, the federated
 * tokens and the access tokens.
 *
 *   npm run build && node --import tsx --test test/e2e/identities.e2e.test.ts
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { googleServiceAccountToCredentials } from '../../cli/google-service-account';
import { credentialShapes } from '../helpers/credential-shapes';
import { N8nInstance, type ExecuteResult } from '../harness/n8n';
import { ENTRA_CLIENT_ID, federatedJwt, GOOGLE_CLIENT_EMAIL, startIdentityServers, type IdentityServers } from '../helpers/identity-servers';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 180_000;
const CREDENTIAL_TYPE = 'llmProviderOAuth2Api';
const PACKAGE_CHAT_NODE_TYPE = 'n8n-nodes-oauth2-llm.oAuth2LlmChat';

const googleKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const GOOGLE_PRIVATE_KEY = googleKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const CREDENTIALS = {
	aks: { id: 'e2eIdAksWorkload', name: 'Azure OpenAI (AKS workload identity)' },
	vertex: { id: 'e2eIdVertexSaKey', name: 'Vertex AI (service account)' },
	databricks: { id: 'e2eIdDatabricksX', name: 'Databricks (token federation)' },
	imds: { id: 'e2eIdAzureImds01', name: 'Azure OpenAI (managed identity)' },
	gce: { id: 'e2eIdGceMetadata', name: 'Vertex AI (metadata server)' },
} as const;
type Mode = keyof typeof CREDENTIALS;
const MODES = Object.keys(CREDENTIALS) as Mode[];

let servers: IdentityServers;
let n8n: N8nInstance;
let folder: string;
let tokenFile: string;
const federatedTokens: string[] = [];
const credentialTestAnswers: string[] = [];

function writeFederatedToken(file = tokenFile): string {
	const value = federatedJwt('n8n');
	writeFileSync(file, value);
	federatedTokens.push(value);
	return value;
}

/** What an AKS pod, an Azure VM and a GKE pod put in n8n's environment (pointed at the stand-ins). */
function platformEnv(): Record<string, string> {
	return {
		AZURE_CLIENT_ID: ENTRA_CLIENT_ID,
		AZURE_TENANT_ID: 'tenant-e2e',
		AZURE_AUTHORITY_HOST: `${servers.origin}/`,
		AZURE_FEDERATED_TOKEN_FILE: tokenFile,
		OAUTH2_LLM_IMDS_ENDPOINT: servers.imdsEndpoint,
		OAUTH2_LLM_GCE_METADATA_HOST: servers.origin.replace('http://', ''),
		// The stand-ins' origin, as an administrator lists a Databricks workspace (identity-policy.ts): as a
		// token endpoint for the federated token, and as an API for the tokens these identities get.
		OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS: servers.origin,
		OAUTH2_LLM_IDENTITY_ORIGINS: servers.origin,
		// The harness passes its own environment through: these would change which endpoint or file is used.
		OAUTH2_LLM_FEDERATED_TOKEN_FILE: '',
		IDENTITY_ENDPOINT: '',
		IDENTITY_HEADER: '',
	};
}

function explain(result: ExecuteResult): string {
	return `exit ${result.exitCode}; error ${JSON.stringify(result.error)?.slice(0, 2000)}\n${(result.stdout + result.stderr).slice(-4000)}`;
}

/** Manual Trigger → one OAuth2 LLM Chat node per mode, in a chain; a failed node passes its error item on. */
function identitiesWorkflow(id: string, modes: Mode[]) {
	const nodes: unknown[] = [
		{ id: `${id}-trigger`, name: 'Start', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
	];
	const connections: Record<string, unknown> = {};
	let previous = 'Start';
	modes.forEach((mode, index) => {
		const name = `Chat via ${mode}`;
		nodes.push({
			id: `${id}-${mode}`,
			name,
			type: PACKAGE_CHAT_NODE_TYPE,
			typeVersion: 1,
			position: [220 * (index + 1), 0],
			onError: 'continueRegularOutput',
			parameters: {
				model: { __rl: true, mode: 'id', value: 'identity-model' },
				messages: { values: [{ role: 'user', content: `Which identity? ${mode}` }] },
				options: {},
			},
			credentials: { [CREDENTIAL_TYPE]: CREDENTIALS[mode] },
		});
		connections[previous] = { main: [[{ node: name, type: 'main', index: 0 }]] };
		previous = name;
	});
	return { id, name: `e2e: identities (${modes.join(', ')})`, active: false, settings: { executionOrder: 'v1' }, nodes, connections };
}

function outputOf(result: ExecuteResult, mode: Mode): Record<string, unknown> | undefined {
	return result.runData?.[`Chat via ${mode}`]?.[0]?.data?.main?.[0]?.[0]?.json as Record<string, unknown> | undefined;
}

describe('secretless and federated identities in a real n8n 2.41', () => {
	before(
		async () => {
			folder = mkdtempSync(path.join(os.tmpdir(), 'oauth2-llm-identities-e2e-'));
			tokenFile = path.join(folder, 'azure-identity-token');
			writeFederatedToken();
			servers = await startIdentityServers({ googlePublicKeyPem: googleKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(), federatedTokenFile: tokenFile });
			// The advertised methods leave out "none": the Test warns about Databricks' choice, and the run still works.
			servers.advertisedAuthMethods = ['private_key_jwt', 'client_secret_basic'];
			const vertex = googleServiceAccountToCredentials(
				{ type: 'service_account', project_id: 'test-project', private_key_id: 'e2e-key-1', private_key: GOOGLE_PRIVATE_KEY, client_email: GOOGLE_CLIENT_EMAIL, token_uri: servers.googleTokenUrl },
				{ location: 'us-central1', allowTokenUri: true },
			);
			assert.deepEqual(vertex.issues, []);
			n8n = await N8nInstance.create({});
			await n8n.installCommunityPackage(REPO_ROOT);
			const baseUrl = servers.baseUrl;
			await n8n.importCredentials([
				{ ...CREDENTIALS.aks, type: CREDENTIAL_TYPE, data: { baseUrl, clientAuthentication: 'workloadIdentity', scope: 'https://cognitiveservices.azure.com/.default' } },
				// The CLI's credential, pointed at the local chat API instead of Vertex AI's host.
				{ ...CREDENTIALS.vertex, type: CREDENTIAL_TYPE, data: { ...vertex.credentials[0].data, baseUrl } },
				{
					...CREDENTIALS.databricks,
					type: CREDENTIAL_TYPE,
					data: { baseUrl, grantType: 'tokenExchange', clientAuthentication: 'none', clientId: 'databricks-sp', issuerUrl: servers.issuer, scope: 'all-apis' },
				},
				{ ...CREDENTIALS.imds, type: CREDENTIAL_TYPE, data: { baseUrl, grantType: 'azureManagedIdentity', scope: 'https://cognitiveservices.azure.com/.default' } },
				{ ...CREDENTIALS.gce, type: CREDENTIAL_TYPE, data: { baseUrl, grantType: 'googleMetadataServer' } },
			]);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await servers?.close();
		if (folder) rmSync(folder, { recursive: true, force: true });
	});

	it('n8n execute: every identity gets a token the chat API accepts; after kubelet rotates the file, the next run sends the new content, the only one accepted', { timeout: RUN_TIMEOUT_MS * 2 }, async () => {
		const id = 'e2eIdentitiesAll';
		await n8n.importWorkflow(identitiesWorkflow(id, MODES));
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS, env: platformEnv() });
		assert.equal(result.status, 'success', explain(result));
		for (const mode of MODES) {
			assert.equal(outputOf(result, mode)?.content, `Identity echo: Which identity? ${mode}`, `${mode}: ${JSON.stringify(outputOf(result, mode))}`);
		}
		const google = servers.requests.filter((request) => request.path === '/google/token').at(-1);
		assert.deepEqual(Object.keys(google?.form ?? {}).sort(), ['assertion', 'grant_type'], 'Google got no client authentication');
		assert.equal(servers.requests.filter((request) => request.path === '/metadata/identity/oauth2/token').at(-1)?.headers.metadata, 'true');

		const rotated = writeFederatedToken();
		const again = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS, env: platformEnv() });
		assert.equal(outputOf(again, 'aks')?.content, 'Identity echo: Which identity? aks', explain(again));
		const entra = servers.requests.filter((request) => request.path === '/tenant-e2e/oauth2/v2.0/token');
		assert.equal(entra.at(-1)?.form.client_assertion, rotated);
		assert.equal(servers.requests.filter((request) => request.path === '/exchange/token').at(-1)?.form.subject_token, rotated);
	});

	it("without the variable, or with a file that holds no JWT, the item fails with a message that says what to set", { timeout: RUN_TIMEOUT_MS * 2 }, async () => {
		const id = 'e2eIdentitiesBad';
		await n8n.importWorkflow(identitiesWorkflow(id, ['aks', 'databricks']));
		const withoutFile = { ...platformEnv(), AZURE_FEDERATED_TOKEN_FILE: '' };
		const missing = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS, env: withoutFile });
		for (const mode of ['aks', 'databricks'] as const) {
			assert.match(JSON.stringify(outputOf(missing, mode)), /AZURE_FEDERATED_TOKEN_FILE/, explain(missing));
		}
		const garbage = path.join(folder, 'not-a-jwt');
		writeFileSync(garbage, 'FederatedE2eSecretNoJwt-41d2');
		federatedTokens.push('FederatedE2eSecretNoJwt-41d2');
		const notJwt = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS, env: { ...platformEnv(), OAUTH2_LLM_FEDERATED_TOKEN_FILE: garbage } });
		assert.match(JSON.stringify(outputOf(notJwt, 'aks')), /OAUTH2_LLM_FEDERATED_TOKEN_FILE does not hold a JWT/, explain(notJwt));
	});

	it("with n8n's SSRF protection on, managed identity still reaches its fixed endpoint, while every typed URL to the same host (Base URL, Issuer URL) stays blocked", { timeout: RUN_TIMEOUT_MS * 2 }, async () => {
		const id = 'e2eIdentitiesSsrf';
		await n8n.importWorkflow(identitiesWorkflow(id, ['imds', 'databricks']));
		const imdsBefore = servers.requests.filter((request) => request.path === '/metadata/identity/oauth2/token').length;
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS, env: { ...platformEnv(), N8N_SSRF_PROTECTION_ENABLED: 'true' } });
		// The token came from IMDS (its admin-set stand-in on 127.0.0.1); the LLM API on the same host is a typed URL: blocked.
		assert.ok(servers.requests.filter((request) => request.path === '/metadata/identity/oauth2/token').length > imdsBefore, explain(result));
		assert.match(JSON.stringify(outputOf(result, 'imds')), /The LLM API of .* failed: n8n's SSRF protection blocked it/, explain(result));
		assert.match(JSON.stringify(outputOf(result, 'databricks')), /metadata of issuer .* SSRF protection blocked it/, explain(result));
	});

	it("the credential dialog's Test: OK for each identity (with the issuer's warning for Databricks); an unsaved Google credential with a wrong key fails in Google's words", { timeout: RUN_TIMEOUT_MS * 2 }, async () => {
		await n8n.start({ timeoutMs: 150_000, env: platformEnv() });
		await n8n.setupOwner();
		for (const mode of MODES) {
			const result = await n8n.testCredential({ id: CREDENTIALS[mode].id, type: CREDENTIAL_TYPE });
			credentialTestAnswers.push(JSON.stringify(result));
			assert.equal(result.status, 'OK', `${mode}: ${result.message}`);
			if (mode === 'databricks') assert.match(result.message, /Warning: the issuer does not advertise none/);
		}
		const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
		const bad = await n8n.testCredential({
			name: 'Unsaved Vertex credential',
			type: CREDENTIAL_TYPE,
			data: { baseUrl: servers.baseUrl, tokenUrl: servers.googleTokenUrl, grantType: 'jwtBearer', clientAuthentication: 'none', jwtIssuer: GOOGLE_CLIENT_EMAIL, jwtScopeClaim: true, scope: 'https://www.googleapis.com/auth/cloud-platform', privateKey: wrongKey },
		});
		credentialTestAnswers.push(JSON.stringify(bad));
		assert.equal(bad.status, 'Error', bad.message);
		assert.match(bad.message, /Invalid JWT Signature\./);
		assert.ok(!JSON.stringify(bad).includes(wrongKey.split('\n')[5]), 'the answer shows the key');
	});

	it('one running n8n re-reads the federated token file for every token: after kubelet rotates it, the next token request sends the new content, the only one accepted', { timeout: RUN_TIMEOUT_MS }, async () => {
		// Short-lived tokens, so the second Test needs a new one from the same server process.
		servers.entraLifetimeSeconds = 4;
		try {
			// A scope of its own: a token of its own in the cache, not the one the Test above got.
			const unsaved = { name: 'AKS, short tokens', type: CREDENTIAL_TYPE, data: { baseUrl: servers.baseUrl, clientAuthentication: 'workloadIdentity', scope: 'https://ai.azure.com/.default', expiryBufferSeconds: 1 } };
			const first = await n8n.testCredential(unsaved);
			credentialTestAnswers.push(JSON.stringify(first));
			assert.equal(first.status, 'OK', first.message);
			const rotated = writeFederatedToken();
			await new Promise((resolve) => setTimeout(resolve, 3500));
			const second = await n8n.testCredential(unsaved);
			credentialTestAnswers.push(JSON.stringify(second));
			assert.equal(second.status, 'OK', second.message);
			assert.equal(servers.requests.filter((request) => request.path === '/tenant-e2e/oauth2/v2.0/token').at(-1)?.form.client_assertion, rotated);
		} finally {
			servers.entraLifetimeSeconds = 3599;
		}
	});

	it("n8n 2.41's public API creates a credential of every grant and client authentication, including those saved before Grant Type existed", { timeout: RUN_TIMEOUT_MS }, async () => {
		for (const { label, data } of credentialShapes()) {
			const created = await n8n.publicApi('POST', '/credentials', { name: `shape: ${label}`, type: CREDENTIAL_TYPE, data });
			assert.equal(created.status, 200, `${label}: ${JSON.stringify(created.body).slice(0, 800)}`);
			assert.equal((await n8n.publicApi('DELETE', `/credentials/${created.body.id}`)).status, 200);
		}
	});

	it('no private key, assertion, federated token or access token in any stored execution, credential Test answer or anything n8n printed', { timeout: RUN_TIMEOUT_MS }, async () => {
		const stored = await n8n.exportExecutions();
		assert.match(stored, /===== execution \d+ /);
		const assertions = servers.requests.flatMap((request) => [request.form.assertion, request.form.client_assertion, request.form.subject_token]).filter((value): value is string => !!value);
		const accessTokens = servers.requests.flatMap((request) => (String(request.headers.authorization ?? '').startsWith('Bearer ') ? [String(request.headers.authorization).slice(7)] : []));
		assert.ok(assertions.length >= 6 && accessTokens.length >= 10, `collected ${assertions.length} assertions, ${accessTokens.length} tokens`);
		const keyMiddle = GOOGLE_PRIVATE_KEY.split('\n').slice(3, 6).join('');
		const secrets = [keyMiddle, ...new Set([...assertions, ...federatedTokens, ...accessTokens])];
		for (const [where, text] of [['stored executions', stored], ["n8n's logs", n8n.logs()], ['credential Test answers', credentialTestAnswers.join('\n')]] as const) {
			for (const secret of secrets) assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 8)}…) appears in ${where}`);
		}
	});
});
