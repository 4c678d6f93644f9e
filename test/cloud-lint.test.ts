/**
 * Issue 14: which of n8n's community-package rules (the `recommended` set, n8n Cloud's) this package
 * breaks, exactly as docs/releases.md lists them. A new violation, or one fixed, fails here until the
 * docs say so too.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const REPO_ROOT = path.resolve(__dirname, '..');

describe("n8n Cloud's community-package rules", () => {
	it('are broken only where docs/releases.md says, by rule', () => {
		let output: string;
		try {
			output = execFileSync(
				process.execPath,
				[path.join(REPO_ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'), '-c', 'eslint.cloud.config.mjs', '--no-inline-config', '-f', 'json', 'credentials', 'nodes', 'package.json'],
				{ cwd: REPO_ROOT, encoding: 'utf8' },
			);
		} catch (error) {
			output = (error as { stdout: string }).stdout; // eslint exits 1 when it reports anything
		}
		const reported = new Set<string>();
		for (const file of JSON.parse(output) as Array<{ messages: Array<{ ruleId: string | null }> }>) {
			for (const message of file.messages) reported.add(String(message.ruleId));
		}
		const page = readFileSync(path.join(REPO_ROOT, 'docs', 'releases.md'), 'utf8');
		const start = page.indexOf("## n8n Cloud's rules");
		assert.ok(start >= 0, "docs/releases.md has a section \"n8n Cloud's rules\"");
		const end = page.indexOf('\n## ', start + 1);
		const section = page.slice(start, end === -1 ? undefined : end);
		const documented = new Set([...section.matchAll(/`(@n8n\/community-nodes\/[a-z-]+)`/g)].map((match) => match[1]));
		assert.deepEqual([...reported].sort(), [...documented].sort());
	});
});
