/**
 * The README's main job, as a newcomer runs it: `npm start -- --headless`, through npm, on this
 * machine's Node 20 (it builds the package, then starts the sandbox provider and a real n8n, runs the
 * example workflow once and prints the answers). The first run must look
 * clean: no runtime warning before the answers (oidc-provider's "Unsupported runtime" greeted every
 * newcomer on Node 20 until the sandbox ran on the Node 24 the project installs).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { ensureN8n, freePort } from '../harness/n8n';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
		child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error(`${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
		}, timeoutMs);
		child.once('error', reject);
		child.once('close', (code) => {
			clearTimeout(timer);
			resolve({ code, stdout, stderr });
		});
	});
}

describe('npm start -- --headless', () => {
	it('runs the example workflow through the sandbox and prints the answers, with no runtime warning on the way', { timeout: 20 * 60_000 }, async () => {
		await ensureN8n(); // the first install's progress lines are not what a second run prints
		const env: NodeJS.ProcessEnv = { ...process.env, N8N_PORT: String(await freePort()), SANDBOX_PORT: '0' };
		delete env.NODE_TEST_CONTEXT;
		const result = await run('npm', ['start', '--', '--headless'], env, 5 * 60_000);
		const output = `${result.stdout}\n${result.stderr}`;
		assert.equal(result.code, 0, output);
		assert.match(result.stdout, /^answer: .+/m, output);
		assert.match(result.stdout, /answers from .+; token requests at the sandbox: 1, chat requests: \d+/, output);
		assert.doesNotMatch(output, /Unsupported runtime|ExperimentalWarning|DeprecationWarning|\bWarning:/i, output);
	});
});
