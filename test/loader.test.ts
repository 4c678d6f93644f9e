/**
 * Issue 11: the package loads where n8n ships no AI node SDK (n8n 1.x). n8n's loader requires each
 * node file and drops the whole package if one throws; this loads the built files the same way, once
 * with the SDK made unresolvable and once as it is.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const REPO_ROOT = path.resolve(__dirname, '..');

interface Report {
	loaded: Array<{ file: string; name: string; hidden: boolean; description?: string; supplyData?: { message?: string; description?: string } }>;
	failed: Array<{ file: string; error: string }>;
}

function load(withoutSdk: boolean): Report {
	const preload = withoutSdk ? ['-r', path.join(__dirname, 'loader', 'without-ai-sdk.cjs')] : [];
	const output = execFileSync(process.execPath, [...preload, path.join(__dirname, 'loader', 'load-package.cjs')], { cwd: REPO_ROOT, encoding: 'utf8' });
	return JSON.parse(output) as Report;
}

describe('loading the built package', () => {
	it('without @n8n/ai-node-sdk (n8n 1.x): every file loads, the Chat Model is hidden and says it needs n8n 2.x', () => {
		const report = load(true);
		assert.deepEqual(report.failed, []);
		assert.deepEqual(report.loaded.map((entry) => entry.name).sort(), ['llmProviderOAuth2Api', 'oAuth2LlmChat', 'oAuth2LlmChatModel', 'oAuth2LlmEmbeddings']);
		const model = report.loaded.find((entry) => entry.name === 'oAuth2LlmChatModel')!;
		assert.equal(model.hidden, true);
		assert.match(String(model.description), /Needs n8n 2\.x/);
		assert.match(String(model.supplyData?.message), /needs n8n 2\.x/);
		assert.match(String(model.supplyData?.description), /Use the OAuth2 LLM Chat node/);
		assert.equal(report.loaded.find((entry) => entry.name === 'oAuth2LlmChat')?.hidden, false);
	});

	it('with the SDK (n8n 2.x): the Chat Model is listed', () => {
		const report = load(false);
		assert.deepEqual(report.failed, []);
		assert.equal(report.loaded.find((entry) => entry.name === 'oAuth2LlmChatModel')?.hidden, false);
	});
});
