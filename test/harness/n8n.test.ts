/**
 * Smoke test of the real-n8n harness, with stock n8n nodes and a tiny fixture package of its own
 * (this package's nodes are not needed here). First run installs n8n 2.41.1 (~5 min).
 *   node --import tsx --test test/harness/n8n.test.ts
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ensureN8n, N8N_VERSION, N8nInstance, stagePackage, type N8nInstall } from './n8n';

const INSTALL_TIMEOUT_MS = 20 * 60_000;

function manualToSetWorkflow(value: string) {
	return {
		name: 'harness smoke: manual → set',
		nodes: [
			{
				id: '5b0c3f8e-0000-4000-8000-000000000001',
				name: 'Manual',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
			{
				id: '5b0c3f8e-0000-4000-8000-000000000002',
				name: 'Set',
				type: 'n8n-nodes-base.set',
				typeVersion: 3.4,
				position: [220, 0],
				parameters: {
					assignments: {
						assignments: [
							{ id: 'a1', name: 'greeting', type: 'string', value: `={{ '${value} ' + (1 + 2) }}` },
						],
					},
					options: {},
				},
			},
		],
		connections: { Manual: { main: [[{ node: 'Set', type: 'main', index: 0 }]] } },
		settings: {},
	};
}

describe('n8n harness: stock nodes, empty extensions folder', () => {
	let install: N8nInstall;
	let extensionsDir: string;
	let n8n: N8nInstance;

	before(
		async () => {
			install = await ensureN8n();
			extensionsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'n8n-harness-ext-'));
			n8n = await N8nInstance.create({ extensionsDir });
		},
		{ timeout: INSTALL_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		if (extensionsDir) await fs.rm(extensionsDir, { recursive: true, force: true });
	});

	it('ensureN8n gives n8n 2.41.1 on Node >= 24, and a second call is free', async () => {
		assert.equal(install.version, N8N_VERSION);
		const started = Date.now();
		const again = await ensureN8n();
		assert.deepEqual(again, install);
		assert.ok(Date.now() - started < 1000);
	});

	it('imports and executes Manual Trigger → Set, and the execution is stored', { timeout: 120_000 }, async () => {
		const id = await n8n.importWorkflow(manualToSetWorkflow('hello-harness'));
		assert.match(id, /^[A-Za-z0-9]{16}$/);

		const run = await n8n.execute(id);
		assert.equal(run.exitCode, 0, n8n.logs().slice(-3000));
		assert.equal(run.status, 'success');
		const items = run.runData.Set[0].data.main[0];
		assert.deepEqual(
			items.map((item: { json: unknown }) => item.json),
			[{ greeting: 'hello-harness 3' }],
		);

		const stored = await n8n.exportExecutions();
		assert.match(stored, /===== execution \d+ /);
		assert.ok(stored.includes('hello-harness 3'), 'the run data is in the exported executions');
	});

	it('reports a failed run with exit code 1 and the error', { timeout: 120_000 }, async () => {
		const id = await n8n.importWorkflow({
			name: 'harness smoke: stop and error',
			nodes: [
				{ id: 'n1', name: 'Manual', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
				{
					id: 'n2',
					name: 'Fail',
					type: 'n8n-nodes-base.stopAndError',
					typeVersion: 1,
					position: [220, 0],
					parameters: { errorMessage: 'harness says no' },
				},
			],
			connections: { Manual: { main: [[{ node: 'Fail', type: 'main', index: 0 }]] } },
		});
		const run = await n8n.execute(id);
		assert.equal(run.exitCode, 1);
		assert.equal(run.status, 'error');
		assert.equal(run.error?.message, 'harness says no');
	});

	it('publishes with the CLI, starts, sets up the owner and calls the REST API', { timeout: 180_000 }, async () => {
		const scheduled = await n8n.importWorkflow({
			name: 'harness smoke: hourly schedule',
			nodes: [
				{
					id: 's1',
					name: 'Schedule',
					type: 'n8n-nodes-base.scheduleTrigger',
					typeVersion: 1.2,
					position: [0, 0],
					parameters: { rule: { interval: [{ field: 'hours', hoursInterval: 1 }] } },
				},
			],
			connections: {},
		});
		await n8n.publishWorkflow(scheduled);

		await n8n.start();
		const owner = await n8n.setupOwner();
		assert.equal(owner.email, 'owner@example.com');

		const list = await n8n.rest('GET', '/rest/workflows');
		assert.equal(list.status, 200);
		const byId = new Map(list.data.map((wf: { id: string; active: boolean }) => [wf.id, wf]));
		assert.equal(byId.size, 3);
		assert.equal((byId.get(scheduled) as { active: boolean }).active, true, 'publish:workflow activated it');

		const untested = await n8n.testCredential({ type: 'httpHeaderAuth', data: { name: 'X-Key', value: 'v' } });
		assert.equal(untested.httpStatus, 200);
		assert.equal(untested.status, 'Error');
		assert.match(untested.message, /No testing function/);

		// A second login with the same browser-id still works; without a cookie the API refuses.
		await n8n.login();
		assert.equal((await n8n.rest('GET', '/rest/workflows')).status, 200);

		// The database can be read while the server holds it.
		assert.ok((await n8n.exportExecutions()).includes('harness says no'));

		await n8n.stop();
		assert.equal(n8n.running, false);
		assert.match(n8n.logs(), /Editor is now accessible/);
		// Nothing tried to reach the internet (api.n8n.io for MCP registry, versions, templates, …).
		assert.doesNotMatch(n8n.logs(), /ENOTFOUND|EAI_AGAIN|api\.n8n\.io/);
	});
});

describe('n8n harness: a staged custom package', () => {
	let repoRoot: string;
	let stageDir: string;
	let n8n: N8nInstance | undefined;
	let pingServer: http.Server;
	let pingPort: number;
	const pings: string[] = [];

	before(async () => {
		// A minimal community-node package, built already (plain CommonJS in dist/).
		repoRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'n8n-harness-fixture-'));
		stageDir = await fs.mkdtemp(path.join(os.tmpdir(), 'n8n-harness-stage-'));
		await fs.mkdir(path.join(repoRoot, 'dist', 'nodes', 'HarnessEcho'), { recursive: true });
		await fs.mkdir(path.join(repoRoot, 'dist', 'credentials'), { recursive: true });
		await fs.writeFile(
			path.join(repoRoot, 'package.json'),
			JSON.stringify({
				name: 'n8n-nodes-harness-fixture',
				version: '0.0.1',
				n8n: {
					n8nNodesApiVersion: 1,
					nodes: ['dist/nodes/HarnessEcho/HarnessEcho.node.js'],
					credentials: ['dist/credentials/HarnessEchoApi.credentials.js'],
				},
				peerDependencies: { 'n8n-workflow': '*' },
				dependencies: {},
			}),
		);
		await fs.writeFile(
			path.join(repoRoot, 'dist', 'nodes', 'HarnessEcho', 'HarnessEcho.node.js'),
			`"use strict";
const { NodeOperationError } = require('n8n-workflow');
class HarnessEcho {
  constructor() {
    this.description = {
      displayName: 'Harness Echo', name: 'harnessEcho', group: ['transform'], version: 1,
      description: 'test fixture', defaults: { name: 'Harness Echo' },
      inputs: ['main'], outputs: ['main'], properties: [],
    };
  }
  async execute() {
    return [this.getInputData().map((item, i) => ({
      json: { echoed: true, workflowFrom: require.resolve('n8n-workflow'), hasNodeOperationError: typeof NodeOperationError === 'function' },
      pairedItem: { item: i },
    }))];
  }
}
module.exports = { HarnessEcho };
`,
		);
		await fs.writeFile(
			path.join(repoRoot, 'dist', 'credentials', 'HarnessEchoApi.credentials.js'),
			`"use strict";
class HarnessEchoApi {
  constructor() {
    this.name = 'harnessEchoApi';
    this.displayName = 'Harness Echo API';
    this.properties = [
      { displayName: 'URL', name: 'url', type: 'string', default: '' },
      { displayName: 'Token', name: 'token', type: 'string', typeOptions: { password: true }, default: '' },
    ];
    this.test = { request: { baseURL: '={{$credentials.url}}', url: '/ping', headers: { 'x-token': '={{$credentials.token}}' } } };
  }
}
module.exports = { HarnessEchoApi };
`,
		);
		pingServer = http.createServer((req, res) => {
			pings.push(`${req.url} ${req.headers['x-token']}`);
			res.setHeader('content-type', 'application/json');
			res.end('{"ok":true}');
		});
		await new Promise<void>((resolve) => pingServer.listen(0, '127.0.0.1', resolve));
		pingPort = (pingServer.address() as AddressInfo).port;
	});

	after(async () => {
		await n8n?.dispose();
		await new Promise((resolve) => pingServer?.close(resolve));
		for (const dir of [repoRoot, stageDir]) if (dir) await fs.rm(dir, { recursive: true, force: true });
	});

	it('stagePackage refuses a package that is not built', async () => {
		const unbuilt = await fs.mkdtemp(path.join(os.tmpdir(), 'n8n-harness-unbuilt-'));
		try {
			await fs.writeFile(path.join(unbuilt, 'package.json'), JSON.stringify({ name: 'x', dependencies: {} }));
			await assert.rejects(stagePackage({ repoRoot: unbuilt, destDir: stageDir }), /npm run build/);
		} finally {
			await fs.rm(unbuilt, { recursive: true, force: true });
		}
	});

	it('loads the custom node as CUSTOM.<name> with n8n\'s own n8n-workflow', { timeout: INSTALL_TIMEOUT_MS }, async () => {
		const extensionsDir = await stagePackage({ repoRoot, destDir: stageDir });
		assert.equal(extensionsDir, path.join(stageDir, 'n8n-nodes-harness-fixture'));
		n8n = await N8nInstance.create({ extensionsDir });
		const id = await n8n.importWorkflow({
			name: 'harness smoke: custom node',
			nodes: [
				{ id: 'c1', name: 'Manual', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
				{ id: 'c2', name: 'Echo', type: 'CUSTOM.harnessEcho', typeVersion: 1, position: [220, 0], parameters: {} },
			],
			connections: { Manual: { main: [[{ node: 'Echo', type: 'main', index: 0 }]] } },
		});
		const run = await n8n.execute(id);
		assert.equal(run.exitCode, 0, n8n.logs().slice(-3000));
		const [item] = run.runData.Echo[0].data.main[0];
		assert.equal(item.json.echoed, true);
		assert.equal(item.json.hasNodeOperationError, true);
		assert.ok(
			item.json.workflowFrom.startsWith(n8n.install.cacheDir),
			`n8n-workflow came from ${item.json.workflowFrom}, not from n8n's install`,
		);
	});

	it('tests a custom credential through POST /rest/credentials/test', { timeout: 180_000 }, async () => {
		assert.ok(n8n, 'previous test created the instance');
		await n8n.importCredentials([
			{ id: 'harnessCred00001', name: 'Echo', type: 'harnessEchoApi', data: { url: `http://127.0.0.1:${pingPort}`, token: 'stored-secret' } },
		]);
		await n8n.start();
		await n8n.setupOwner();

		const ok = await n8n.testCredential({ id: 'harnessCred00001', type: 'harnessEchoApi' });
		assert.deepEqual([ok.httpStatus, ok.status], [200, 'OK'], JSON.stringify(ok.body));
		// The editor sends the secret blanked; n8n puts the stored one back before testing.
		assert.deepEqual(pings, ['/ping stored-secret']);

		const refused = await n8n.testCredential({ type: 'harnessEchoApi', data: { url: 'http://127.0.0.1:1' } });
		assert.equal(refused.status, 'Error');

		const unknown = await n8n.testCredential({ id: 'doesNotExist0000', type: 'harnessEchoApi', data: { url: 'x' } });
		assert.equal(unknown.httpStatus, 403);

		const stored = await n8n.exportCredentials();
		assert.deepEqual(stored.find((c) => c.id === 'harnessCred00001')?.data, {
			url: `http://127.0.0.1:${pingPort}`,
			token: 'stored-secret',
		});
	});
});
