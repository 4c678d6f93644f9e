// n8n's strictest community-package rule set: `recommended`, the one n8n Cloud's verified community
// nodes must pass. This package targets self-hosted n8n and breaks some of its rules by design; the
// README's "n8n Cloud's rules" lists each with its reason, and test/cloud-lint.test.ts checks that the
// list is exactly what this config reports. Not part of `npm run lint` (eslint.config.mjs).
import tseslint from 'typescript-eslint';
import communityNodes from '@n8n/eslint-plugin-community-nodes';

export default [
	{ ignores: ['dist/**', 'node_modules/**', 'test/**', 'bench/**', 'scripts/**', 'examples/**', 'cli/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
	{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser, parserOptions: { sourceType: 'module' } } },
	{ files: ['package.json'], languageOptions: { parser: (await import('jsonc-eslint-parser')).default } },
	{
		files: ['credentials/**/*.ts', 'nodes/**/*.ts', 'package.json'],
		plugins: { '@n8n/community-nodes': communityNodes },
		rules: { ...communityNodes.configs.recommended.rules },
	},
];
