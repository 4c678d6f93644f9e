/**
 * The docs hold together: every relative link in README.md, docs/*.md and the other top-level pages
 * points at a file that exists, and every #anchor at a heading that exists (GitHub's slugs); the
 * README stays a front page a newcomer reads in five minutes (at most 210 lines; the depth is in docs/).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const REPO_ROOT = path.resolve(__dirname, '..');
const README_MAX_LINES = 210;

/** Markdown without fenced code blocks, where a "heading" or a "link" is only text. */
function withoutFences(markdown: string): string {
	return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** ... and without inline code. */
const prose = (markdown: string): string => withoutFences(markdown).replace(/`[^`\n]*`/g, '');

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to '-', repeats get -1, -2, … */
export function anchorsOf(markdown: string): Set<string> {
	const anchors = new Set<string>();
	const seen = new Map<string, number>();
	for (const match of withoutFences(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
		const text = match[1].replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
		const slug = text
			.toLowerCase()
			.replace(/[^\p{L}\p{N}\s_-]/gu, '')
			.replace(/\s/g, '-');
		const count = seen.get(slug) ?? 0;
		seen.set(slug, count + 1);
		anchors.add(count === 0 ? slug : `${slug}-${count}`);
	}
	for (const match of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(match[1]);
	return anchors;
}

/** Every relative link target (links and images) of a page. */
export function relativeLinks(markdown: string): string[] {
	const targets: string[] = [];
	for (const match of prose(markdown).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(match[1]);
	for (const match of prose(markdown).matchAll(/^\[[^\]]+\]:\s*(\S+)/gm)) targets.push(match[1]);
	return targets.filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** What is wrong with the links of `pages` (repo-relative paths). */
export function brokenLinks(pages: string[], read: (file: string) => string, exists: (file: string) => boolean): string[] {
	const broken: string[] = [];
	for (const page of pages) {
		for (const target of relativeLinks(read(page))) {
			const [file, anchor] = target.split('#', 2) as [string, string | undefined];
			const resolved = file === '' ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), decodeURI(file)));
			if (resolved.startsWith('..') || !exists(resolved)) {
				broken.push(`${page}: ${target} (no file ${resolved})`);
				continue;
			}
			if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(anchor)) {
				broken.push(`${page}: ${target} (no heading #${anchor} in ${resolved})`);
			}
		}
	}
	return broken;
}

const pages = [
	...readdirSync(REPO_ROOT).filter((name) => name.endsWith('.md')),
	...readdirSync(path.join(REPO_ROOT, 'docs'))
		.filter((name) => name.endsWith('.md'))
		.map((name) => `docs/${name}`),
];
const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), 'utf8');
const exists = (file: string) => existsSync(path.join(REPO_ROOT, file)) && (statSync(path.join(REPO_ROOT, file)).isFile() || statSync(path.join(REPO_ROOT, file)).isDirectory());

describe('the docs', () => {
	it('every relative link and anchor in README.md, docs/*.md and the other top-level pages resolves', () => {
		assert.ok(pages.includes('README.md') && pages.filter((page) => page.startsWith('docs/')).length >= 8, pages.join(', '));
		assert.deepEqual(brokenLinks(pages, read, exists), []);
	});

	it(`the README is a front page: at most ${README_MAX_LINES} lines, and it links to every page of docs/`, () => {
		const readme = read('README.md');
		assert.ok(readme.split('\n').length <= README_MAX_LINES, `README.md has ${readme.split('\n').length} lines`);
		const linked = new Set(relativeLinks(readme).map((target) => target.split('#')[0]));
		for (const page of pages.filter((file) => file.startsWith('docs/'))) assert.ok(linked.has(page), `README.md does not link ${page}`);
	});

	it("the editor's documentation links (each node's codex, the credential's documentationUrl) point at headings of the README", () => {
		const sources = [
			...readdirSync(path.join(REPO_ROOT, 'nodes'))
				.map((folder) => `nodes/${folder}/${folder}.node.json`)
				.filter((file) => existsSync(path.join(REPO_ROOT, file))),
			'credentials/LlmProviderOAuth2Api.credentials.ts',
		];
		const anchors = anchorsOf(read('README.md'));
		const linked = sources.flatMap((file) => [...read(file).matchAll(/npmjs\.com\/package\/n8n-nodes-oauth2-llm#([\w-]+)/g)].map((match) => ({ file, anchor: match[1] })));
		assert.ok(linked.length >= 4, JSON.stringify(linked));
		assert.deepEqual(linked.filter(({ anchor }) => !anchors.has(anchor)), []);
	});

	it('the check itself catches a missing file, a missing anchor and a link out of the repository, and reads GitHub slugs', () => {
		const files: Record<string, string> = {
			'README.md': '# Title\n## Queue mode: one `token`, per process!\n## Queue mode: one token, per process\n[ok](docs/a.md#what-it-is) [self](#queue-mode-one-token-per-process-1) [web](https://example.com/x.md)\n```\n[not a link](nowhere.md)\n```\n',
			'docs/a.md': '# What it is\n[gone](b.md) [bad anchor](../README.md#nope) ![img](images/x.png) [out](../../etc/passwd) [fine](../README.md#title)\n',
		};
		const broken = brokenLinks(Object.keys(files), (file) => files[file], (file) => file in files);
		assert.deepEqual(
			broken.map((entry) => entry.split(' (')[0]),
			['docs/a.md: b.md', 'docs/a.md: ../README.md#nope', 'docs/a.md: images/x.png', 'docs/a.md: ../../etc/passwd'],
		);
	});
});
