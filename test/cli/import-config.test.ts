/**
 * litellm_config.json → n8n credentials: the pure core (configToCredentials) called directly, and the
 * CLI run as a child process for what only a process shows (exit codes, files, what is printed, the
 * public API against a fake n8n on 127.0.0.1).
 * Run: node --import tsx --test test/cli/import-config.test.ts
 */
import assert from 'node:assert/strict';
import { runNode, type CliResult } from './run-cli';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import {
	configToCredentials,
	type ConvertResult,
	credentialIdFor,
	maskCredential,
	SECRET_MASK,
} from '../../cli/litellm-config';

const REPO = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO, 'cli', 'import-config.ts');
const TSX = pathToFileURL(require.resolve('tsx')).href;
const SHARED_EXAMPLE = '/work/shared/examples/litellm_config.json';

// Secrets of every length a mask could betray, long and very short.
const LONG_SECRET = 'long-secret-value-Zq8!x/+&%';
const SHORT_SECRET = 'ab';
const REFRESH_SECRET = 'refresh-secret-9d1c';
const HEADER_SECRET = 'apim-subscription-key-7f3e2a';

const json = (value: unknown) => JSON.stringify(value, null, 2);

/** The seed example of oauth2-llm-providers.md "Environment Variables", with a base URL added. */
const ENV_EXAMPLE = json({
	oauth2_providers: {
		my_provider: {
			client_id: 'os.environ/MY_CLIENT_ID',
			client_secret: 'os.environ/MY_CLIENT_SECRET',
			token_url: 'https://my-provider.com/token',
			base_url: 'https://llm.my-provider.com/v1',
		},
	},
});
const ENV = { MY_CLIENT_ID: 'client-from-env', MY_CLIENT_SECRET: LONG_SECRET };

function provider(extra: Record<string, unknown> = {}) {
	return {
		client_id: 'client',
		client_secret: LONG_SECRET,
		token_url: 'https://auth.example.com/oauth/token',
		base_url: 'https://llm.example.com/v1',
		...extra,
	};
}

const config = (providers: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
	json({ oauth2_providers: providers, ...extra });

function convert(text: string, env: Record<string, string> = {}, options = {}): ConvertResult {
	return configToCredentials(text, env, options);
}

function assertNoSecret(text: string, secrets = [LONG_SECRET, REFRESH_SECRET]) {
	for (const secret of secrets) assert.ok(!text.includes(secret), `output contains a secret: ${text}`);
}

const paths = (result: ConvertResult) => result.issues.map((issue) => issue.path).sort();

describe('configToCredentials: the shared example and os.environ', () => {
	it('turns the shared example file into one credential per provider, named after it', () => {
		const text = readFileSync(SHARED_EXAMPLE, 'utf8');
		const result = convert(text, {}, { defaultBaseUrl: 'https://llm.example.com/v1' });
		assert.deepEqual(result.issues, []);
		assert.deepEqual(
			result.credentials.map(({ name, type }) => ({ name, type })),
			[
				{ name: 'my_custom_provider', type: 'llmProviderOAuth2Api' },
				{ name: 'another_provider', type: 'llmProviderOAuth2Api' },
			],
		);
		assert.deepEqual(result.credentials[0].data, {
			baseUrl: 'https://llm.example.com/v1',
			tokenUrl: 'https://your-provider.com/oauth/token',
			clientId: 'your_client_id',
			clientSecret: 'your_client_secret',
			scope: 'llm.read llm.write',
			clientAuthentication: 'body',
			basicAuthEncoding: 'formEncoded',
			additionalTokenParameters: '{}',
			refreshToken: '',
			headers: '{}',
			expiryBufferSeconds: 60,
		});
		assert.equal(result.credentials[1].data.scope, '');
	});

	it('api_format (or its snake_case name), anthropic_version and store_responses become the credential\'s API format fields; a format it does not know is an issue', () => {
		const result = convert(config({ claude: provider({ api_format: 'anthropic_messages', anthropic_version: '2023-06-01' }), openai: provider({ api_format: 'responses', store_responses: true }) }));
		assert.deepEqual(result.issues, []);
		assert.equal(result.credentials[0].data.apiFormat, 'anthropicMessages');
		assert.equal(result.credentials[0].data.anthropicVersion, '2023-06-01');
		assert.equal(result.credentials[1].data.apiFormat, 'responses');
		assert.equal(result.credentials[1].data.storeResponses, true);
		const wrong = convert(config({ claude: provider({ api_format: 'bedrock' }) }));
		assert.deepEqual(paths(wrong), ['oauth2_providers.claude.api_format']);
		assert.match(wrong.issues[0].message, /"chatCompletions", "responses", "anthropicMessages" or "anthropicVertex"/);
	});

	it('reads os.environ/NAME values from the environment given', () => {
		const result = convert(ENV_EXAMPLE, ENV);
		assert.deepEqual(result.issues, []);
		assert.equal(result.credentials[0].data.clientId, 'client-from-env');
		assert.equal(result.credentials[0].data.clientSecret, LONG_SECRET);
	});

	it('reports a missing variable with its name and the provider, and no value anywhere', () => {
		const result = convert(ENV_EXAMPLE, { MY_CLIENT_ID: 'client-from-env' });
		assert.equal(result.credentials.length, 0);
		assert.equal(result.issues.length, 1);
		const [issue] = result.issues;
		assert.equal(issue.path, 'oauth2_providers.my_provider.client_secret');
		assert.match(issue.message, /MY_CLIENT_SECRET/);
		assert.match(issue.message, /"my_provider"/);
		assert.equal(issue.line, 5);
	});

	it('never quotes a secret from the environment, even when it lands in a field that quotes values', () => {
		// The secret's variable is (wrongly) used for the scope too, whose messages quote the value.
		const text = config({ p: provider({ client_secret: 'os.environ/S', scope: 'os.environ/S' }) });
		const result = convert(text, { S: `${LONG_SECRET}  x` });
		assert.ok(result.issues.length > 0);
		assertNoSecret(JSON.stringify(result));
	});

	it('resolves os.environ/NAME inside headers and additional token parameters', () => {
		const text = config({
			p: provider({ headers: { 'AI-Resource-Group': 'os.environ/RG' }, extra_token_params: { audience: 'os.environ/AUD' } }),
		});
		const result = convert(text, { RG: 'default', AUD: 'https://api.example.com' });
		assert.deepEqual(result.issues, []);
		assert.deepEqual(JSON.parse(result.credentials[0].data.headers), { 'AI-Resource-Group': 'default' });
		assert.deepEqual(JSON.parse(result.credentials[0].data.additionalTokenParameters), { audience: 'https://api.example.com' });
	});

	it('rejects os.environ/ without a usable variable name', () => {
		const result = convert(config({ p: provider({ client_id: 'os.environ/' }) }));
		assert.deepEqual(paths(result), ['oauth2_providers.p.client_id']);
		assert.match(result.issues[0].message, /does not name an environment variable/);
	});
});

describe('configToCredentials: keepEnvReferences', () => {
	it('writes ={{ $env.NAME }} instead of the value, and lists the variables n8n needs', () => {
		const result = convert(ENV_EXAMPLE, ENV, { keepEnvReferences: true });
		assert.deepEqual(result.issues, []);
		assert.equal(result.credentials[0].data.clientId, '={{ $env.MY_CLIENT_ID }}');
		assert.equal(result.credentials[0].data.clientSecret, '={{ $env.MY_CLIENT_SECRET }}');
		assert.deepEqual(result.envReferences, ['MY_CLIENT_ID', 'MY_CLIENT_SECRET']);
		assertNoSecret(JSON.stringify(result));
	});

	it('accepts a variable this shell lacks (n8n resolves it) with a note, still checking the rest', () => {
		const result = convert(ENV_EXAMPLE, {}, { keepEnvReferences: true });
		assert.deepEqual(result.issues, []);
		assert.equal(result.notes.length, 2);
		assert.match(result.notes.join('\n'), /MY_CLIENT_SECRET is not set here/);

		const bad = convert(config({ p: provider({ client_secret: 'os.environ/NOT_HERE', token_url: 'nope' }) }), {}, { keepEnvReferences: true });
		assert.deepEqual(paths(bad), ['oauth2_providers.p.token_url']);
	});

	it('a refresh-token provider whose token is kept as a reference needs no client secret', () => {
		const { client_secret: _omit, ...rest } = provider({ refresh_token: 'os.environ/RT' });
		const result = convert(config({ p: rest }), {}, { keepEnvReferences: true });
		assert.deepEqual(result.issues, []);
		assert.equal(result.credentials[0].data.refreshToken, '={{ $env.RT }}');
		assert.equal(result.credentials[0].data.clientSecret, '');
	});

	it('turns a JSON field with os.environ values into an expression producing the JSON text', () => {
		const text = config({ p: provider({ headers: { 'AI-Resource-Group': 'os.environ/RG', 'X-Static': 'yes' } }) });
		const result = convert(text, {}, { keepEnvReferences: true });
		assert.deepEqual(result.issues, []);
		assert.equal(result.credentials[0].data.headers, '={{ JSON.stringify({ "AI-Resource-Group": $env.RG, "X-Static": "yes" }) }}');
		assert.deepEqual(result.envReferences, ['RG']);
	});

	it('resolves client_authentication, basic_auth_encoding and expiry_buffer_seconds now: n8n type-checks them', () => {
		const text = config({ p: provider({ client_authentication: 'os.environ/AUTH', expiry_buffer_seconds: 'os.environ/BUF' }) });
		const ok = convert(text, { AUTH: 'header', BUF: '30' }, { keepEnvReferences: true });
		assert.deepEqual(ok.issues, []);
		assert.equal(ok.credentials[0].data.clientAuthentication, 'header');
		assert.equal(ok.credentials[0].data.expiryBufferSeconds, 30);
		const missing = convert(text, {}, { keepEnvReferences: true });
		assert.deepEqual(paths(missing), ['oauth2_providers.p.client_authentication', 'oauth2_providers.p.expiry_buffer_seconds']);
	});
});

describe('configToCredentials: the LLM base URL', () => {
	const modelList = [
		{ model_name: 'gpt', litellm_params: { model: 'corp/gpt-4o', api_base: 'https://corp-llm.example.com/v1' } },
		{ model_name: 'mini', litellm_params: { model: 'corp/gpt-4o-mini', api_base: 'https://corp-llm.example.com/v1' } },
		{ model_name: 'other', litellm_params: { model: 'corp2/x', api_base: 'https://other.example.com/v1' } },
		{ model_name: 'openai', litellm_params: { model: 'openai/gpt-4o', api_key: 'os.environ/OPENAI_API_KEY' } },
	];
	const withoutBaseUrl = (extra: Record<string, unknown> = {}) => {
		const { base_url: _omit, ...rest } = provider(extra);
		return rest;
	};

	it("takes api_base from the model_list entries whose model is '<provider>/…'", () => {
		const result = convert(config({ corp: withoutBaseUrl() }, { model_list: modelList }));
		assert.deepEqual(result.issues, []);
		assert.equal(result.credentials[0].data.baseUrl, 'https://corp-llm.example.com/v1');
	});

	it('resolves os.environ/ in a model_list api_base', () => {
		const list = [{ model_name: 'm', litellm_params: { model: 'corp/m', api_base: 'os.environ/CORP_BASE' } }];
		const result = convert(config({ corp: withoutBaseUrl() }, { model_list: list }), { CORP_BASE: 'https://env-base.example.com/v1' });
		assert.equal(result.credentials[0].data.baseUrl, 'https://env-base.example.com/v1');
		const missing = convert(config({ corp: withoutBaseUrl() }, { model_list: list }));
		assert.deepEqual(paths(missing), ['model_list[0].litellm_params.api_base']);
		assert.match(missing.issues[0].message, /CORP_BASE.*"corp"/);
	});

	it("prefers the provider's own base_url / api_base over model_list and --base-url", () => {
		const own = convert(config({ corp: withoutBaseUrl({ api_base: 'https://own.example.com/v1' }) }, { model_list: modelList }), {}, {
			defaultBaseUrl: 'https://default.example.com/v1',
		});
		assert.equal(own.credentials[0].data.baseUrl, 'https://own.example.com/v1');
	});

	it('reports model_list entries of one provider with different api_base values', () => {
		const list = [...modelList, { model_name: 'eu', litellm_params: { model: 'corp/eu', api_base: 'https://eu.example.com/v1' } }];
		const result = convert(config({ corp: withoutBaseUrl() }, { model_list: list }));
		assert.deepEqual(paths(result), ['model_list[4].litellm_params.api_base']);
		assert.match(result.issues[0].message, /model_list\[0\]\.litellm_params\.api_base/);
	});

	it('falls back to --base-url, and says where a base URL can come from when there is none', () => {
		const fallback = convert(config({ lone: withoutBaseUrl() }, { model_list: modelList }), {}, { defaultBaseUrl: 'https://default.example.com/v1' });
		assert.equal(fallback.credentials[0].data.baseUrl, 'https://default.example.com/v1');

		const none = convert(config({ lone: withoutBaseUrl() }, { model_list: modelList }));
		assert.deepEqual(paths(none), ['oauth2_providers.lone.base_url']);
		assert.match(none.issues[0].message, /base_url.*api_base.*model_list.*--base-url/);

		const badDefault = convert(config({ lone: withoutBaseUrl() }), {}, { defaultBaseUrl: 'llm.example.com' });
		assert.deepEqual(paths(badDefault), ['--base-url']);
	});
});

describe('configToCredentials: validation reports every problem at once, with its path', () => {
	it('unknown keys, missing required fields, bad URLs and empty scope values, all together', () => {
		const text = config({
			alpha: {
				client_secret: LONG_SECRET,
				token_url: 'ftp://auth.example.com/token',
				base_url: 'not a url',
				scope: 'llm.read  llm.write',
				colour: 'blue',
				tokenUrl: 'https://x.example.com',
			},
			beta: { token_url: 'https://auth.example.com/token', base_url: 'https://llm.example.com/v1' },
			gamma: provider({ headers: { Authorization: 'Bearer x' }, expiry_buffer_seconds: -1 }),
			delta: 'not an object',
		});
		const result = convert(text);
		assert.equal(result.credentials.length, 0, 'nothing may be written from a file with problems');
		assert.deepEqual(paths(result), [
			'oauth2_providers.alpha.base_url',
			'oauth2_providers.alpha.client_id',
			'oauth2_providers.alpha.colour',
			'oauth2_providers.alpha.scope',
			'oauth2_providers.alpha.tokenUrl',
			'oauth2_providers.alpha.token_url',
			'oauth2_providers.beta.client_id',
			'oauth2_providers.beta.client_secret',
			'oauth2_providers.delta',
			'oauth2_providers.gamma.expiry_buffer_seconds',
			'oauth2_providers.gamma.headers',
		]);
		const byPath = new Map(result.issues.map((issue) => [issue.path, issue]));
		assert.match(byPath.get('oauth2_providers.alpha.tokenUrl')!.message, /unknown key.*did you mean "token_url"/);
		assert.match(byPath.get('oauth2_providers.alpha.colour')!.message, /unknown key "colour"; known keys: base_url/);
		assert.match(byPath.get('oauth2_providers.alpha.scope')!.message, /empty value/);
		assert.match(byPath.get('oauth2_providers.alpha.token_url')!.message, /http:\/\/ or https:\/\//);
		assert.match(byPath.get('oauth2_providers.beta.client_secret')!.message, /is required/);
		// Every issue points at a line of the file: the key itself, or the provider's entry when missing.
		for (const issue of result.issues) assert.ok(issue.line! > 0 && issue.column! > 0, issue.path);
		assertNoSecret(JSON.stringify(result));
	});

	it('maps the line and column to the key that carries the problem', () => {
		const text = '{\n  "oauth2_providers": {\n    "p": {\n      "client_id": "c",\n      "client_secret": "s3cret",\n      "token_url": "nope",\n      "base_url": "https://llm.example.com"\n    }\n  }\n}\n';
		const result = convert(text);
		assert.deepEqual(result.issues.map(({ path: p, line, column }) => ({ p, line, column })), [
			{ p: 'oauth2_providers.p.token_url', line: 6, column: 20 },
		]);
	});

	it('reports a file without oauth2_providers, an empty one, and a model_list that is no list', () => {
		assert.deepEqual(paths(convert(json({ model_list: [] }))), ['oauth2_providers']);
		assert.deepEqual(paths(convert(json({ oauth2_providers: {} }))), ['oauth2_providers']);
		assert.deepEqual(paths(convert(json({ oauth2_providers: [] }))), ['oauth2_providers']);
		assert.deepEqual(paths(convert('[1, 2]')), ['(top level)']);
		const badList = convert(config({ p: provider() }, { model_list: { not: 'a list' } }));
		assert.deepEqual(paths(badList), ['model_list']);
	});

	it('reports a key given twice (JSON would silently keep the last)', () => {
		const text = '{"oauth2_providers": {"p": {"client_id": "a", "client_id": "b", "client_secret": "x", "token_url": "https://a.example/t", "base_url": "https://b.example"}}}';
		const result = convert(text);
		assert.deepEqual(paths(result), ['oauth2_providers.p.client_id']);
		assert.match(result.issues[0].message, /appears twice/);
	});

	it('reports two keys for one field (base_url and api_base)', () => {
		const result = convert(config({ p: provider({ api_base: 'https://other.example.com/v1' }) }));
		assert.deepEqual(paths(result), ['oauth2_providers.p.api_base']);
		assert.match(result.issues[0].message, /same field as oauth2_providers\.p\.base_url/);
	});

	it('quotes odd provider names and header names in paths', () => {
		const result = convert(config({ 'my provider': provider({ headers: { 'Bad Header': 'x' } }) }));
		assert.deepEqual(paths(result), ['oauth2_providers["my provider"].headers']);
	});
});

describe('configToCredentials: invalid JSON', () => {
	const cases: Array<[string, string, number, number, RegExp]> = [
		['trailing comma', '{\n  "oauth2_providers": {\n    "p": {"client_id": "a",}\n  }\n}', 3, 28, /trailing comma/],
		['missing comma', '{\n  "oauth2_providers": {}\n  "model_list": []\n}', 3, 3, /',' or '}'/],
		['single quotes', "{\n  'oauth2_providers': {}\n}", 2, 3, /double quotes/],
		['unterminated string', '{\n  "oauth2_providers": {"p": "abc\n}', 2, 33, /control character|unterminated/],
		['truncated file', '{\n  "oauth2_providers": {', 2, 24, /end of the file/],
		['empty file', '', 1, 1, /empty/],
		['bare word', '{"a": tru}', 1, 7, /expected a value/],
	];
	for (const [name, text, line, column, message] of cases) {
		it(`${name}: line ${line}, column ${column}`, () => {
			const result = convert(text);
			assert.equal(result.credentials.length, 0);
			assert.equal(result.issues.length, 1);
			const [issue] = result.issues;
			assert.deepEqual({ line: issue.line, column: issue.column }, { line, column });
			assert.match(issue.message, new RegExp(`line ${line}, column ${column}`));
			assert.match(issue.message, message);
		});
	}

	it('never quotes the file around the error (it may hold a secret)', () => {
		const text = `{"oauth2_providers": {"p": {"client_secret": "${LONG_SECRET}" "token_url": 1}}}`;
		const result = convert(text);
		assert.equal(result.issues.length, 1);
		assertNoSecret(JSON.stringify(result));
	});
});

describe('configToCredentials: accepted spellings', () => {
	it('api_base, extra_token_params, RFC 7591 client auth names, a scope list, provider_name equal to the key', () => {
		const { base_url: _omit, ...rest } = provider();
		const text = config({
			sap: {
				...rest,
				provider_name: 'sap',
				api_base: 'https://sap.example.com/v2',
				client_authentication: 'client_secret_basic',
				basic_auth_encoding: 'raw',
				extra_token_params: { resource: 'https://res.example.com' },
				scope: ['llm.read', 'llm.write'],
				expiry_buffer_seconds: 120,
			},
		});
		const result = convert(text);
		assert.deepEqual(result.issues, []);
		const { data } = result.credentials[0];
		assert.equal(data.baseUrl, 'https://sap.example.com/v2');
		assert.equal(data.clientAuthentication, 'header');
		assert.equal(data.basicAuthEncoding, 'raw');
		assert.deepEqual(JSON.parse(data.additionalTokenParameters), { resource: 'https://res.example.com' });
		assert.equal(data.scope, 'llm.read llm.write');
		assert.equal(data.expiryBufferSeconds, 120);
	});

	it('rejects a provider_name that differs from the key', () => {
		const result = convert(config({ sap: provider({ provider_name: 'other' }) }));
		assert.deepEqual(paths(result), ['oauth2_providers.sap.provider_name']);
	});

	it('accepts a refresh-token provider without a client secret', () => {
		const { client_secret: _omit, ...rest } = provider({ refresh_token: REFRESH_SECRET });
		const result = convert(config({ p: rest }));
		assert.deepEqual(result.issues, []);
		assert.equal(result.credentials[0].data.refreshToken, REFRESH_SECRET);
		assert.equal(result.credentials[0].data.clientSecret, '');
	});

	it('does not treat inherited property names as keys', () => {
		const result = convert(config({ p: provider({ constructor: 'x', client_authentication: 'toString' }) }));
		assert.deepEqual(paths(result), ['oauth2_providers.p.client_authentication', 'oauth2_providers.p.constructor']);
	});
});

describe('stable credential ids', () => {
	it('are 16 characters of n8n\'s id alphabet (import:credentials and POST /api/v1/credentials accept them)', () => {
		for (const name of ['a', 'my_custom_provider', 'ünïcødé provider', 'x'.repeat(128)]) {
			assert.match(credentialIdFor(name), /^[0-9A-Za-z]{16}$/);
		}
	});

	it('same name, same id: in another run, another file, another order', () => {
		const first = convert(config({ alpha: provider(), beta: provider() }));
		const second = convert(config({ beta: provider({ scope: 'changed' }), alpha: provider() }));
		const ids = (result: ConvertResult) => Object.fromEntries(result.credentials.map(({ name, id }) => [name, id]));
		assert.deepEqual(ids(first), ids(second));
		assert.equal(ids(first).alpha, credentialIdFor('alpha'));
	});

	it('different names, different ids', () => {
		const names = ['alpha', 'Alpha', 'alpha ', 'beta', 'alpha2', 'provider_1', 'provider_2'];
		assert.equal(new Set(names.map(credentialIdFor)).size, names.length);
	});
});

describe('maskCredential', () => {
	it('masks client secret and refresh token with the same mask whatever their length', () => {
		for (const secret of [LONG_SECRET, SHORT_SECRET, 'x']) {
			const [credential] = convert(config({ p: provider({ client_secret: secret, refresh_token: secret }) })).credentials;
			const masked = maskCredential(credential);
			assert.equal(masked.data.clientSecret, SECRET_MASK);
			assert.equal(masked.data.refreshToken, SECRET_MASK);
			assert.equal(credential.data.clientSecret, secret, 'the original is left alone');
		}
	});

	it('keeps $env references (they name a variable, hold no value) and masks secret-looking headers', () => {
		const text = config({
			p: provider({ client_secret: 'os.environ/S', headers: { 'X-Api-Key': 'key-123456', 'AI-Resource-Group': 'default', 'X-Env': 'os.environ/E' } }),
		});
		const [credential] = convert(text, {}, { keepEnvReferences: true }).credentials;
		const masked = maskCredential(credential);
		assert.equal(masked.data.clientSecret, '={{ $env.S }}');
		assert.equal(
			masked.data.headers,
			`={{ JSON.stringify({ "X-Api-Key": "${SECRET_MASK}", "AI-Resource-Group": "default", "X-Env": $env.E }) }}`,
		);
		const [plain] = convert(config({ p: provider({ headers: { 'X-Api-Key': 'key-123456', Group: 'g' } }) })).credentials;
		assert.deepEqual(JSON.parse(maskCredential(plain).data.headers), { 'X-Api-Key': SECRET_MASK, Group: SECRET_MASK }, 'only known public header names are shown');
		const [withQuery] = convert(config({ p: provider({ base_url: 'https://llm.example.com/v1?api-version=2024&code=abc-key-99' }) })).credentials;
		assert.equal(maskCredential(withQuery).data.baseUrl, `https://llm.example.com/v1?api-version=${SECRET_MASK}&code=${SECRET_MASK}`);
	});
});

// ---------------------------------------------------------------------------------------------
// The CLI as a child process
// ---------------------------------------------------------------------------------------------

function runCli(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
	return runNode(['--import', TSX, CLI, ...args], options);
}

describe('CLI', () => {
	let dir: string;
	beforeEach(() => {
		dir = mkdtempSync(path.join(os.tmpdir(), 'import-config-test-'));
	});
	afterEach(() => {
		rmSync(dir, { recursive: true, force: true });
	});
	const write = (name: string, text: string) => {
		const file = path.join(dir, name);
		writeFileSync(file, text);
		return file;
	};

	it('--help explains usage and the exit codes', async () => {
		const result = await runCli(['--help'], { cwd: dir });
		assert.equal(result.code, 0);
		assert.match(result.stdout, /Usage: npx n8n-nodes-oauth2-llm <litellm_config\.json \| sap-service-key\.json>/);
		for (const option of ['--output', '--n8n-url', '--api-key', '--dry-run', '--base-url', '--keep-env-references']) {
			assert.ok(result.stdout.includes(option), option);
		}
		assert.match(result.stdout, /Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 .*\n {2}4 /);
	});

	it('exit code 2 for wrong usage', async () => {
		for (const args of [[], ['--bogus', 'x.json'], ['a.json', 'b.json'], ['x.json', '--n8n-url', 'http://127.0.0.1:1'], ['x.json', '--api-key', 'k']]) {
			const result = await runCli(args, { cwd: dir });
			assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
			assert.match(result.stderr, /--help/);
		}
		const same = await runCli(['c.json', '-o', 'c.json'], { cwd: dir });
		assert.equal(same.code, 2);
	});

	it('exit code 3 when the config file cannot be read', async () => {
		const result = await runCli(['missing.json'], { cwd: dir });
		assert.equal(result.code, 3);
		assert.match(result.stderr, /cannot read missing\.json: no such file/);
	});

	it('writes the shared example as an import:credentials file, mode 0600, and prints no secret', async () => {
		const result = await runCli([SHARED_EXAMPLE, '--base-url', 'https://llm.example.com/v1', '-o', 'creds.json'], { cwd: dir });
		assert.equal(result.code, 0, result.stderr);
		const file = path.join(dir, 'creds.json');
		const written = JSON.parse(readFileSync(file, 'utf8')) as Array<{ id: string; name: string; type: string; data: Record<string, unknown> }>;
		assert.deepEqual(
			written.map(({ id, name, type }) => ({ id, name, type })),
			['my_custom_provider', 'another_provider'].map((name) => ({ id: credentialIdFor(name), name, type: 'llmProviderOAuth2Api' })),
		);
		assert.equal(written[0].data.clientSecret, 'your_client_secret');
		assert.equal(statSync(file).mode & 0o777, 0o600);
		assert.match(result.stdout, /n8n import:credentials --input creds\.json/);
		assertNoSecret(result.stdout + result.stderr, ['your_client_secret', 'another_client_secret']);
		assert.deepEqual(readdirSync(dir), ['creds.json'], 'no temp file left');
	});

	it('writes ./n8n-credentials.json by default and reads os.environ values from its environment', async () => {
		const cfg = write('litellm_config.json', ENV_EXAMPLE);
		const result = await runCli([cfg], { cwd: dir, env: ENV });
		assert.equal(result.code, 0, result.stderr);
		const [credential] = JSON.parse(readFileSync(path.join(dir, 'n8n-credentials.json'), 'utf8'));
		assert.equal(credential.data.clientSecret, LONG_SECRET);
		assertNoSecret(result.stdout + result.stderr);
	});

	it('exit code 1 for a missing variable: names it and the provider, prints no value, writes nothing', async () => {
		const cfg = write('litellm_config.json', config({ p: provider({ client_id: 'os.environ/ID_VAR', client_secret: 'os.environ/SECRET_VAR', refresh_token: 'os.environ/REFRESH_VAR' }) }));
		const result = await runCli([cfg, '-o', 'out.json'], { cwd: dir, env: { SECRET_VAR: LONG_SECRET, REFRESH_VAR: REFRESH_SECRET } });
		assert.equal(result.code, 1);
		assert.match(result.stderr, /oauth2_providers\.p\.client_id \(line \d+, column \d+\): environment variable ID_VAR is not set \(needed by provider "p"\)/);
		assertNoSecret(result.stdout + result.stderr);
		assert.equal(existsSync(path.join(dir, 'out.json')), false);
	});

	it('exit code 1 for an invalid file: every problem listed, the old output file untouched, no temp file', async () => {
		const previous = '[{"previous": true}]';
		write('out.json', previous);
		const cfg = write(
			'litellm_config.json',
			config({ a: { client_id: 'x', token_url: 'nope', base_url: 'https://b.example', colour: 1, scope: 'a  b' }, b: provider({ token_url: 'ftp://x' }) }),
		);
		const result = await runCli([cfg, '-o', 'out.json'], { cwd: dir });
		assert.equal(result.code, 1);
		assert.match(result.stderr, /5 problems; nothing was written/);
		for (const p of ['a.token_url', 'a.colour', 'a.scope', 'a.client_secret', 'b.token_url']) {
			assert.ok(result.stderr.includes(`oauth2_providers.${p} (line `), p);
		}
		assert.equal(readFileSync(path.join(dir, 'out.json'), 'utf8'), previous);
		assert.deepEqual(readdirSync(dir).sort(), ['litellm_config.json', 'out.json']);
	});

	it('exit code 1 for invalid JSON, with line and column', async () => {
		const cfg = write('litellm_config.json', '{\n  "oauth2_providers": {\n    "p": {"client_secret": "' + LONG_SECRET + '",}\n  }\n}\n');
		const result = await runCli([cfg], { cwd: dir });
		assert.equal(result.code, 1);
		assert.match(result.stderr, /invalid JSON at line 3, column \d+: trailing comma/);
		assertNoSecret(result.stderr + result.stdout);
		assert.deepEqual(readdirSync(dir), ['litellm_config.json']);
	});

	it('exit code 3 when the output cannot be written, and the temp file is gone', async () => {
		const cfg = write('litellm_config.json', config({ p: provider() }));
		const missingDir = await runCli([cfg, '-o', path.join(dir, 'no-such-dir', 'out.json')], { cwd: dir });
		assert.equal(missingDir.code, 3);
		assert.match(missingDir.stderr, /cannot write/);
		// The rename onto a directory fails after the temp file was written: it must be removed.
		mkdirSync(path.join(dir, 'taken'));
		writeFileSync(path.join(dir, 'taken', 'keep'), '');
		const ontoDir = await runCli([cfg, '-o', 'taken'], { cwd: dir });
		assert.equal(ontoDir.code, 3);
		assert.deepEqual(readdirSync(dir).sort(), ['litellm_config.json', 'taken']);
	});

	it('--dry-run prints what would be imported with secrets masked and writes nothing', async () => {
		const cfg = write(
			'litellm_config.json',
			config({ long: provider({ refresh_token: REFRESH_SECRET }), short: provider({ client_secret: SHORT_SECRET }) }),
		);
		const result = await runCli([cfg, '--dry-run'], { cwd: dir });
		assert.equal(result.code, 0, result.stderr);
		const printed = JSON.parse(result.stdout) as Array<{ name: string; data: Record<string, unknown> }>;
		assert.deepEqual(printed.map((c) => [c.name, c.data.clientSecret, c.data.refreshToken]), [
			['long', SECRET_MASK, SECRET_MASK],
			['short', SECRET_MASK, ''],
		]);
		assert.equal(printed[0].data.tokenUrl, 'https://auth.example.com/oauth/token');
		assertNoSecret(result.stdout + result.stderr);
		assert.ok(!/"ab"/.test(result.stdout), 'the short secret is not printed either');
		assert.match(result.stderr, /Dry run: would write n8n-credentials\.json with 2 credentials/);
		assert.deepEqual(readdirSync(dir), ['litellm_config.json']);
	});

	it('--keep-env-references writes $env expressions and says which n8n setting they need', async () => {
		const cfg = write('litellm_config.json', ENV_EXAMPLE);
		const result = await runCli([cfg, '--keep-env-references', '-o', 'out.json'], { cwd: dir, env: ENV });
		assert.equal(result.code, 0, result.stderr);
		const [credential] = JSON.parse(readFileSync(path.join(dir, 'out.json'), 'utf8'));
		assert.equal(credential.data.clientSecret, '={{ $env.MY_CLIENT_SECRET }}');
		assert.match(result.stderr, /N8N_BLOCK_ENV_ACCESS_IN_NODE=false/);
		assert.doesNotMatch(result.stderr, /clear text/);
		assertNoSecret(readFileSync(path.join(dir, 'out.json'), 'utf8') + result.stdout + result.stderr);
	});
});

// ---------------------------------------------------------------------------------------------
// --n8n-url against a fake n8n public API
// ---------------------------------------------------------------------------------------------

interface StoredCredential {
	id: string;
	name: string;
	type: string;
	data: Record<string, unknown>;
}

/**
 * The part of n8n 2.41's public API the CLI uses: POST (409 on a taken id, createdAt in the answer),
 * the credential list with each one's owning project (credential:list), GET by id, PATCH by id. Keys
 * other than the owner's act as another user with another personal project; `scopes` limits a key.
 */
function fakeN8n(apiKey: string, options: { rejectNames?: string[]; otherKeys?: Record<string, { project: string; scopes?: string[] }> } = {}) {
	const stored = new Map<string, StoredCredential & { createdAt: string; updatedAt: string; project: string }>();
	const calls: string[] = [];
	let clock = Date.parse('2026-12-01T00:00:00.000Z');
	const keys: Record<string, { project: string; scopes?: string[] }> = { [apiKey]: { project: 'owner-personal' }, ...options.otherKeys };
	const server: Server = createServer((req, res) => {
		let body = '';
		req.on('data', (chunk: Buffer) => (body += chunk.toString()));
		req.on('end', () => {
			const reply = (status: number, value: unknown) => {
				res.writeHead(status, { 'content-type': 'application/json' });
				res.end(JSON.stringify(value));
			};
			calls.push(`${req.method} ${req.url}`);
			const key = keys[String(req.headers['x-n8n-api-key'])];
			if (!key) return reply(401, { message: 'unauthorized' });
			const allowed = (scope: string) => !key.scopes || key.scopes.includes(scope);
			const input = JSON.parse(body || '{}') as StoredCredential;
			if (options.rejectNames?.includes(input.name)) {
				// A server that echoes the request body: its secret and its Headers' values.
				return reply(400, { message: `request.body.data requires property "tokenUrl" (${String(input.data?.clientSecret)} ${String(input.data?.headers)})` });
			}
			const view = (entry: { id: string; name: string; type: string; createdAt: string; updatedAt: string }) => ({ id: entry.id, name: entry.name, type: entry.type, createdAt: entry.createdAt, updatedAt: entry.updatedAt });
			if (req.method === 'POST' && req.url === '/api/v1/credentials') {
				if (stored.has(input.id)) return reply(409, { message: 'A credential with this ID already exists' });
				const now = new Date((clock += 1000)).toISOString();
				stored.set(input.id, { ...input, createdAt: now, updatedAt: now, project: key.project });
				return reply(200, view(stored.get(input.id)!));
			}
			if (req.method === 'GET' && req.url?.startsWith('/api/v1/credentials?')) {
				if (!allowed('credential:list')) return reply(403, { message: 'Forbidden' });
				return reply(200, { data: [...stored.values()].map((entry) => ({ ...view(entry), shared: [{ id: entry.project, name: entry.project, role: 'credential:owner' }] })), nextCursor: null });
			}
			const match = /^\/api\/v1\/credentials\/([^/?]+)$/.exec(req.url ?? '');
			if (req.method === 'GET' && match) {
				if (!allowed('credential:read')) return reply(403, { message: 'Forbidden' });
				const entry = stored.get(decodeURIComponent(match[1]));
				return entry ? reply(200, view(entry)) : reply(404, { message: 'Credential not found' });
			}
			if (req.method === 'PATCH' && match) {
				const id = decodeURIComponent(match[1]);
				const entry = stored.get(id);
				if (!entry) return reply(404, { message: 'Credential not found' });
				// As in n8n 2.41: the owner's key may update anyone's credential; another user only their own.
				if (key.project !== 'owner-personal' && entry.project !== key.project) return reply(403, { message: 'Forbidden' });
				stored.set(id, { ...entry, ...input, id, updatedAt: new Date((clock += 1000)).toISOString() });
				return reply(200, view(stored.get(id)!));
			}
			return reply(404, { message: 'not found' });
		});
	});
	return {
		stored,
		calls,
		async listen(): Promise<string> {
			await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
			return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
		},
		close: () => new Promise<void>((resolve) => server.close(() => resolve())),
	};
}

describe('CLI --n8n-url (fake n8n public API on 127.0.0.1)', () => {
	const API_KEY = 'n8n-api-key-abcdef123456';
	let dir: string;
	let n8n: ReturnType<typeof fakeN8n>;
	let url: string;
	before(async () => {
		n8n = fakeN8n(API_KEY, { rejectNames: ['rejected'] });
		url = await n8n.listen();
	});
	after(async () => {
		await n8n.close();
	});
	beforeEach(() => {
		dir = mkdtempSync(path.join(os.tmpdir(), 'import-config-api-test-'));
	});
	afterEach(() => {
		rmSync(dir, { recursive: true, force: true });
	});

	it('creates, then updates on the next run; a failing provider does not stop the others; exit 4 on any failure', async () => {
		const cfg = path.join(dir, 'litellm_config.json');
		writeFileSync(cfg, config({ alpha: provider(), rejected: provider({ headers: { 'Ocp-Apim-Subscription-Key': HEADER_SECRET, 'AI-Resource-Group': 'public-group' } }), beta: provider({ refresh_token: REFRESH_SECRET }) }));

		const first = await runCli([cfg, '--n8n-url', url, '--api-key', API_KEY], { cwd: dir });
		assert.equal(first.code, 4, first.stderr);
		assert.match(first.stdout, new RegExp(`created +alpha +\\(id ${credentialIdFor('alpha')}\\)`));
		assert.match(first.stdout, /failed +rejected .*create: HTTP 400: request\.body\.data requires property "tokenUrl"/);
		assert.match(first.stdout, /created +beta/);
		assert.match(first.stdout, /2 created, 0 updated, 1 failed\./);
		assert.deepEqual([...n8n.stored.keys()].sort(), [credentialIdFor('alpha'), credentialIdFor('beta')].sort());
		assert.equal(n8n.stored.get(credentialIdFor('alpha'))!.data.clientSecret, LONG_SECRET);
		assert.equal(n8n.stored.get(credentialIdFor('alpha'))!.type, 'llmProviderOAuth2Api');
		// The server's message quoted the secret: the CLI does not pass it on. Nor the API key.
		assertNoSecret(first.stdout + first.stderr, [LONG_SECRET, REFRESH_SECRET, API_KEY, HEADER_SECRET]);
		assert.match(first.stdout, /public-group/, 'a public header value stays readable');
		assert.deepEqual(readdirSync(dir).filter((name) => name !== '.local'), ['litellm_config.json'], 'no credentials file without --output');
		// The receipts of what it created (HOME is the test's folder): ids and times, no secret.
		const receipts = readFileSync(path.join(dir, '.local', 'state', 'n8n-nodes-oauth2-llm', 'created-credentials.json'), 'utf8');
		assert.match(receipts, new RegExp(credentialIdFor('alpha')));
		assertNoSecret(receipts, [LONG_SECRET, REFRESH_SECRET, API_KEY, HEADER_SECRET]);
		assert.equal(statSync(path.join(dir, '.local', 'state', 'n8n-nodes-oauth2-llm', 'created-credentials.json')).mode & 0o077, 0, 'readable by its owner only');

		writeFileSync(cfg, config({ alpha: provider({ scope: 'changed' }), beta: provider(), gamma: provider() }));
		const second = await runCli([cfg, '--n8n-url', `${url}/api/v1/`], { cwd: dir, env: { N8N_API_KEY: API_KEY } });
		assert.equal(second.code, 0, second.stdout + second.stderr);
		assert.match(second.stdout, /updated +alpha/);
		assert.match(second.stdout, /updated +beta/);
		assert.match(second.stdout, /created +gamma/);
		assert.match(second.stdout, /1 created, 2 updated, 0 failed\./);
		assert.equal(n8n.stored.size, 3, 'no duplicates');
		assert.equal(n8n.stored.get(credentialIdFor('alpha'))!.data.scope, 'changed');
		assert.ok(n8n.calls.includes(`PATCH /api/v1/credentials/${credentialIdFor('alpha')}`));
	});

	it("updates only what it created with the same user's key: a credential another user made with the predictable id first, one deleted and made again, one moved, or one another user's key created is a conflict and keeps its data", async () => {
		// n8n 2.x API keys are JWTs whose `sub` is the user: two keys of the owner (one may not list), one of a member.
		const jwtKey = (sub: string, tag: string) => `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify({ sub, iss: 'n8n' })).toString('base64url')}.${tag}`;
		const ownerKey = jwtKey('owner-1', 'sig-full');
		const ownerLimitedKey = jwtKey('owner-1', 'sig-limited');
		const memberKey = jwtKey('member-1', 'sig-member');
		const owned = fakeN8n(ownerKey, {
			otherKeys: {
				[ownerLimitedKey]: { project: 'owner-personal', scopes: ['credential:create', 'credential:update'] },
				[memberKey]: { project: 'member-personal', scopes: ['credential:create', 'credential:update'] },
			},
		});
		const ownedUrl = await owned.listen();
		const cli = (cfg: string, key: string) => runCli([cfg, '--n8n-url', ownedUrl], { cwd: dir, env: { N8N_API_KEY: key } });
		try {
			const cfg = path.join(dir, 'litellm_config.json');
			writeFileSync(cfg, config({ victim: provider(), mine: provider() }));
			// A member creates "victim" first, through the public API, with the id the CLI will use.
			const planted = await fetch(`${ownedUrl}/api/v1/credentials`, {
				method: 'POST',
				headers: { 'content-type': 'application/json', 'x-n8n-api-key': memberKey },
				body: JSON.stringify({ id: credentialIdFor('victim'), name: 'victim', type: 'llmProviderOAuth2Api', data: { clientId: 'member', tokenUrl: 'https://member.example/token' } }),
			});
			assert.equal(planted.status, 200);
			const run = await cli(cfg, ownerKey);
			assert.equal(run.code, 4, run.stdout + run.stderr);
			assert.match(run.stdout, /failed +victim .*conflict: n8n already holds a credential with id \w+, and this CLI did not create it/);
			assert.match(run.stdout, /created +mine/);
			assert.equal(owned.stored.get(credentialIdFor('victim'))!.data.clientId, 'member', "the member's credential keeps its data");
			assert.equal(owned.stored.get(credentialIdFor('victim'))!.data.clientSecret, undefined, 'and never received the secret');
			assert.ok(!owned.calls.includes(`PATCH /api/v1/credentials/${credentialIdFor('victim')}`), 'no update was even tried');
			assertNoSecret(run.stdout + run.stderr, [LONG_SECRET, ownerKey]);

			// What it created, it updates: same user's key, same creation time, same project.
			const again = await cli(cfg, ownerKey);
			assert.match(again.stdout, /updated +mine/);
			assert.match(again.stdout, /failed +victim .*conflict/);
			const mine = owned.stored.get(credentialIdFor('mine'))!;

			// The owner's key that may neither list nor read credentials cannot check, so it changes nothing.
			const limited = await cli(cfg, ownerLimitedKey);
			assert.match(limited.stdout, /failed +mine .*cannot check that credential \w+ is still the one this CLI created: the API key needs the credential:list scope/);
			// Another user's key does not update what the owner's key created (n8n would refuse the member; an admin it would not).
			const otherUser = await cli(cfg, memberKey);
			assert.match(otherUser.stdout, /failed +mine .*created by this CLI with another user's API key/);
			assert.equal(owned.stored.get(credentialIdFor('mine'))!.updatedAt, mine.updatedAt, 'neither wrote');

			// Deleted and made again by someone else since: the creation time differs.
			owned.stored.set(credentialIdFor('mine'), { ...mine, createdAt: '2026-12-05T00:00:00.000Z', project: 'member-personal', data: { clientId: 'member' } });
			const remade = await cli(cfg, ownerKey);
			assert.match(remade.stdout, /failed +mine .*not the one this CLI created on .*deleted and made again/);
			assert.equal(owned.stored.get(credentialIdFor('mine'))!.data.clientId, 'member');

			// Moved to another project, creation time kept: not the key user's any more.
			owned.stored.set(credentialIdFor('mine'), { ...mine, project: 'member-personal' });
			const moved = await cli(cfg, ownerKey);
			assert.match(moved.stdout, /failed +mine .*now belongs to another project/);

			// A credential the member's key created through this CLI: the owner's key leaves it alone.
			writeFileSync(cfg, config({ theirs: provider() }));
			assert.match((await cli(cfg, memberKey)).stdout, /created +theirs/);
			const theirs = owned.stored.get(credentialIdFor('theirs'))!;
			assert.match((await cli(cfg, ownerKey)).stdout, /failed +theirs .*another user's API key/);
			assert.equal(owned.stored.get(credentialIdFor('theirs'))!.updatedAt, theirs.updatedAt);
		} finally {
			await owned.close();
		}
	});

	it('reports every provider as failed with a wrong API key, and when n8n cannot be reached', async () => {
		const cfg = path.join(dir, 'litellm_config.json');
		writeFileSync(cfg, config({ one: provider(), two: provider() }));
		const wrongKey = await runCli([cfg, '--n8n-url', url], { cwd: dir, env: { N8N_API_KEY: 'wrong-key-000' } });
		assert.equal(wrongKey.code, 4);
		assert.match(wrongKey.stdout, /failed +one .*HTTP 401/);
		assert.match(wrongKey.stdout, /failed +two .*HTTP 401/);
		assert.doesNotMatch(wrongKey.stdout + wrongKey.stderr, /wrong-key-000/);

		const closed = fakeN8n(API_KEY);
		const closedUrl = await closed.listen();
		await closed.close();
		const unreachable = await runCli([cfg, '--n8n-url', closedUrl, '--api-key', API_KEY], { cwd: dir });
		assert.equal(unreachable.code, 4);
		assert.match(unreachable.stdout, /failed +one .*ECONNREFUSED/);
		assert.match(unreachable.stdout, /0 created, 0 updated, 2 failed\./);
	});

	it('writes the file too when --output is given, and sends nothing on --dry-run', async () => {
		const cfg = path.join(dir, 'litellm_config.json');
		writeFileSync(cfg, config({ delta: provider() }));
		const callsBefore = n8n.calls.length;
		const dry = await runCli([cfg, '--n8n-url', url, '--dry-run'], { cwd: dir });
		assert.equal(dry.code, 0, dry.stderr);
		assert.match(dry.stderr, /would create or update through http:\/\/127\.0\.0\.1:\d+\/api\/v1\//);
		assert.equal(n8n.calls.length, callsBefore);

		const both = await runCli([cfg, '--n8n-url', url, '--api-key', API_KEY, '-o', 'creds.json'], { cwd: dir });
		assert.equal(both.code, 0, both.stderr);
		assert.ok(existsSync(path.join(dir, 'creds.json')));
		assert.ok(n8n.stored.has(credentialIdFor('delta')));
	});
});
