/**
 * The install path users take (issue 14), in a REAL n8n 2.41: the package is `npm pack`ed, published to
 * a real npm registry (verdaccio on 127.0.0.1, test/harness/registry.ts), and installed through the
 * REST calls n8n's Settings → Community Nodes page makes (POST / PATCH / DELETE /rest/community-packages).
 * n8n's installer asks registry.npmjs.org only (a custom registry is a licensed feature), so the
 * registry is reached through an HTTPS proxy that stands in for registry.npmjs.org, as a corporate
 * proxy with its own CA would.
 *
 *   npm run build && node --import tsx --test test/e2e/registry-install.e2e.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { N8nInstance, type N8nWorker } from '../harness/n8n';
import { queueModeEnv, startPostgres, startRedis, type Postgres, type Service } from '../harness/services';
import { pack, repackWithVersion, startLocalRegistry, type LocalRegistry } from '../harness/registry';
import { createTestPki } from '../helpers/pki';
import { startSandbox, type Sandbox } from '../sandbox/sandbox';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 300_000;
const PACKAGE = 'n8n-nodes-oauth2-llm';
const NODE_TYPES = ['oAuth2LlmChat', 'oAuth2LlmChatModel', 'oAuth2LlmEmbeddings'].map((name) => `${PACKAGE}.${name}`);
const VERSION = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NEXT_VERSION = `${VERSION.split('.').slice(0, 2).join('.')}.${Number(VERSION.split('.')[2]) + 1}`;

let registry: LocalRegistry;
let sandbox: Sandbox;
let n8n: N8nInstance;
let workDir: string;
let tarball: string;
let workflowId: string;

async function postJson(urlPath: string, body: unknown): Promise<{ status: number; json: any }> {
	for (let attempt = 0; ; attempt++) {
		const response = await fetch(`http://127.0.0.1:${n8n.port}${urlPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
		const text = await response.text();
		// n8n answers the activation before its webhook is registered: a 404 "is not registered" runs nothing.
		if (response.status === 404 && text.includes('is not registered') && attempt < 60) {
			await new Promise((resolve) => setTimeout(resolve, 250));
			continue;
		}
		try {
			return { status: response.status, json: text ? JSON.parse(text) : undefined };
		} catch {
			throw new Error(`HTTP ${response.status} from ${urlPath}, not JSON: ${text.slice(0, 500)}`);
		}
	}
}

async function nodeTypes(): Promise<string[]> {
	const answer = await n8n.rest('GET', '/types/nodes.json');
	return (answer.body as Array<{ name: string }>).map((type) => type.name);
}

/** What n8n needs to reach "registry.npmjs.org" through the test's proxy (see test/harness/registry.ts). */
function registryEnv(cacheName: string): Record<string, string> {
	// Two files: npm refuses one file as both its user and its global config.
	const [userConfig, globalConfig] = ['user.npmrc', 'global.npmrc'].map((name) => path.join(workDir, name));
	for (const file of [userConfig, globalConfig]) writeFileSync(file, '');
	return {
		// Both spellings: proxy-from-env (n8n) reads the lower-case one first, npm takes whichever comes last.
		HTTPS_PROXY: registry.proxyUrl,
		HTTP_PROXY: registry.proxyUrl,
		NO_PROXY: '127.0.0.1,localhost',
		https_proxy: registry.proxyUrl,
		http_proxy: registry.proxyUrl,
		no_proxy: '127.0.0.1,localhost',
		npm_config_https_proxy: registry.proxyUrl,
		npm_config_proxy: registry.proxyUrl,
		NODE_EXTRA_CA_CERTS: registry.caFile,
		// npm's trusted CAs become the test CA alone: it cannot reach the real npmjs.org past the proxy.
		npm_config_cafile: registry.caFile,
		npm_config_cache: path.join(workDir, cacheName),
		// Not the developer's ~/.npmrc (a registry token there would go to the test's registry).
		npm_config_userconfig: userConfig,
		npm_config_globalconfig: globalConfig,
	};
}

/** Whether the package's manifest for `version` and its tarball went through the proxy since `from`. */
function fetchedThroughProxy(version: string, from: number): boolean {
	const seen = registry.decrypted.slice(from).map((entry) => entry.path);
	return seen.some((entry) => entry.startsWith(`/${PACKAGE}`)) && seen.some((entry) => entry.endsWith(`/${PACKAGE}-${version}.tgz`));
}

before(
	async () => {
		workDir = mkdtempSync(path.join(os.tmpdir(), 'registry-install-'));
		const pki = await createTestPki();
		registry = await startLocalRegistry({ caPem: pki.caPem, registryIdentity: pki.npmRegistry });
		tarball = await pack(REPO_ROOT, workDir);
		await registry.publish(tarball);
		sandbox = await startSandbox();
	},
	{ timeout: SETUP_TIMEOUT_MS },
);

after(async () => {
	await sandbox?.stop();
	await registry?.close();
	if (workDir) rmSync(workDir, { recursive: true, force: true });
});

function chatWorkflow(webhookPath: string, credential: { id: string; name: string }) {
	return {
		name: `installed package (${webhookPath})`,
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{ id: 'a0000000-0000-4000-8000-000000000001', name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [0, 0], webhookId: webhookPath, parameters: { httpMethod: 'POST', path: webhookPath, responseMode: 'lastNode', options: {} } },
			{
				id: 'a0000000-0000-4000-8000-000000000002',
				name: 'OAuth2 LLM Chat',
				type: `${PACKAGE}.oAuth2LlmChat`,
				typeVersion: 1,
				position: [300, 0],
				parameters: { model: { __rl: true, mode: 'id', value: 'sandbox-echo' }, messages: { values: [{ role: 'user', content: '={{ $json.body.question }}' }] }, options: {} },
				credentials: { llmProviderOAuth2Api: credential },
			},
		],
		connections: { Webhook: { main: [[{ node: 'OAuth2 LLM Chat', type: 'main', index: 0 }]] } },
	};
}

async function createSandboxCredential(name: string): Promise<{ id: string; name: string }> {
	const credential = await n8n.rest('POST', '/rest/credentials', {
		name,
		type: 'llmProviderOAuth2Api',
		data: { baseUrl: sandbox.baseUrl, tokenUrl: sandbox.tokenUrl, clientId: sandbox.clients.post.id, clientSecret: sandbox.clients.post.secret, clientAuthentication: 'body' },
	});
	assert.equal(credential.status, 200, JSON.stringify(credential.body).slice(0, 800));
	return { id: credential.data.id, name: credential.data.name };
}

describe("n8n's Community Nodes installer, from a real npm registry, in a real n8n 2.41", () => {
	before(
		async () => {
			n8n = await N8nInstance.create({ env: registryEnv('npm-cache-main') });
			await n8n.start({ timeoutMs: 150_000 });
			await n8n.setupOwner();
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => await n8n?.dispose());

	it('POST /rest/community-packages installs the published version: its nodes and the credential appear, runtime dependencies come along, peer dependencies do not', { timeout: RUN_TIMEOUT_MS }, async () => {
		const from = registry.decrypted.length;
		const installed = await n8n.rest('POST', '/rest/community-packages', { name: PACKAGE });
		assert.equal(installed.status, 200, JSON.stringify(installed.body).slice(0, 1500));
		assert.equal(installed.data.packageName, PACKAGE);
		assert.equal(installed.data.installedVersion, VERSION);
		const installedNodes = (installed.data.installedNodes as Array<{ type: string }>).map((entry) => entry.type).sort();
		assert.deepEqual(installedNodes, [...NODE_TYPES].sort());
		assert.ok(fetchedThroughProxy(VERSION, from), `manifest and tarball through the proxy: ${JSON.stringify(registry.decrypted.slice(from))}`);
		const refused = [...new Set(registry.proxied.filter((entry) => !entry.allowed).map((entry) => entry.host))];
		assert.ok(refused.every((host) => /api\.n8n\.io/.test(host)), `only n8n's vetting service was refused: ${refused.join(', ')}`);

		const types = await nodeTypes();
		for (const type of NODE_TYPES) assert.ok(types.includes(type), `${type} is listed`);
		const credentials = await n8n.rest('GET', '/types/credentials.json');
		assert.ok((credentials.body as Array<{ name: string }>).some((type) => type.name === 'llmProviderOAuth2Api'));

		const packageDir = path.join(n8n.userFolder, '.n8n', 'nodes', 'node_modules', PACKAGE);
		const manifest = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as Record<string, unknown>;
		// npm would not install them anyway (both are optional); what n8n does is strip them from the manifest.
		assert.equal(manifest.peerDependencies, undefined, 'n8n strips peer dependencies before npm install');
		for (const dependency of ['axios', 'zod', 'async-mutex']) assert.ok(existsSync(path.join(packageDir, 'node_modules', dependency, 'package.json')), `${dependency} installed`);
		for (const peer of ['n8n-workflow', '@n8n/ai-node-sdk']) assert.equal(existsSync(path.join(packageDir, 'node_modules', peer)), false, `${peer} not installed: n8n's own copy is used`);
	});

	it('a workflow with the installed OAuth2 LLM Chat node runs (Webhook → chat node, a credential created through the REST API)', { timeout: RUN_TIMEOUT_MS }, async () => {
		const credential = await createSandboxCredential('Sandbox (installed from the registry)');
		const created = await n8n.rest('POST', '/rest/workflows', chatWorkflow('installed-chat', credential));
		assert.equal(created.status, 200, JSON.stringify(created.body).slice(0, 800));
		workflowId = created.data.id;
		await n8n.activateWorkflow(workflowId);
		const answer = await postJson('/webhook/installed-chat', { question: 'Installed from a registry?' });
		assert.equal(answer.status, 200, JSON.stringify(answer.json));
		assert.equal(answer.json.content, 'Echo from sandbox-echo: Installed from a registry?');
	});

	it(`PATCH /rest/community-packages updates to ${NEXT_VERSION} once it is published, and the workflow still runs`, { timeout: RUN_TIMEOUT_MS }, async () => {
		await registry.publish(await repackWithVersion(tarball, NEXT_VERSION, workDir));
		const from = registry.decrypted.length;
		const updated = await n8n.rest('PATCH', '/rest/community-packages', { name: PACKAGE, version: NEXT_VERSION });
		assert.equal(updated.status, 200, JSON.stringify(updated.body).slice(0, 1500));
		assert.equal(updated.data.installedVersion, NEXT_VERSION);
		assert.ok(fetchedThroughProxy(NEXT_VERSION, from), 'the new tarball came from the registry');
		const nodesDir = path.join(n8n.userFolder, '.n8n', 'nodes');
		assert.equal((JSON.parse(readFileSync(path.join(nodesDir, 'node_modules', PACKAGE, 'package.json'), 'utf8')) as { version: string }).version, NEXT_VERSION);
		assert.deepEqual(readdirSync(path.join(nodesDir, 'node_modules')).filter((entry) => entry.includes('backup')), [], 'no backup folder left');
		const listed = await n8n.rest('GET', '/rest/community-packages');
		assert.equal((listed.data as Array<{ packageName: string; installedVersion: string }>).find((entry) => entry.packageName === PACKAGE)?.installedVersion, NEXT_VERSION);
		const answer = await postJson('/webhook/installed-chat', { question: 'Still there after the update?' });
		assert.equal(answer.json?.content, 'Echo from sandbox-echo: Still there after the update?');
	});

	it('DELETE /rest/community-packages uninstalls it: the nodes are gone and the package folder with them', { timeout: RUN_TIMEOUT_MS }, async () => {
		const deactivated = await n8n.rest('POST', `/rest/workflows/${workflowId}/deactivate`, {});
		assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body).slice(0, 500));
		const removed = await n8n.rest('DELETE', `/rest/community-packages?name=${PACKAGE}`);
		assert.equal(removed.status, 200, JSON.stringify(removed.body).slice(0, 1500));
		const listed = await n8n.rest('GET', '/rest/community-packages');
		assert.equal((listed.data as Array<{ packageName: string }>).some((entry) => entry.packageName === PACKAGE), false);
		const types = await nodeTypes();
		for (const type of NODE_TYPES) assert.equal(types.includes(type), false, `${type} is gone`);
		assert.equal(existsSync(path.join(n8n.userFolder, '.n8n', 'nodes', 'node_modules', PACKAGE)), false);
		const nodesManifest = JSON.parse(readFileSync(path.join(n8n.userFolder, '.n8n', 'nodes', 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
		assert.equal(nodesManifest.dependencies?.[PACKAGE], undefined, 'nodes/package.json no longer lists it');
		assert.ok(!n8n.logs().includes(sandbox.clients.post.secret), "the client secret is in n8n's logs");
	});
});

describe('queue mode: main installs from the registry and tells the worker, which installs it too and runs the workflow', () => {
	let redis: Service;
	let postgres: Postgres;
	let worker: N8nWorker;
	let workerFolder: string;

	before(
		async () => {
			redis = await startRedis();
			postgres = await startPostgres();
			n8n = await N8nInstance.create({ env: { ...queueModeEnv(redis, postgres), ...registryEnv('npm-cache-queue-main') } });
			await n8n.start({ timeoutMs: 150_000 });
			await n8n.setupOwner();
			// The worker has a folder of its own, as on another machine: it gets the package only from the registry.
			workerFolder = mkdtempSync(path.join(workDir, 'worker-'));
			worker = await n8n.startWorker('w1', { env: { N8N_USER_FOLDER: workerFolder, ...registryEnv('npm-cache-worker') } });
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await redis?.stop();
		await postgres?.stop();
	});

	it('POST /rest/community-packages on main; the worker installs the same version into its own folder and runs the workflow', { timeout: RUN_TIMEOUT_MS }, async () => {
		const from = registry.decrypted.length;
		const installed = await n8n.rest('POST', '/rest/community-packages', { name: PACKAGE });
		assert.equal(installed.status, 200, JSON.stringify(installed.body).slice(0, 1500));
		const version = installed.data.installedVersion as string;
		const workerManifest = path.join(workerFolder, '.n8n', 'nodes', 'node_modules', PACKAGE, 'package.json');
		for (let waited = 0; !existsSync(workerManifest) || !/Community package installed/.test(worker.logs()); waited += 250) {
			assert.ok(waited < 120_000, `the worker did not install the package:\n${worker.logs().slice(-3000)}`);
			await new Promise((resolve) => setTimeout(resolve, 250));
		}
		assert.equal((JSON.parse(readFileSync(workerManifest, 'utf8')) as { version: string }).version, version);
		// Main and the worker each fetched the tarball: two downloads of it through the proxy.
		const tarballs = registry.decrypted.slice(from).filter((entry) => entry.path.endsWith(`/${PACKAGE}-${version}.tgz`));
		assert.ok(tarballs.length >= 2, `the tarball was fetched ${tarballs.length} time(s)`);

		const credential = await createSandboxCredential('Sandbox (queue mode)');
		const created = await n8n.rest('POST', '/rest/workflows', chatWorkflow('queue-installed-chat', credential));
		assert.equal(created.status, 200, JSON.stringify(created.body).slice(0, 800));
		await n8n.activateWorkflow(created.data.id);
		const answer = await postJson('/webhook/queue-installed-chat', { question: 'Run by the worker?' });
		assert.equal(answer.json?.content, 'Echo from sandbox-echo: Run by the worker?', JSON.stringify(answer.json));
		assert.match(worker.logs(), /Worker started execution \d+/, 'the worker ran it');
		assert.ok(!n8n.logs().includes(sandbox.clients.post.secret), "the client secret is in n8n's or the worker's logs");
	});
});
