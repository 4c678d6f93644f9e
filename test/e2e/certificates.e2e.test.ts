/**
 * Certificate-based client authentication in a REAL n8n 2.41 (issue 12): a workflow through a
 * private_key_jwt credential (Entra ID style: PS256, x5t#S256, an encrypted key) and one through a
 * tls_client_auth credential that also presents its certificate to the LLM API, both against
 * oidc-provider and the chat API over HTTPS with a private CA; then the credential dialog's Test for
 * both, and a search of everything n8n stored and printed for the key, the passphrase and the
 * assertions.
 *
 *   npm run build && node --import tsx --test test/e2e/certificates.e2e.test.ts
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { httpRequestWorkflow, manualExampleWorkflow } from '../../examples/workflows';
import { N8nInstance, type ExecuteResult } from '../harness/n8n';
import { createTestPki, encryptedPem, type TestPki } from '../helpers/pki';
import { startSandboxServer, type SandboxServer } from '../sandbox/server';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 180_000;
const CREDENTIAL_TYPE = 'llmProviderOAuth2Api';
const CHAT_NODE = 'OAuth2 LLM Chat';
const PASSPHRASE = 'e2e-key-passphrase-51b7';
const JWT_CREDENTIAL = { id: 'e2eCertPkJwtCred', name: 'Entra-style LLM (private_key_jwt)' };
const MTLS_CREDENTIAL = { id: 'e2eCertMtlsCred1', name: 'SAP-style LLM (tls_client_auth)' };

let pki: TestPki;
let sandbox: SandboxServer;
let n8n: N8nInstance;
let encryptedKey: string;

const keyBody = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, '');

function explain(result: ExecuteResult): string {
	return `exit ${result.exitCode}; error ${JSON.stringify(result.error)?.slice(0, 2000)}\n${(result.stdout + result.stderr).slice(-4000)}`;
}

function tokenRequestsOf(clientId: string) {
	return sandbox.state.requests().filter((request) => request.kind === 'token' && request.clientId === clientId);
}

describe('certificate-based client authentication in a real n8n 2.41', () => {
	before(
		async () => {
			pki = await createTestPki();
			encryptedKey = encryptedPem(pki.rsaClient, PASSPHRASE);
			sandbox = await startSandboxServer({
				tls: { keyPem: pki.server.keyPem, certPem: pki.server.certPem, caPem: pki.caPem },
				clients: {
					entra: {
						id: 'e2e-entra-app',
						secret: '',
						authMethod: 'private_key_jwt',
						signingAlg: 'PS256',
						jwks: { keys: [pki.rsaClient.publicJwk] },
						expectX5tS256: pki.rsaClient.x5tS256,
					},
					sap: { id: 'sb-e2e!b1|aicore!b540', secret: '', authMethod: 'tls_client_auth', subjectDn: pki.ecClient.subject },
				},
			});
			n8n = await N8nInstance.create({});
			await n8n.installCommunityPackage(REPO_ROOT);
			const common = { baseUrl: sandbox.info.baseUrl, tokenUrl: sandbox.info.tokenUrl, caCertificate: pki.caPem };
			await n8n.importCredentials([
				{
					...JWT_CREDENTIAL,
					type: CREDENTIAL_TYPE,
					data: {
						...common,
						clientId: 'e2e-entra-app',
						clientAuthentication: 'privateKeyJwt',
						privateKey: encryptedKey,
						privateKeyPassphrase: PASSPHRASE,
						certificate: pki.rsaClient.certPem,
						jwtAlgorithm: 'PS256',
					},
				},
				{
					...MTLS_CREDENTIAL,
					type: CREDENTIAL_TYPE,
					data: {
						...common,
						clientId: 'sb-e2e!b1|aicore!b540',
						clientAuthentication: 'tlsClientAuth',
						// As an SAP service key carries it: literal \n sequences.
						privateKey: pki.ecClient.keyPem.trim().replace(/\n/g, '\\n'),
						certificate: pki.ecClient.certPem,
						useClientCertificateForApi: true,
						headers: '{"AI-Resource-Group": "default"}',
					},
				},
			]);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await sandbox?.close();
	});

	for (const [label, credential, clientId] of [
		['private_key_jwt', JWT_CREDENTIAL, 'e2e-entra-app'],
		['tls_client_auth', MTLS_CREDENTIAL, 'sb-e2e!b1|aicore!b540'],
	] as const) {
		it(`n8n execute: Manual Trigger → 3 questions → OAuth2 LLM Chat through the ${label} credential`, { timeout: RUN_TIMEOUT_MS }, async () => {
			const id = await n8n.importWorkflow(
				manualExampleWorkflow({ id: `e2eCert${label.replace(/_/g, '')}`.slice(0, 16), credentialId: credential.id, credentialName: credential.name }),
			);
			const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
			assert.equal(result.status, 'success', explain(result));
			const items = result.runData?.[CHAT_NODE]?.[0]?.data?.main?.[0] as Array<{ json: { content: string } }>;
			assert.equal(items?.length, 3, explain(result));
			assert.match(items[0].json.content, /^Echo from sandbox-echo: What does the client credentials grant do\?/);

			const [token] = tokenRequestsOf(clientId);
			assert.equal(token?.status, 200, JSON.stringify(token));
			const form = token.body as Record<string, string>;
			if (label === 'private_key_jwt') {
				const header = JSON.parse(Buffer.from(form.client_assertion.split('.')[0], 'base64url').toString('utf8')) as Record<string, string>;
				assert.equal(header.alg, 'PS256');
				assert.equal(header['x5t#S256'], pki.rsaClient.x5tS256);
			} else {
				assert.equal(token.clientCertificate, pki.ecClient.subject);
				assert.deepEqual(Object.keys(form).sort(), ['client_id', 'grant_type']);
				const chats = sandbox.state.requests().filter((request) => request.kind === 'chat' && request.clientId === clientId);
				assert.equal(chats.length, 3);
				assert.ok(chats.every((chat) => chat.clientCertificate === pki.ecClient.subject), 'the LLM API got the client certificate');
			}
		});
	}

	it("n8n's HTTP Request node with the tls_client_auth credential: the private CA is trusted and the client certificate reaches the LLM API", { timeout: RUN_TIMEOUT_MS }, async () => {
		const question = 'Hello over mTLS from the HTTP Request node';
		const id = await n8n.importWorkflow({ id: 'e2eCertHttpReq01', ...httpRequestWorkflow(sandbox.info.baseUrl, question, MTLS_CREDENTIAL) });
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.status, 'success', explain(result));
		const item = result.runData?.['HTTP Request']?.[0]?.data?.main?.[0]?.[0];
		assert.equal(item?.json?.choices?.[0]?.message?.content, `Echo from sandbox-echo: ${question}`, explain(result));
		const chat = sandbox.state.requests().filter((request) => request.kind === 'chat').pop();
		assert.equal(chat?.clientCertificate, pki.ecClient.subject, 'the HTTP Request node presented the client certificate');
	});

	it("the credential dialog's Test (REST API) for both stored credentials: OK; an unsaved one with an unknown key: Error naming Private Key", { timeout: RUN_TIMEOUT_MS }, async () => {
		await n8n.start({ timeoutMs: 150_000 });
		await n8n.setupOwner();
		for (const credential of [JWT_CREDENTIAL, MTLS_CREDENTIAL]) {
			const result = await n8n.testCredential({ id: credential.id, type: CREDENTIAL_TYPE });
			assert.equal(result.status, 'OK', `${credential.name}: ${result.message}`);
			assert.match(result.message, /Connection successful/);
		}
		const bad = await n8n.testCredential({
			name: 'Unsaved certificate credential',
			type: CREDENTIAL_TYPE,
			data: {
				baseUrl: sandbox.info.baseUrl,
				tokenUrl: sandbox.info.tokenUrl,
				caCertificate: pki.caPem,
				clientId: 'e2e-entra-app',
				clientAuthentication: 'privateKeyJwt',
				privateKey: pki.strayKeyPem,
				jwtAlgorithm: 'PS256',
			},
		});
		assert.equal(bad.status, 'Error', bad.message);
		assert.match(bad.message, /invalid_client.*Private Key/);
		assert.equal(JSON.stringify(bad.body).includes(keyBody(pki.strayKeyPem).slice(0, 40)), false, 'the answer shows the key');
	});

	it('no private key, passphrase, assertion or access token in any stored execution or in anything n8n printed', { timeout: RUN_TIMEOUT_MS }, async () => {
		const stored = await n8n.exportExecutions();
		assert.match(stored, /===== execution \d+ /);
		const recorded = sandbox.state.requests();
		const assertions = recorded.flatMap((request) => {
			const value = (request.body as Record<string, unknown> | undefined)?.client_assertion;
			return typeof value === 'string' ? [value, value.split('.')[2]] : [];
		});
		const accessTokens = recorded.flatMap((request) => {
			const bearer = String(request.headers.authorization ?? '');
			return bearer.startsWith('Bearer ') ? [bearer.slice(7)] : [];
		});
		assert.ok(assertions.length >= 2 && accessTokens.length >= 6, `collected ${assertions.length} assertions, ${accessTokens.length} tokens`);
		// From the middle of each key: the first bytes of a PKCS#8 body are the same ASN.1 header for every key.
		const middle = (pem: string) => keyBody(pem).slice(100, 148);
		const secrets = [
			PASSPHRASE,
			middle(pki.rsaClient.keyPem),
			middle(encryptedKey),
			middle(pki.ecClient.keyPem),
			middle(pki.strayKeyPem),
			...assertions,
			...accessTokens,
		];
		for (const [where, text] of [['stored executions', stored], ["n8n's logs", n8n.logs()]] as const) {
			for (const secret of secrets) assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 8)}…) appears in ${where}`);
		}
	});
});
