/**
 * The layer order of nodes/shared/, written once in docs/development.md (its "layers" table), holds
 * for every import: a file imports its own layer and the layers before it, never one after it; no
 * shared file reaches up into a node folder, the credential or the CLI; the import CLI reaches no
 * higher than config (it validates with the same schema, and needs no token or n8n glue), and never
 * into a node folder or the credential; n8n's own API (`n8n-workflow`) is imported by the n8n layer
 * alone, so everything below it runs without n8n.
 * Imports are read by TypeScript's own pre-processor (static, `import type`, re-exports, require and
 * dynamic import alike), so a type-only import counts too.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import ts from 'typescript';

const REPO_ROOT = path.resolve(__dirname, '..');
const SHARED = 'nodes/shared';
/** The highest layer the import CLI may use. */
const CLI_CEILING = 'config';
/** The only shared layer that may import n8n's node API. */
const N8N_LAYER = 'n8n';

/** The layer names in order, lowest first, from the table after the `<!-- layers:` marker. */
export function layersFromDoc(markdown: string): string[] {
	const start = markdown.indexOf('<!-- layers:');
	assert.ok(start >= 0, 'docs/development.md has no "<!-- layers:" table');
	const layers: string[] = [];
	for (const line of markdown.slice(start).split('\n').slice(1)) {
		if (!line.startsWith('|')) {
			if (layers.length > 0 || line.trim() !== '') break;
			continue;
		}
		const cells = line.split('|').map((cell) => cell.trim());
		const [name, folder] = [cells[1], cells[2]];
		if (name === 'layer' || /^-+$/.test(name)) continue;
		assert.equal(folder, `\`${SHARED}/${name}/\``, `the layers table names folder ${folder} for layer ${name}`);
		layers.push(name);
	}
	return layers;
}

/** Every module specifier a source file imports (static, `import type`, re-exports, require, dynamic import). */
function specifiers(source: string): string[] {
	return ts.preProcessFile(source, true, true).importedFiles.map((imported) => imported.fileName);
}

/** Repo-relative paths of the files a source file imports by a relative specifier, resolved to .ts files. */
function relativeImports(file: string, source: string): string[] {
	return specifiers(source)
		.filter((specifier) => specifier.startsWith('.'))
		.map((specifier) => path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).replace(/\.(js|ts)$/, '') + '.ts');
}

/** Where a repo-relative file sits: a shared layer, a top-level part, or nowhere this test cares about. */
function placeOf(file: string, layers: string[]): { layer: number } | { top: 'cli' | 'other' } | { unknown: string } {
	if (file.startsWith(`${SHARED}/`)) {
		const folder = file.slice(SHARED.length + 1).split('/')[0];
		const rank = layers.indexOf(folder);
		return rank >= 0 && file.split('/').length === 4 ? { layer: rank } : { unknown: file };
	}
	return file.startsWith('cli/') ? { top: 'cli' } : { top: 'other' };
}

/** Every import that breaks the order, as "importer → imported: why". `files`: repo-relative path → source. */
export function layerViolations(files: Map<string, string>, layers: string[]): string[] {
	const violations: string[] = [];
	for (const [file, source] of files) {
		const from = placeOf(file, layers);
		if ('unknown' in from) {
			violations.push(`${file}: not in a layer folder of ${SHARED}/ (${layers.join(', ')})`);
			continue;
		}
		if ('layer' in from && from.layer < layers.indexOf(N8N_LAYER) && specifiers(source).includes('n8n-workflow')) {
			violations.push(`${file} → n8n-workflow: only the ${N8N_LAYER} layer imports n8n's node API`);
		}
		for (const imported of relativeImports(file, source)) {
			const to = placeOf(imported, layers);
			if ('layer' in from) {
				if (!('layer' in to)) violations.push(`${file} → ${imported}: a shared file imports outside ${SHARED}/`);
				else if (to.layer > from.layer) violations.push(`${file} → ${imported}: ${layers[from.layer]} imports the higher layer ${layers[to.layer]}`);
			} else if ('top' in from && from.top === 'cli') {
				if ('layer' in to && to.layer > layers.indexOf(CLI_CEILING)) violations.push(`${file} → ${imported}: the import CLI reaches above ${CLI_CEILING} into ${layers[to.layer]}`);
				else if (!('layer' in to) && !imported.startsWith('cli/')) violations.push(`${file} → ${imported}: the import CLI reaches into a node folder or the credential`);
			}
		}
	}
	return violations;
}

function sourcesUnder(folder: string): Map<string, string> {
	const files = new Map<string, string>();
	for (const entry of readdirSync(path.join(REPO_ROOT, folder), { recursive: true, withFileTypes: true })) {
		if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
		const file = path.relative(REPO_ROOT, path.join(entry.parentPath, entry.name)).split(path.sep).join('/');
		files.set(file, readFileSync(path.join(REPO_ROOT, file), 'utf8'));
	}
	return files;
}

describe('the layers of nodes/shared/', () => {
	const layers = layersFromDoc(readFileSync(path.join(REPO_ROOT, 'docs', 'development.md'), 'utf8'));

	it('docs/development.md names every layer folder once, and nodes/shared/ holds exactly those folders', () => {
		assert.ok(layers.length >= 5, `layers read: ${layers.join(', ')}`);
		assert.equal(new Set(layers).size, layers.length);
		const folders = readdirSync(path.join(REPO_ROOT, SHARED), { withFileTypes: true });
		assert.deepEqual(folders.filter((entry) => !entry.isDirectory()).map((entry) => entry.name), [], 'no file directly in nodes/shared/');
		assert.deepEqual(folders.map((entry) => entry.name).sort(), [...layers].sort());
	});

	it('no import in the package goes from a lower layer to a higher one, and the CLI stays at or below config', () => {
		const files = new Map([...sourcesUnder('nodes'), ...sourcesUnder('credentials'), ...sourcesUnder('cli')]);
		assert.ok(files.size > 30);
		assert.deepEqual(layerViolations(files, layers), []);
	});

	it('the check itself catches each kind of break', () => {
		const files = new Map([
			[`${SHARED}/core/scrub.ts`, "import type { AccessToken } from '../auth/token-policy';"],
			[`${SHARED}/keys/pem.ts`, "const http = require('../transport/http');"],
			[`${SHARED}/auth/token-cache.ts`, "export { x } from '../wire/chat-client';\nimport { y } from '../core/clock';"],
			[`${SHARED}/wire/chat-client.ts`, "import { z } from '../../OAuth2LlmChat/request';"],
			[`${SHARED}/loose.ts`, ''],
			['cli/import-config.ts', "import { a } from '../nodes/shared/config/provider-config';\nimport { b } from '../nodes/shared/auth/token-cache';"],
			['cli/n8n-api.ts', "import { c } from '../credentials/LlmProviderOAuth2Api.credentials';\nimport { d } from './receipts';"],
			[`${SHARED}/wire/openai-wire.ts`, "import type { INode } from 'n8n-workflow';"],
			[`${SHARED}/n8n/n8n-errors.ts`, "import { NodeApiError } from 'n8n-workflow';"],
			['nodes/OAuth2LlmChat/request.ts', "import { c } from '../shared/n8n/credential';"],
		]);
		const violations = layerViolations(files, layers);
		const flagged = (importer: string) => violations.filter((violation) => violation.startsWith(importer)).length;
		assert.equal(flagged(`${SHARED}/core/scrub.ts`), 1, 'import type upward');
		assert.equal(flagged(`${SHARED}/keys/pem.ts`), 1, 'require upward');
		assert.equal(flagged(`${SHARED}/auth/token-cache.ts`), 1, 're-export upward (the downward import is fine)');
		assert.equal(flagged(`${SHARED}/wire/chat-client.ts`), 1, 'out of nodes/shared/ into a node folder');
		assert.equal(flagged(`${SHARED}/loose.ts`), 1, 'a file outside every layer folder');
		assert.equal(flagged('cli/import-config.ts'), 1, 'the CLI above config (config itself is fine)');
		assert.equal(flagged('cli/n8n-api.ts'), 1, 'the CLI into the credential (its own folder is fine)');
		assert.equal(flagged(`${SHARED}/wire/openai-wire.ts`), 1, "n8n's node API below the n8n layer");
		assert.equal(flagged(`${SHARED}/n8n/n8n-errors.ts`), 0);
		assert.equal(flagged('nodes/OAuth2LlmChat/request.ts'), 0);
		assert.equal(violations.length, 8);
	});
});
