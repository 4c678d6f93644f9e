/**
 * The import CLI and certificates (issue 12): SAP AI Core service keys (x509 and secret) and the new
 * snake_case keys of litellm_config.json. The x509 service key's credential then really gets a token
 * from oidc-provider over mTLS, and the CLI run as a process prints no key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { configToCredentials, maskCredential, SECRET_MASK } from '../../cli/litellm-config';
import { serviceKeyOf, serviceKeyToCredentials } from '../../cli/sap-service-key';
import { parseProviderConfig, type ProviderFieldsInput } from '../../nodes/shared/config/provider-config';
import { requestToken } from '../../nodes/shared/auth/token-client';
import { createTestPki, type TestPki } from '../helpers/pki';
import { startSandboxServer, type SandboxServer } from '../sandbox/server';
import { runNode } from './run-cli';

const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'cli', 'import-config.ts');
const TSX = pathToFileURL(require.resolve('tsx')).href;
const XSUAA_ID = 'sb-abc!b1|aicore!b540';
const XSUAA_SECRET = 'xsuaa-binding-secret-7f3e';

let pki: TestPki;
let sandbox: SandboxServer;
let dir: string;

before(async () => {
	pki = await createTestPki();
	sandbox = await startSandboxServer({
		tls: { keyPem: pki.server.keyPem, certPem: pki.server.certPem, caPem: pki.caPem },
		clients: { sap: { id: XSUAA_ID, secret: '', authMethod: 'tls_client_auth', subjectDn: pki.rsaClient.subject } },
	});
	dir = mkdtempSync(path.join(os.tmpdir(), 'cert-import-'));
});
after(async () => {
	await sandbox?.close();
	if (dir) rmSync(dir, { recursive: true, force: true });
});

/** As BTP shows an x509 service key: PEM with literal \n, certurl beside url. */
function x509ServiceKey(): Record<string, unknown> {
	const escape = (pem: string) => pem.trim().replace(/\n/g, '\\n');
	return {
		clientid: XSUAA_ID,
		'credential-type': 'x509',
		certificate: escape(pki.rsaClient.certPem),
		key: escape(pki.rsaClient.keyPem),
		certurl: sandbox.info.origin,
		url: 'https://tenant.authentication.eu10.hana.ondemand.com',
		identityzone: 'tenant',
		serviceurls: { AI_API_URL: 'https://api.ai.prod.eu-central-1.aws.ml.hana.ondemand.com' },
	};
}

const keyBody = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, '');

describe('SAP AI Core service keys', () => {
	it('x509: a TLS Client Certificate credential on certurl that really gets a token', async () => {
		const result = serviceKeyToCredentials(x509ServiceKey(), { deployment: 'd1a2b3', apiVersion: '2024-02-01' });
		assert.deepEqual(result.issues, []);
		const [credential] = result.credentials;
		assert.equal(credential.name, 'SAP AI Core tenant');
		assert.equal(credential.data.tokenUrl, `${sandbox.info.origin}/oauth/token`);
		assert.equal(credential.data.baseUrl, 'https://api.ai.prod.eu-central-1.aws.ml.hana.ondemand.com/v2/inference/deployments/d1a2b3?api-version=2024-02-01');
		assert.equal(credential.data.clientAuthentication, 'tlsClientAuth');
		assert.equal(credential.data.headers, '{"AI-Resource-Group":"default"}');
		assert.equal(credential.data.clientSecret, '');

		const config = parseProviderConfig({ ...(credential.data as unknown as ProviderFieldsInput), caCertificate: pki.caPem }, credential.name);
		const token = await requestToken(config.tokenEndpoint, { providerName: credential.name, wallNowMs: () => Date.now() });
		assert.ok(token.accessToken);
		const recorded = sandbox.state.requests().filter((request) => request.kind === 'token').pop();
		assert.equal(recorded?.clientCertificate, pki.rsaClient.subject);
	});

	it('a secret key: HTTP Basic with raw encoding on url; a resource group and a name', () => {
		const key = { clientid: XSUAA_ID, clientsecret: XSUAA_SECRET, url: 'https://tenant.authentication.eu10.hana.ondemand.com/', serviceurls: { AI_API_URL: 'https://api.ai.example.com/' } };
		const { credentials, issues, notes } = serviceKeyToCredentials(key, { deployment: 'd9', resourceGroup: 'team-a', name: 'AI Core EU' });
		assert.deepEqual(issues, []);
		assert.equal(credentials[0].name, 'AI Core EU');
		assert.equal(credentials[0].data.tokenUrl, 'https://tenant.authentication.eu10.hana.ondemand.com/oauth/token');
		assert.equal(credentials[0].data.baseUrl, 'https://api.ai.example.com/v2/inference/deployments/d9');
		assert.equal(credentials[0].data.clientAuthentication, 'header');
		assert.equal(credentials[0].data.basicAuthEncoding, 'raw');
		assert.equal(credentials[0].data.headers, '{"AI-Resource-Group":"team-a"}');
		assert.match(notes.join(' '), /x509/);
	});

	it('reads the {"credentials": {…}} wrapper; names what is missing, and never quotes a value', () => {
		assert.ok(serviceKeyOf({ credentials: x509ServiceKey() }));
		assert.equal(serviceKeyOf({ oauth2_providers: {} }), undefined);
		const broken = { ...x509ServiceKey(), key: undefined, serviceurls: {} };
		const { issues } = serviceKeyToCredentials(broken, {});
		const text = JSON.stringify(issues);
		assert.match(text, /"path":"key","message":"is missing/);
		assert.match(text, /serviceurls.AI_API_URL/);
		assert.match(text, /--deployment.*is required/);
		const mismatched = serviceKeyToCredentials({ ...x509ServiceKey(), key: pki.ecClient.keyPem }, { deployment: 'd1' });
		assert.match(JSON.stringify(mismatched.issues), /"path":"certificate","message":"does not belong to the Private Key/);
		assert.equal(JSON.stringify(mismatched).includes(keyBody(pki.ecClient.keyPem).slice(0, 30)), false);
	});

	it('the CLI as a process: --dry-run masks the key, a file holds it for n8n import:credentials', async () => {
		const file = path.join(dir, 'service-key.json');
		writeFileSync(file, JSON.stringify({ credentials: x509ServiceKey() }));
		const dry = await runNode(['--import', TSX, CLI, file, '--deployment', 'd1', '--dry-run'], { cwd: dir });
		assert.equal(dry.code, 0, dry.stderr);
		const shown = JSON.parse(dry.stdout) as Array<{ data: Record<string, unknown> }>;
		assert.equal(shown[0].data.privateKey, SECRET_MASK);
		assert.equal(shown[0].data.clientAuthentication, 'tlsClientAuth');
		const body = keyBody(pki.rsaClient.keyPem);
		for (const part of [body.slice(0, 40), body.slice(-40)]) assert.equal(`${dry.stdout}${dry.stderr}`.includes(part), false);

		const out = path.join(dir, 'creds.json');
		const run = await runNode(['--import', TSX, CLI, file, '--deployment', 'd1', '-o', out], { cwd: dir });
		assert.equal(run.code, 0, run.stderr);
		assert.match(run.stderr, /private keys\) in clear text/);
		assert.equal(`${run.stdout}${run.stderr}`.includes(body.slice(0, 40)), false);
		const written = JSON.parse(readFileSync(out, 'utf8')) as Array<{ data: Record<string, unknown> }>;
		assert.ok(String(written[0].data.privateKey).includes('BEGIN PRIVATE KEY'));

		const litellm = path.join(dir, 'litellm_config.json');
		writeFileSync(litellm, JSON.stringify({ oauth2_providers: { p: { client_id: 'c', client_secret: 's', token_url: 'https://a.example/t', base_url: 'https://b.example/v1' } } }));
		const stray = await runNode(['--import', TSX, CLI, litellm, '--deployment', 'd1', '--dry-run'], { cwd: dir });
		assert.equal(stray.code, 1);
		assert.match(stray.stderr, /--deployment: is only for an SAP AI Core service key/);
	});
});

describe('litellm_config.json: the certificate keys in snake_case', () => {
	it('private_key_jwt with os.environ/ key and certificate, jwt_* options and a CA', () => {
		const config = JSON.stringify({
			oauth2_providers: {
				entra: {
					client_id: 'app-id',
					token_url: 'https://login.microsoftonline.com/tenant/oauth2/v2.0/token',
					base_url: 'https://my-aoai.openai.azure.com/openai/v1',
					scope: 'https://cognitiveservices.azure.com/.default',
					client_authentication: 'private_key_jwt',
					private_key: 'os.environ/ENTRA_KEY',
					certificate: 'os.environ/ENTRA_CERT',
					jwt_algorithm: 'PS256',
					jwt_key_id: 'k1',
					ca_certificate: pki.caPem,
				},
			},
		});
		const result = configToCredentials(config, { ENTRA_KEY: pki.rsaClient.keyPem, ENTRA_CERT: pki.rsaClient.certPem });
		assert.deepEqual(result.issues, []);
		const { data } = result.credentials[0];
		assert.equal(data.clientAuthentication, 'privateKeyJwt');
		assert.equal(data.jwtAlgorithm, 'PS256');
		assert.equal(data.jwtKeyId, 'k1');
		assert.equal(data.privateKey, pki.rsaClient.keyPem);
		assert.equal(data.caCertificate, pki.caPem);
		assert.equal(data.clientSecret, '');
		assert.equal(maskCredential(result.credentials[0]).data.privateKey, SECRET_MASK);

		const kept = configToCredentials(config, { ENTRA_KEY: pki.rsaClient.keyPem, ENTRA_CERT: pki.rsaClient.certPem }, { keepEnvReferences: true });
		assert.equal(kept.credentials[0].data.privateKey, '={{ $env.ENTRA_KEY }}');
	});

	it('problems name the snake_case key: a key that is no key, an algorithm that does not fit', () => {
		const config = JSON.stringify({
			oauth2_providers: {
				okta: {
					client_id: 'c',
					token_url: 'https://example.okta.com/oauth2/default/v1/token',
					base_url: 'https://llm.example.com/v1',
					client_authentication: 'private_key_jwt',
					private_key: 'not a key at all',
					jwt_algorithm: 'ES999',
				},
			},
		});
		const { issues } = configToCredentials(config, {});
		const text = issues.map((issue) => `${issue.path}: ${issue.message}`).join('\n');
		assert.match(text, /oauth2_providers\.okta\.private_key: is not a PEM private key/);
		assert.match(text, /oauth2_providers\.okta\.jwt_algorithm: must be/);
		assert.equal(text.includes('not a key at all'), false);
	});
});
