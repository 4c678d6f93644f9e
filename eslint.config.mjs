// n8n's two rule sets for community packages. Rules this design cannot satisfy are turned off
// below, each with the reason; everything else is on as n8n ships it.
import tseslint from 'typescript-eslint';
import n8nNodesBase from 'eslint-plugin-n8n-nodes-base';
import communityNodes from '@n8n/eslint-plugin-community-nodes';

export default [
	{ ignores: ['dist/**', 'node_modules/**', 'test-artifacts/**', '**/*.js', '**/*.mjs'] },
	{
		files: ['**/*.ts'],
		languageOptions: { parser: tseslint.parser, parserOptions: { sourceType: 'module' } },
	},
	{
		files: ['package.json'],
		languageOptions: { parser: (await import('jsonc-eslint-parser')).default },
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: {
			...n8nNodesBase.configs.community.rules,
		},
	},
	{
		files: ['credentials/**/*.ts'],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: {
			...n8nNodesBase.configs.credentials.rules,
			// The documentation lives in the package README on npm, not on docs.n8n.io.
			'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
		},
	},
	{
		files: ['nodes/**/*.ts'],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: {
			...n8nNodesBase.configs.nodes.rules,
			// These two want the string 'main'; n8n 2.x's own rule (@n8n/community-nodes/node-connection-type-literal)
			// wants NodeConnectionTypes.Main. The newer rule wins.
			'n8n-nodes-base/node-class-description-inputs-wrong-regular-node': 'off',
			'n8n-nodes-base/node-class-description-outputs-wrong': 'off',
		},
	},
	{
		files: ['credentials/**/*.ts', 'nodes/**/*.ts', 'package.json'],
		plugins: { '@n8n/community-nodes': communityNodes },
		rules: {
			...communityNodes.configs.recommendedWithoutN8nCloudSupport.rules,
			// Self-hosted only (README): the design needs axios, zod and async-mutex at run time.
			'@n8n/community-nodes/no-runtime-dependencies': 'off',
		},
	},
	{
		// The package's own error family (nodes/shared/core/errors.ts) carries status, OAuth error code and a
		// scrubbed cause; nodes/shared/n8n/n8n-errors.ts turns it into NodeApiError/NodeOperationError in one
		// place. The rule wants every throw site to build n8n errors itself, which would spread that wording.
		files: ['nodes/shared/**/*.ts', 'nodes/*/request.ts', 'nodes/*/response.ts'],
		rules: { '@n8n/community-nodes/require-node-api-error': 'off' },
	},
];
