/**
 * Issue 14: the README's install path before the package is on a registry, walked for real: `npm pack`,
 * then `npm install ./n8n-nodes-oauth2-llm-<version>.tgz` in the n8n user folder's `nodes` folder, with
 * npm's defaults; then a real n8n 2.41 loads it and runs a workflow through it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { manualExampleWorkflow, sandboxCredential } from '../../examples/workflows';
import { N8nInstance } from '../harness/n8n';
import { startSandbox, type Sandbox } from '../sandbox/sandbox';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

let sandbox: Sandbox;
let n8n: N8nInstance;
let tarball: string;

describe('installing the packed tarball into ~/.n8n/nodes with npm install', () => {
	before(
		async () => {
			sandbox = await startSandbox({});
			n8n = await N8nInstance.create({});
			tarball = await n8n.installTarball(REPO_ROOT);
		},
		{ timeout: 20 * 60_000 },
	);

	after(async () => {
		await n8n?.dispose();
		await sandbox?.stop();
	});

	it('npm installs the runtime dependencies and no second n8n-workflow (the peer dependencies are optional)', () => {
		const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
		assert.equal(path.basename(tarball), `n8n-nodes-oauth2-llm-${version}.tgz`);
		const modules = path.join(n8n.userFolder, '.n8n', 'nodes', 'node_modules');
		for (const dependency of ['n8n-nodes-oauth2-llm', 'axios', 'zod', 'async-mutex']) assert.ok(existsSync(path.join(modules, dependency)), `${dependency} installed`);
		for (const peer of ['n8n-workflow', 'n8n-core', '@n8n/ai-node-sdk']) assert.equal(existsSync(path.join(modules, peer)), false, `${peer} must not be installed next to n8n`);
	});

	it('n8n loads it and a workflow runs through the OAuth2 LLM Chat node', { timeout: 180_000 }, async () => {
		await n8n.importCredentials([sandboxCredential(sandbox)]);
		const id = await n8n.importWorkflow(manualExampleWorkflow({ id: 'installedTarball', questions: ['Installed from a tarball?'] }));
		const result = await n8n.execute(id, { timeoutMs: 180_000 });
		assert.equal(result.exitCode, 0, `${JSON.stringify(result.error)} ${result.stderr.slice(-2000)}`);
		const items = result.runData?.['OAuth2 LLM Chat']?.[0]?.data?.main?.[0] as Array<{ json: { content: string } }>;
		assert.equal(items?.[0]?.json.content, 'Echo from sandbox-echo: Installed from a tarball?');
	});
});
