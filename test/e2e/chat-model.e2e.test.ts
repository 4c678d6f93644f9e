/**
 * OAuth2 LLM Chat Model in a REAL n8n 2.41.1 (test/harness/n8n.ts): the built package is staged into
 * a custom extensions folder (node type `CUSTOM.oAuth2LlmChatModel`), n8n runs `execute` on imported
 * workflows, and the sandbox provider (own child process, so it answers while n8n runs) plays the
 * OAuth2 authorization server and the OpenAI-compatible LLM.
 *
 *   npm run build && node --import tsx --test test/e2e/chat-model.e2e.test.ts
 *
 * First run installs n8n (~7 min, cached outside the repo).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { sandboxCredential } from '../../examples/workflows';
import { N8nInstance, stagePackage } from '../harness/n8n';
import { startSandbox, type Sandbox } from '../sandbox/sandbox';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 180_000;
const CREDENTIAL = { id: 'oauth2LlmSandbox1', name: 'Sandbox LLM' };

let sandbox: Sandbox;
let n8n: N8nInstance;
let extensionsDir: string;

function node(name: string, type: string, typeVersion: number, parameters: Record<string, unknown>, x: number, extra: object = {}) {
	return { id: `00000000-0000-4000-8000-${String(x).padStart(12, '0')}`, name, type, typeVersion, position: [x, 0], parameters, ...extra };
}

const manualTrigger = node('Manual', 'n8n-nodes-base.manualTrigger', 1, {}, 0);
const chatModel = node(
	'OAuth2 LLM Chat Model',
	'CUSTOM.oAuth2LlmChatModel',
	1,
	{ model: { __rl: true, mode: 'id', value: 'sandbox-echo' }, options: { maxRetries: 2 } },
	300,
	{ credentials: { llmProviderOAuth2Api: CREDENTIAL } },
);
const modelConnection = (target: string) => ({ ai_languageModel: [[{ node: target, type: 'ai_languageModel', index: 0 }]] });

function agentWithCalculator(question: string) {
	return {
		name: `e2e: agent + calculator (${question})`,
		nodes: [
			manualTrigger,
			node('AI Agent', '@n8n/n8n-nodes-langchain.agent', 3.1, { promptType: 'define', text: question, options: {} }, 200),
			chatModel,
			node('Calculator', '@n8n/n8n-nodes-langchain.toolCalculator', 1, {}, 400),
		],
		connections: {
			Manual: { main: [[{ node: 'AI Agent', type: 'main', index: 0 }]] },
			'OAuth2 LLM Chat Model': modelConnection('AI Agent'),
			Calculator: { ai_tool: [[{ node: 'AI Agent', type: 'ai_tool', index: 0 }]] },
		},
		settings: { executionOrder: 'v1' },
	};
}

function basicLlmChain(prompt: string) {
	return {
		name: 'e2e: basic LLM chain',
		nodes: [
			manualTrigger,
			node('Basic LLM Chain', '@n8n/n8n-nodes-langchain.chainLlm', 1.9, { promptType: 'define', text: prompt }, 200),
			chatModel,
		],
		connections: {
			Manual: { main: [[{ node: 'Basic LLM Chain', type: 'main', index: 0 }]] },
			'OAuth2 LLM Chat Model': modelConnection('Basic LLM Chain'),
		},
		settings: { executionOrder: 'v1' },
	};
}

function firstJson(runData: any, nodeName: string): any {
	return runData?.[nodeName]?.[0]?.data?.main?.[0]?.[0]?.json;
}

async function counters() {
	return (await sandbox.stats()).clients[sandbox.clients.post.id];
}

function explain(result: { exitCode: number; stdout: string; stderr: string; error?: unknown }): string {
	return `exit ${result.exitCode}; error ${JSON.stringify(result.error)?.slice(0, 2000)}\n${(result.stdout + result.stderr).slice(-4000)}`;
}

describe('OAuth2 LLM Chat Model in a real n8n 2.41', () => {
	before(
		async () => {
			sandbox = await startSandbox(); // child process: n8n calls it while this process waits
			extensionsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'oauth2-llm-e2e-ext-'));
			await stagePackage({ repoRoot: REPO_ROOT, destDir: extensionsDir });
			n8n = await N8nInstance.create({ extensionsDir });
			await n8n.importCredentials([
				{
					...sandboxCredential(sandbox),
					...CREDENTIAL,
				},
			]);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await sandbox?.stop();
		if (extensionsDir) await fs.rm(extensionsDir, { recursive: true, force: true });
	});

	beforeEach(async () => {
		await sandbox.reset();
		await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0 });
	});

	it('Manual Trigger → AI Agent with this model and n8n\'s Calculator tool: the answer holds the tool\'s result', { timeout: RUN_TIMEOUT_MS }, async () => {
		const id = await n8n.importWorkflow(agentWithCalculator('What is 12*34?'));
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		assert.equal(result.status, 'success', explain(result));
		// The sandbox answers "The result is <tool message>"; n8n hands a tool's output to the model as
		// the tool node's items, here [{"response":"408"}].
		const output = String(firstJson(result.runData, 'AI Agent')?.output);
		assert.match(output, /^The result is /);
		assert.match(output, /\b408\b/);
		assert.ok(result.runData?.Calculator, 'the Calculator tool ran');

		const chats = (await sandbox.requests()).filter((request) => request.kind === 'chat');
		assert.equal(chats.length, 2, 'one call that asks for the tool, one that answers with its result');
		const first = chats[0].body as any;
		const offered = first.tools.map((tool: any) => tool.function.name);
		assert.deepEqual(offered, ['Calculator'], 'n8n names the Calculator tool after its node');
		assert.equal(first.tools[0].function.parameters.properties.input.type, 'string');
		const second = chats[1].body as any;
		const toolCall = second.messages.at(-2).tool_calls[0];
		// n8n's agent engine rebuilds the assistant message from its own tool-call record, whose input also
		// carries the call id (n8n-nodes-langchain utils/agent-execution/buildSteps.js); ours is `input`.
		assert.equal(JSON.parse(toolCall.function.arguments).input, '12*34');
		assert.equal(second.messages.at(-1).role, 'tool');
		assert.equal(second.messages.at(-1).tool_call_id, toolCall.id);
		assert.match(second.messages.at(-1).content, /\b408\b/);
		const stats = await counters();
		assert.equal(stats.tokensIssued, 1);
		assert.equal(stats.chatRejected401, 0);
	});

	it('Manual Trigger → Basic LLM Chain with this model', { timeout: RUN_TIMEOUT_MS }, async () => {
		const id = await n8n.importWorkflow(basicLlmChain('Say hello to n8n'));
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		assert.equal(firstJson(result.runData, 'Basic LLM Chain')?.text, 'Echo from sandbox-echo: Say hello to n8n');
		assert.equal((await counters()).chatRequests, 1);
	});

	it('an agent run that outlives its first token still succeeds: the second model call takes a new token', { timeout: RUN_TIMEOUT_MS }, async () => {
		// A 6 s token counts as expired after 3 s (the expiry buffer shrinks to half a short life); each chat
		// call takes 3.5 s, so the agent's second call starts after the first token's usable life, and the
		// whole run (~7 s) outlives the first token itself. The sandbox still accepts the first token when
		// it checks it 3.5 s after issue (JWT exp is whole seconds: at least 5 s of real life), so a 401
		// replay cannot be what saves the run.
		await sandbox.configure({ tokenTtlSeconds: 6, chatLatencyMs: 3500 });
		const id = await n8n.importWorkflow(agentWithCalculator('calculate 7*6'));
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		assert.match(String(firstJson(result.runData, 'AI Agent')?.output), /^The result is .*\b42\b/);

		const requests = await sandbox.requests();
		const chats = requests.filter((request) => request.kind === 'chat');
		const tokenRequests = requests.filter((request) => request.kind === 'token');
		assert.equal(chats.length, 2);
		// The second answer leaves the sandbox 3.5 s after that call arrived.
		assert.ok(chats[1].at + 3500 - tokenRequests[0].at > 6000, 'the run outlived the first token');
		assert.notEqual(chats[0].headers.authorization, chats[1].headers.authorization, 'each call carried its own token');
		const stats = await counters();
		assert.equal(stats.tokensIssued, 2);
		assert.equal(stats.chatRejected401, 0, 'renewed before use, not after a 401');
	});

	it('a credential the token endpoint refuses fails the agent run with the provider\'s OAuth error, secret not shown', { timeout: RUN_TIMEOUT_MS }, async () => {
		const wrongSecret = 'e2e-wrong-secret-4711';
		const badCredential = { id: 'oauth2LlmSandboxBad', name: 'Sandbox LLM (wrong secret)' };
		await n8n.importCredentials([
			{
				...badCredential,
				type: 'llmProviderOAuth2Api',
				data: { baseUrl: sandbox.baseUrl, tokenUrl: sandbox.tokenUrl, clientId: sandbox.clients.post.id, clientSecret: wrongSecret },
			},
		]);
		const workflow = agentWithCalculator('What is 1+1?');
		workflow.nodes = workflow.nodes.map((entry) =>
			entry.name === chatModel.name ? { ...entry, credentials: { llmProviderOAuth2Api: badCredential } } : entry,
		);
		const result = await n8n.execute(await n8n.importWorkflow(workflow), { timeoutMs: RUN_TIMEOUT_MS });
		assert.notEqual(result.exitCode, 0);
		assert.match(JSON.stringify(result.error) + result.stdout, /invalid_client/);
		assert.doesNotMatch(JSON.stringify(result.result ?? {}) + result.stdout + result.stderr, new RegExp(wrongSecret));
		assert.equal((await counters()).chatRequests, 0);
	});

	it('n8n 2.41 lists the OAuth2 LLM Chat node as a tool ("OAuth2 LLM Chat Tool"), loads the model node, and tests the credential from a custom folder', { timeout: RUN_TIMEOUT_MS }, async () => {
		await n8n.start();
		try {
			await n8n.setupOwner();
			const answer = await n8n.rest('GET', '/types/nodes.json');
			assert.equal(answer.status, 200);
			const types = answer.body as Array<{ name: string; displayName: string; outputs?: unknown }>;
			const tool = types.find((type) => type.name === 'CUSTOM.oAuth2LlmChatTool');
			assert.equal(tool?.displayName, 'OAuth2 LLM Chat Tool');
			const model = types.find((type) => type.name === 'CUSTOM.oAuth2LlmChatModel');
			assert.equal(model?.displayName, 'OAuth2 LLM Chat Model');
			assert.deepEqual(model?.outputs, ['ai_languageModel']);

			// From a custom extensions folder n8n 2.41 ignores the nodes' testedBy; the credential's
			// declared request test (token via authenticate, then GET /models) stands in.
			const data = sandboxCredential(sandbox).data;
			const good = await n8n.testCredential({ type: 'llmProviderOAuth2Api', name: 'custom folder', data });
			assert.equal(good.status, 'OK', good.message);
			const badSecret = 'custom-folder-wrong-secret';
			const bad = await n8n.testCredential({ type: 'llmProviderOAuth2Api', name: 'custom folder', data: { ...data, clientSecret: badSecret } });
			assert.equal(bad.status, 'Error');
			assert.match(bad.message, /invalid_client/);
			assert.doesNotMatch(bad.message, new RegExp(badSecret));
		} finally {
			await n8n.stop();
		}
	});
});
