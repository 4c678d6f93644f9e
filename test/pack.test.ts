/**
 * Issue 14: what `npm publish` would upload, checked on `npm pack`'s own list (run after the build,
 * as `npm test` does): only the built code and the files npm always ships, every file n8n is told to
 * load, no source maps or test material, nothing secret, and a size budget.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const REPO_ROOT = path.resolve(__dirname, '..');
/**
 * Packed (gzipped) size allowed, so that growth is a decision, not an accident: 150 KiB until issue 22,
 * whose four API formats brought the package to 159 KiB; raised to 200 KiB then.
 */
const PACKED_BUDGET_BYTES = 200 * 1024;

interface PackedFile {
	path: string;
	size: number;
}

function pack(): { size: number; files: PackedFile[] } {
	const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' });
	const [result] = JSON.parse(output) as Array<{ size: number; files: PackedFile[] }>;
	return result;
}

describe('the published package (npm pack)', () => {
	const packed = pack();
	const paths = packed.files.map((file) => file.path);

	it('holds only dist/, package.json, README.md and LICENSE', () => {
		const outside = paths.filter((file) => !file.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(file));
		assert.deepEqual(outside, []);
		for (const file of ['package.json', 'README.md', 'LICENSE']) assert.ok(paths.includes(file), `${file} is packed`);
	});

	it('holds every file package.json\'s n8n section and bin name, their icons, and no source maps, declarations or test material', () => {
		const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
			n8n: { nodes: string[]; credentials: string[] };
			bin: Record<string, string>;
		};
		for (const file of [...pkg.n8n.nodes, ...pkg.n8n.credentials, ...Object.values(pkg.bin)]) assert.ok(paths.includes(file), `${file} is packed`);
		for (const file of [...pkg.n8n.nodes, ...pkg.n8n.credentials]) {
			assert.ok(paths.includes(path.posix.join(path.posix.dirname(file), 'oauth2llm.svg')), `the icon next to ${file} is packed`);
		}
		assert.deepEqual(paths.filter((file) => /\.map$|\.d\.ts$|\.ts$|(^|\/)test\/|test-artifacts|\.tgz$/.test(file)), []);
	});

	it('holds nothing secret: no test secret, no key material, no .env', () => {
		const suspicious = /sandbox-secret|LeakCanary|Wrong-Secret|-----BEGIN [A-Z ]*PRIVATE KEY-----\s*[A-Za-z0-9+/]{16}|(^|\/)\.env|(^|\/)\.npmrc$/;
		for (const file of paths) {
			assert.doesNotMatch(file, /(^|\/)\.env|(^|\/)\.npmrc$/);
			const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
			assert.doesNotMatch(text, suspicious, file);
		}
	});

	it(`stays within the size budget (${PACKED_BUDGET_BYTES / 1024} KiB packed)`, () => {
		assert.ok(packed.size <= PACKED_BUDGET_BYTES, `${packed.size} bytes`);
	});
});
