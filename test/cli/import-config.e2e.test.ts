/**
 * The config import CLI against a REAL n8n 2.41.1 (test/harness/n8n.ts) and the sandbox provider
 * (real OAuth2 server + OpenAI-compatible chat API, its own child process so it answers while n8n
 * runs): litellm_config.json → the built CLI (dist/cli/import-config.js, what `npx` runs) →
 * `n8n import:credentials` → a workflow per imported credential → import again, no duplicates; then
 * `$env` references and the public API mode.
 *
 *   npm run build && node --import tsx --test test/cli/import-config.e2e.test.ts
 *
 * First run installs n8n (~7 min, cached outside the repo).
 */
import assert from 'node:assert/strict';
import { runNode, type CliResult } from './run-cli';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { credentialIdFor } from '../../cli/litellm-config';
import { extractJsonObject, N8nInstance, type RunResult, stagePackage } from '../harness/n8n';
import { type Sandbox, startSandbox } from '../sandbox/sandbox';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const BUILT_CLI = path.join(REPO_ROOT, 'dist', 'cli', 'import-config.js');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const STEP_TIMEOUT_MS = 6 * 60_000;
const TYPE = 'llmProviderOAuth2Api';

let sandbox: Sandbox;
let n8n: N8nInstance;
let extensionsDir: string;
let workDir: string;

/** The built CLI, as `npx n8n-nodes-oauth2-llm` runs it, with only the environment given. */
function runBuiltCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
	return runNode([BUILT_CLI, ...args], { cwd: workDir, env });
}

/** Two providers on the sandbox: one posts its secret in the body, one uses HTTP Basic. */
function litellmConfig(extra: { post?: Record<string, unknown>; basic?: Record<string, unknown> } = {}) {
	return {
		// The post client's base URL comes from LiteLLM's model_list; the basic client's from --base-url.
		model_list: [{ model_name: 'echo', litellm_params: { model: 'sandbox_post/sandbox-echo', api_base: sandbox.baseUrl } }],
		oauth2_providers: {
			sandbox_post: {
				client_id: sandbox.clients.post.id,
				client_secret: 'os.environ/SANDBOX_POST_SECRET',
				token_url: sandbox.tokenUrl,
				scope: 'llm.chat',
				...extra.post,
			},
			sandbox_basic: {
				client_id: sandbox.clients.basic.id,
				client_secret: 'os.environ/SANDBOX_BASIC_SECRET',
				token_url: sandbox.tokenUrl,
				client_authentication: 'header',
				...extra.basic,
			},
		},
	};
}

const secretsEnv = () => ({ SANDBOX_POST_SECRET: sandbox.clients.post.secret, SANDBOX_BASIC_SECRET: sandbox.clients.basic.secret });

async function writeConfig(name: string, value: unknown): Promise<string> {
	const file = path.join(workDir, name);
	await fs.writeFile(file, JSON.stringify(value, null, 2));
	return file;
}

/**
 * A member of this n8n, signed in apart from the owner's harness session: invited by the owner
 * (POST /rest/invitations; without SMTP n8n answers with the accept link), signed up through the
 * link's token, with an API key of their own (a member's key may create credentials, never list them).
 */
async function memberSession(instance: N8nInstance): Promise<{ apiKey: string; rest(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: any }> }> {
	const email = 'member@example.com';
	const invited = await instance.rest('POST', '/rest/invitations', [{ email, role: 'global:member' }]);
	assert.equal(invited.status, 200, JSON.stringify(invited.body));
	const acceptUrl = String((invited.body as { data: Array<{ user: { inviteAcceptUrl: string } }> }).data[0].user.inviteAcceptUrl);
	const token = new URL(acceptUrl).searchParams.get('token');
	assert.ok(token, acceptUrl);
	const browserId = 'member-browser-e2e';
	let cookie = '';
	const rest = async (method: string, urlPath: string, body?: unknown) => {
		const answer = await fetch(`${instance.baseUrl}${urlPath}`, {
			method,
			headers: { accept: 'application/json', 'browser-id': browserId, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(cookie ? { cookie } : {}) },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const setCookie = answer.headers.getSetCookie().find((value) => value.startsWith('n8n-auth='));
		if (setCookie) cookie = setCookie.split(';')[0];
		const text = await answer.text();
		let parsed: unknown = text;
		try {
			parsed = JSON.parse(text);
		} catch {
			// not JSON
		}
		return { status: answer.status, body: parsed as any };
	};
	const accepted = await rest('POST', '/rest/invitations/accept', { token, firstName: 'Mem', lastName: 'Ber', password: 'Member-password-1' });
	assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
	assert.ok(cookie, 'the member is signed in');
	const key = await rest('POST', '/rest/api-keys', { label: 'member key', scopes: ['credential:create', 'credential:update'], expiresAt: null });
	assert.equal(key.status, 200, JSON.stringify(key.body));
	return { apiKey: String(key.body.data.rawApiKey), rest };
}

/** `n8n import:credentials --input=<file>` with the file exactly as the CLI wrote it. */
async function importCredentialsFile(file: string, env?: Record<string, string>): Promise<RunResult> {
	const result = await n8n.cli(['import:credentials', `--input=${file}`], { env });
	const output = result.stdout + result.stderr;
	// n8n 2.41 may die with SIGSEGV at exit after finishing (see the harness' cliChecked).
	assert.ok(/Successfully imported 2 credentials/.test(output) && (result.exitCode === 0 || result.signal === 'SIGSEGV'), output.slice(-4000));
	return result;
}

function chatWorkflow(credential: { id: string; name: string }) {
	return {
		name: `e2e: OAuth2 LLM Chat with ${credential.name}`,
		nodes: [
			{ id: '00000000-0000-4000-8000-000000000001', name: 'Manual', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
			{
				id: '00000000-0000-4000-8000-000000000002',
				name: 'OAuth2 LLM Chat',
				type: 'CUSTOM.oAuth2LlmChat',
				typeVersion: 1,
				position: [300, 0],
				parameters: {
					model: { __rl: true, mode: 'id', value: 'sandbox-echo' },
					messages: { values: [{ role: 'user', content: 'hello' }] },
				},
				credentials: { [TYPE]: credential },
			},
		],
		connections: { Manual: { main: [[{ node: 'OAuth2 LLM Chat', type: 'main', index: 0 }]] } },
		settings: { executionOrder: 'v1' },
	};
}

/** `n8n execute --rawOutput` with extra environment for n8n (the harness' execute() takes none). */
async function execute(workflowId: string, env?: Record<string, string>) {
	const run = await n8n.cli(['execute', `--id=${workflowId}`, '--rawOutput'], { env, timeoutMs: STEP_TIMEOUT_MS });
	const result = extractJsonObject(run.stdout);
	const json = result?.data?.resultData?.runData?.['OAuth2 LLM Chat']?.[0]?.data?.main?.[0]?.[0]?.json;
	const error = result?.data?.resultData?.error;
	return { status: result?.status as string | undefined, json, error, output: run.stdout + run.stderr };
}

async function tokensIssuedTo(clientId: string): Promise<number> {
	return (await sandbox.stats()).clients[clientId]?.tokensIssued ?? 0;
}

describe('litellm_config.json → credentials in a real n8n 2.41', () => {
	before(
		async () => {
			if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first`);
			workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'import-config-e2e-'));
			sandbox = await startSandbox();
			extensionsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'import-config-e2e-ext-'));
			await stagePackage({ repoRoot: REPO_ROOT, destDir: extensionsDir });
			n8n = await N8nInstance.create({ extensionsDir });
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await sandbox?.stop();
		for (const dir of [extensionsDir, workDir]) if (dir) await fs.rm(dir, { recursive: true, force: true });
	});

	beforeEach(async () => {
		await sandbox.reset();
	});

	it('the generated file imports with n8n import:credentials; a workflow with each credential gets the echo', { timeout: STEP_TIMEOUT_MS * 3 }, async () => {
		const config = await writeConfig('litellm_config.json', litellmConfig());
		const generated = await runBuiltCli([config, '--base-url', sandbox.baseUrl, '-o', 'creds.json'], secretsEnv());
		assert.equal(generated.code, 0, generated.stderr);
		for (const secret of Object.values(secretsEnv())) assert.ok(!(generated.stdout + generated.stderr).includes(secret));

		await importCredentialsFile(path.join(workDir, 'creds.json'));
		const stored = (await n8n.exportCredentials()).filter((credential) => credential.type === TYPE);
		assert.deepEqual(
			stored.map(({ id, name }) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name)),
			[
				{ id: credentialIdFor('sandbox_basic'), name: 'sandbox_basic' },
				{ id: credentialIdFor('sandbox_post'), name: 'sandbox_post' },
			],
		);

		for (const [name, client] of [
			['sandbox_post', sandbox.clients.post],
			['sandbox_basic', sandbox.clients.basic],
		] as const) {
			const before = await tokensIssuedTo(client.id);
			const workflowId = await n8n.importWorkflow(chatWorkflow({ id: credentialIdFor(name), name }));
			const run = await execute(workflowId);
			assert.equal(run.status, 'success', `${name}: ${JSON.stringify(run.error)?.slice(0, 1500)}\n${run.output.slice(-3000)}`);
			assert.equal(run.json?.content, 'Echo from sandbox-echo: hello', name);
			assert.ok((await tokensIssuedTo(client.id)) > before, `${name}: the token came from its own client (${client.id})`);
		}
	});

	it('importing again updates the same two credentials: nothing is duplicated', { timeout: STEP_TIMEOUT_MS }, async () => {
		const config = await writeConfig('litellm_config.json', litellmConfig({ post: { expiry_buffer_seconds: 30 } }));
		const generated = await runBuiltCli([config, '--base-url', sandbox.baseUrl, '-o', 'creds.json'], secretsEnv());
		assert.equal(generated.code, 0, generated.stderr);
		await importCredentialsFile(path.join(workDir, 'creds.json'));

		const stored = (await n8n.exportCredentials()).filter((credential) => credential.type === TYPE);
		assert.equal(stored.length, 2, JSON.stringify(stored.map(({ id, name }) => ({ id, name }))));
		const post = stored.find((credential) => credential.name === 'sandbox_post');
		assert.equal(post?.id, credentialIdFor('sandbox_post'));
		assert.equal(post?.data.expiryBufferSeconds, 30, 'the second import updated the stored data');
	});

	it('--keep-env-references: n8n resolves ={{ $env.NAME }} in the credential only with N8N_BLOCK_ENV_ACCESS_IN_NODE=false', { timeout: STEP_TIMEOUT_MS * 3 }, async () => {
		const config = await writeConfig('litellm_config.json', litellmConfig());
		// Without the variables in this shell: the references are kept unchecked, for n8n to resolve.
		const generated = await runBuiltCli([config, '--base-url', sandbox.baseUrl, '--keep-env-references', '-o', 'creds-env.json']);
		assert.equal(generated.code, 0, generated.stderr);
		assert.match(generated.stderr, /N8N_BLOCK_ENV_ACCESS_IN_NODE=false/);
		const written = await fs.readFile(path.join(workDir, 'creds-env.json'), 'utf8');
		assert.ok(written.includes('"clientSecret": "={{ $env.SANDBOX_POST_SECRET }}"'));
		for (const secret of Object.values(secretsEnv())) assert.ok(!written.includes(secret), 'no secret in the file');
		await importCredentialsFile(path.join(workDir, 'creds-env.json'));

		const workflowId = await n8n.importWorkflow(chatWorkflow({ id: credentialIdFor('sandbox_basic'), name: 'sandbox_basic' }));
		// Same workflow, same variables in n8n's environment; only the setting differs. (The node reports
		// the blocked case as "No OAuth2 LLM Provider credential is set on this node": loadProvider in
		// nodes/shared/n8n/credential.ts replaces getCredentials' own error, "access to env vars denied".)
		const blocked = await execute(workflowId, secretsEnv());
		assert.notEqual(blocked.status, 'success', 'n8n 2.x blocks $env by default');
		assert.equal(await tokensIssuedTo(sandbox.clients.basic.id), 0, 'no token request without the secret');

		const allowed = await execute(workflowId, { ...secretsEnv(), N8N_BLOCK_ENV_ACCESS_IN_NODE: 'false' });
		assert.equal(allowed.status, 'success', `${JSON.stringify(allowed.error)?.slice(0, 1500)}\n${allowed.output.slice(-3000)}`);
		assert.equal(allowed.json?.content, 'Echo from sandbox-echo: hello');
	});

	it("--n8n-url: the public API creates, and updates only what this CLI created there: a credential a member made first with the predictable id, or one imported from a file, is a conflict and keeps its data", { timeout: STEP_TIMEOUT_MS * 2 }, async () => {
		await n8n.start();
		try {
			await n8n.setupOwner();
			const key = await n8n.rest('POST', '/rest/api-keys', {
				label: 'import-config e2e',
				scopes: ['credential:create', 'credential:update', 'credential:list'],
				expiresAt: null,
			});
			assert.equal(key.status, 200, JSON.stringify(key.body));
			const apiKey = String(key.data.rawApiKey);

			// A member of the same n8n, with an API key of their own (user management needs no licence).
			const member = await memberSession(n8n);
			const planted = await fetch(`${n8n.baseUrl}/api/v1/credentials`, {
				method: 'POST',
				headers: { 'content-type': 'application/json', 'x-n8n-api-key': member.apiKey },
				body: JSON.stringify({ id: credentialIdFor('shared_gateway'), name: 'shared_gateway', type: TYPE, data: { baseUrl: 'https://member.example/v1', tokenUrl: 'https://member.example/token', clientId: 'member-client', clientSecret: 'member-secret' } }),
			});
			assert.equal(planted.status, 200, await planted.text());
			const listCredentials = async () => {
				const listed = await fetch(`${n8n.baseUrl}/api/v1/credentials?limit=100`, { headers: { 'x-n8n-api-key': apiKey } });
				assert.equal(listed.status, 200);
				return ((await listed.json()) as { data: Array<{ id: string; name: string; type: string; updatedAt: string; shared?: Array<{ id: string; role: string }> }> }).data.filter((c) => c.type === TYPE);
			};
			const plantedBefore = (await listCredentials()).find((c) => c.id === credentialIdFor('shared_gateway'))!;

			const value = litellmConfig() as { oauth2_providers: Record<string, unknown> };
			value.oauth2_providers.sandbox_api = {
				client_id: sandbox.clients.post.id,
				client_secret: 'os.environ/SANDBOX_POST_SECRET',
				token_url: sandbox.tokenUrl,
				base_url: sandbox.baseUrl,
				headers: { 'X-Team': 'e2e' },
			};
			value.oauth2_providers.shared_gateway = { client_id: 'admin-client', client_secret: 'os.environ/SANDBOX_POST_SECRET', token_url: sandbox.tokenUrl, base_url: sandbox.baseUrl };
			const config = await writeConfig('litellm_config.json', value);
			const stateFile = path.join(workDir, 'receipts.json');
			const run = () => runBuiltCli([config, '--base-url', sandbox.baseUrl, '--n8n-url', n8n.baseUrl, '--state-file', stateFile], { ...secretsEnv(), N8N_API_KEY: apiKey });
			const first = await run();
			assert.equal(first.code, 4, first.stdout + first.stderr);
			assert.match(first.stdout, /created +sandbox_api/);
			// Imported from a file earlier (n8n import:credentials), not created here: left as they are.
			assert.match(first.stdout, /failed +sandbox_post .*this CLI did not create it/);
			assert.match(first.stdout, /failed +sandbox_basic .*this CLI did not create it/);
			assert.match(first.stdout, /failed +shared_gateway .*conflict: n8n already holds a credential with id \w+, and this CLI did not create it/);
			for (const secret of [apiKey, sandbox.clients.post.secret, sandbox.clients.basic.secret]) assert.ok(!(first.stdout + first.stderr).includes(secret));

			const second = await run();
			assert.match(second.stdout, /updated +sandbox_api/);
			assert.match(second.stdout, /failed +shared_gateway .*conflict/);
			assert.match(second.stdout, /1 updated/);

			const after = await listCredentials();
			assert.deepEqual(after.map((c) => c.id).sort(), ['sandbox_api', 'sandbox_basic', 'sandbox_post', 'shared_gateway'].map(credentialIdFor).sort(), 'no duplicates');
			const plantedAfter = after.find((c) => c.id === credentialIdFor('shared_gateway'))!;
			assert.equal(plantedAfter.updatedAt, plantedBefore.updatedAt, "the member's credential was never written");
			assert.equal(plantedAfter.shared?.find((share) => share.role === 'credential:owner')?.id, plantedBefore.shared?.find((share) => share.role === 'credential:owner')?.id);
			// The member still reads their own data (n8n blanks the secret fields; the others are theirs).
			const theirs = await member.rest('GET', `/rest/credentials/${credentialIdFor('shared_gateway')}?includeData=true`);
			assert.equal(theirs.status, 200, JSON.stringify(theirs.body));
			assert.equal(theirs.body.data.data.clientId, 'member-client');
			assert.equal(theirs.body.data.data.tokenUrl, 'https://member.example/token');
			assert.ok(!JSON.stringify(theirs.body).includes(sandbox.clients.post.secret), "the admin's secret never reached the member's credential");
		} finally {
			await n8n.stop();
		}

		// What the public API stored works in a run (headers as JSON text, the number field as a number…).
		const workflowId = await n8n.importWorkflow(chatWorkflow({ id: credentialIdFor('sandbox_api'), name: 'sandbox_api' }));
		const run = await execute(workflowId);
		assert.equal(run.status, 'success', `${JSON.stringify(run.error)?.slice(0, 1500)}\n${run.output.slice(-3000)}`);
		assert.equal(run.json?.content, 'Echo from sandbox-echo: hello');
		const chat = (await sandbox.requests()).find((request) => request.kind === 'chat');
		assert.equal(chat?.headers['x-team'], 'e2e', 'the headers field reached the LLM API');
	});
});
