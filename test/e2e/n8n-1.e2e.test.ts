/**
 * Issue 11: the package in a REAL n8n 1.123 on this machine's Node 20 (test/harness/n8n.ts installs it:
 * xlsx from the registry, sqlite3 against Debian's headers, the legacy expression engine). Installed as
 * a community package, the way users get it. The credential comes from the package's own import CLI.
 *
 * n8n 1.x has no AI node SDK: the OAuth2 LLM Chat node and the credential work, the Chat Model sub-node
 * is hidden (test/loader.test.ts shows the load itself).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { httpRequestWorkflow, manualExampleWorkflow } from '../../examples/workflows';
import { runNode } from '../cli/run-cli';
import { credentialShapes } from '../helpers/credential-shapes';
import { N8N_1_VERSION, N8nInstance, type ExecuteResult } from '../harness/n8n';
import { startSandbox, type Sandbox } from '../sandbox/sandbox';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 180_000;
const CHAT_NODE = 'OAuth2 LLM Chat';
const CLIENT = { id: 'e2e-n8n1-client', secret: `OneTwentyThree${randomBytes(10).toString('hex')}`, authMethod: 'client_secret_post' as const };

let sandbox: Sandbox;
let n8n: N8nInstance;
let credential: { id: string; name: string };

function explain(result: ExecuteResult): string {
	return `exit ${result.exitCode}; error ${JSON.stringify(result.error)?.slice(0, 2000)}\n${(result.stdout + result.stderr).slice(-4000)}`;
}

async function counters() {
	return (await sandbox.stats()).clients[CLIENT.id] ?? { tokenRequests: 0, tokensIssued: 0, chatRequests: 0, chatRejected401: 0 };
}

describe(`the package in a real n8n ${N8N_1_VERSION} (Node 20)`, () => {
	before(
		async () => {
			sandbox = await startSandbox({ clients: { n8n1: CLIENT } });
			n8n = await N8nInstance.create({ version: N8N_1_VERSION });
			await n8n.installCommunityPackage(REPO_ROOT);
			// The credential as the import CLI writes it, from a litellm_config.json with os.environ/ references.
			const dir = mkdtempSync(path.join(tmpdir(), 'n8n1-import-'));
			const config = path.join(dir, 'litellm_config.json');
			writeFileSync(
				config,
				JSON.stringify({
					oauth2_providers: {
						gateway_on_n8n1: {
							client_id: CLIENT.id,
							client_secret: 'os.environ/N8N1_CLIENT_SECRET',
							token_url: sandbox.tokenUrl,
							api_base: sandbox.baseUrl,
							scope: 'llm.chat llm.models',
						},
					},
				}),
			);
			const output = path.join(dir, 'creds.json');
			const cli = await runNode([path.join(REPO_ROOT, 'dist', 'cli', 'import-config.js'), config, '-o', output], {
				cwd: dir,
				env: { N8N1_CLIENT_SECRET: CLIENT.secret },
			});
			assert.equal(cli.code, 0, cli.stderr);
			const credentials = JSON.parse(readFileSync(output, 'utf8')) as Array<{ id: string; name: string; type: string; data: Record<string, unknown> }>;
			credential = { id: credentials[0].id, name: credentials[0].name };
			await n8n.importCredentials(credentials);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await sandbox?.stop();
	});

	beforeEach(async () => await sandbox.reset());

	it('n8n execute: three items through the OAuth2 LLM Chat node, one token for all', { timeout: RUN_TIMEOUT_MS }, async () => {
		const questions = ['What is 1 + 1?', 'And 2 + 2?', 'And 3 + 3?'];
		const id = await n8n.importWorkflow(
			manualExampleWorkflow({ id: 'n8n1Manual3Items', questions, credentialId: credential.id, credentialName: credential.name }),
		);
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		assert.equal(result.status, 'success', explain(result));
		const items = result.runData?.[CHAT_NODE]?.[0]?.data?.main?.[0] as Array<{ json: { content: string } }>;
		assert.deepEqual(items?.map((item) => item.json.content), questions.map((question) => `Echo from sandbox-echo: ${question}`), explain(result));
		assert.equal((await counters()).tokensIssued, 1);
	});

	it("n8n's HTTP Request node with this credential (authenticate): the token goes to the Base URL's origin only", { timeout: RUN_TIMEOUT_MS }, async () => {
		const question = 'Through the HTTP Request node on 1.123?';
		const wf = httpRequestWorkflow(sandbox.baseUrl, question, credential, 4.3);
		const foreignNode = { ...wf.nodes[1], id: 'e2e00000-0000-4000-8000-000000000013', name: 'Foreign', onError: 'continueRegularOutput', parameters: { ...wf.nodes[1].parameters, url: 'http://127.0.0.1:1/v1/chat/completions' } };
		const id = await n8n.importWorkflow({
			...wf,
			nodes: [...wf.nodes, foreignNode],
			connections: { Manual: { main: [[{ node: 'HTTP Request', type: 'main', index: 0 }, { node: 'Foreign', type: 'main', index: 0 }]] } },
		});
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		assert.equal(result.runData?.['HTTP Request']?.[0]?.data?.main?.[0]?.[0]?.json?.choices?.[0]?.message?.content, `Echo from sandbox-echo: ${question}`, explain(result));
		assert.match(JSON.stringify(result.runData?.Foreign?.[0]?.data?.main?.[0]?.[0]?.json), /sends its access token only to/, explain(result));
	});

	for (const mode of ['continueRegularOutput', 'continueErrorOutput'] as const) {
		it(`Continue On Fail (${mode}): the empty message is an error item with its description, the others are answered`, { timeout: RUN_TIMEOUT_MS }, async () => {
			const wf = manualExampleWorkflow({
				id: `n8n1OnError${mode === 'continueErrorOutput' ? 'Err' : 'Reg'}`,
				questions: ['What is 2 + 2?', ''],
				credentialId: credential.id,
				credentialName: credential.name,
			});
			const nodes = wf.nodes.map((node) => (node.name === CHAT_NODE ? { ...node, onError: mode } : node));
			const id = await n8n.importWorkflow({ ...wf, nodes });
			const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
			assert.equal(result.exitCode, 0, explain(result));
			const outputs = result.runData?.[CHAT_NODE]?.[0]?.data?.main as Array<Array<{ json: any; pairedItem: any }>>;
			const failed = mode === 'continueErrorOutput' ? outputs?.[1] : outputs?.[0]?.filter((item) => item.json.error);
			assert.equal(failed?.length, 1, JSON.stringify(outputs));
			assert.match(failed[0].json.error, /Message \d \(user\) is empty/);
			// n8n 1.x routes only {error} or {error, message} to the error output: the description is in `message` there.
			const description = mode === 'continueErrorOutput' ? failed[0].json.message : failed[0].json.details.description;
			assert.match(description, /check that the expression in it resolves/);
			assert.equal(failed[0].pairedItem.item, 1);
			assert.equal(outputs[0].filter((item) => !item.json.error).length, 1);
		});
	}

	it("the node panel lists the chat node and hides the Chat Model; the credential dialog's Test through n8n 1.123's REST API: OK for the imported credential, the provider's invalid_client for a wrong secret typed into it", { timeout: RUN_TIMEOUT_MS }, async () => {
		await n8n.start({ timeoutMs: 150_000 });
		await n8n.setupOwner();
		// What the editor's node panel is built from: the chat node listed, the Chat Model hidden (no AI node SDK).
		const types = await n8n.rest('GET', '/types/nodes.json');
		const listed = (name: string) => (types.body as Array<{ name: string; hidden?: boolean }>).find((type) => type.name === `n8n-nodes-oauth2-llm.${name}`);
		assert.ok(listed('oAuth2LlmChat') && !listed('oAuth2LlmChat')!.hidden, 'the OAuth2 LLM Chat node is in the panel');
		assert.equal(listed('oAuth2LlmChatModel')?.hidden, true, 'the Chat Model is hidden on n8n 1.x');
		const good = await n8n.testCredential({ id: credential.id, type: 'llmProviderOAuth2Api' });
		assert.equal(good.status, 'OK', JSON.stringify(good.body));
		assert.match(good.message, /Connection successful/);
		const wrong = `Wrong-${randomBytes(8).toString('hex')}`;
		// n8n 1.123 tests only stored credentials (its editor saves first): the stored one, edited in the dialog.
		const bad = await n8n.testCredential({
			id: credential.id,
			name: credential.name,
			type: 'llmProviderOAuth2Api',
			data: { baseUrl: sandbox.baseUrl, tokenUrl: sandbox.tokenUrl, clientId: CLIENT.id, clientSecret: wrong, clientAuthentication: 'body' },
		});
		assert.equal(bad.status, 'Error', bad.message);
		assert.match(bad.message, /invalid_client/);
		assert.ok(!JSON.stringify(bad.body).includes(wrong), 'the wrong secret is not shown');
		for (const secret of [CLIENT.secret, wrong]) assert.ok(!n8n.logs().includes(secret), "a secret is in n8n's logs");
	});

	it("n8n 1.123's public API creates a credential of every grant and client authentication, including those saved before Grant Type existed", { timeout: RUN_TIMEOUT_MS }, async () => {
		// The server and owner from the test above.
		for (const { label, data } of credentialShapes()) {
			// n8n 1.123 adds Allowed HTTP Request Domains to every credential with `authenticate`, and its public API
			// requires Allowed Domains unless that field is given (n8n's own rule, whatever the package).
			const created = await n8n.publicApi('POST', '/credentials', { name: `shape: ${label}`, type: 'llmProviderOAuth2Api', data: { ...data, allowedHttpRequestDomains: 'all' } });
			assert.equal(created.status, 200, `${label}: ${JSON.stringify(created.body).slice(0, 800)}`);
			assert.equal((await n8n.publicApi('DELETE', `/credentials/${created.body.id}`)).status, 200);
		}
	});
});
