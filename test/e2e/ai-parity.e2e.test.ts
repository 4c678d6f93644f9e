/**
 * Issue 13 in a REAL n8n 2.41, the package installed as a community package: token-by-token
 * streaming (Webhook in Streaming mode → AI Agent → OAuth2 LLM Chat Model, with and without a tool;
 * Webhook → OAuth2 LLM Chat), images (the agent's Passthrough Binary Images, the chat node's Image
 * Binary Properties) proven by the digest the sandbox computes of the bytes it got, token usage in
 * the model's run data, and RAG through n8n's In-Memory Vector Store with OAuth2 LLM Embeddings.
 *
 *   npm run build && node --import tsx --test test/e2e/ai-parity.e2e.test.ts
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { sandboxCredential, SANDBOX_CREDENTIAL_ID, SANDBOX_CREDENTIAL_NAME } from '../../examples/workflows';
import { N8nInstance, type ExecuteResult } from '../harness/n8n';
import { ai, imageNodes, main, nodeMaker, PNG, PNG_DIGEST, streamingWebhook, workflow } from '../helpers/ai-workflow';
import { itemsOf, postStreaming as postTo } from '../helpers/streaming-webhook';
import { startSandboxServer, type SandboxServer } from '../sandbox/server';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 180_000;
const PACKAGE = 'n8n-nodes-oauth2-llm';
const CREDENTIAL = { id: SANDBOX_CREDENTIAL_ID, name: SANDBOX_CREDENTIAL_NAME };

let sandbox: SandboxServer;
let n8n: N8nInstance;
const postStreaming = (webhookPath: string, body: unknown) => postTo(n8n.port, webhookPath, body);

const node = nodeMaker();
const credentials = { llmProviderOAuth2Api: CREDENTIAL };
const chatModel = (options: Record<string, unknown> = {}) =>
	node('OAuth2 LLM Chat Model', `${PACKAGE}.oAuth2LlmChatModel`, 1, { model: { __rl: true, mode: 'id', value: 'sandbox-echo' }, options }, { credentials });
const agent = (text: string, options: Record<string, unknown> = {}) =>
	node('AI Agent', '@n8n/n8n-nodes-langchain.agent', 3.1, { promptType: 'define', text, options });
const webhook = (webhookPath: string) => streamingWebhook(node, webhookPath);
const manual = () => node('Manual', 'n8n-nodes-base.manualTrigger', 1, {});

function explain(result: ExecuteResult): string {
	return `exit ${result.exitCode}; error ${JSON.stringify(result.error)?.slice(0, 2000)}\n${(result.stdout + result.stderr).slice(-4000)}`;
}

const WORKFLOWS = {
	agentManual: 'e2eAiAgentManual',
	imageAgent: 'e2eAiImageAgent1',
	imageChat: 'e2eAiImageChat01',
	rag: 'e2eAiRagInMemory',
	streamAgent: 'e2eAiStreamAgent',
	streamTools: 'e2eAiStreamTools',
	streamChat: 'e2eAiStreamChat1',
};
const STREAM_QUESTION = 'Please stream this sentence back to me word by word';
const IMAGE_QUESTION = 'What is in this picture?';

describe('AI parity in a real n8n 2.41: streaming, images, embeddings', () => {
	before(
		async () => {
			sandbox = await startSandboxServer({ streamChunkIntervalMs: 25 });
			n8n = await N8nInstance.create({});
			await n8n.installCommunityPackage(REPO_ROOT);
			await n8n.importCredentials([sandboxCredential({ ...sandbox.info, clients: sandbox.info.clients })]);
			const chatNode = (options: Record<string, unknown>, content: string) =>
				node('OAuth2 LLM Chat', `${PACKAGE}.oAuth2LlmChat`, 1, { model: { __rl: true, mode: 'id', value: 'sandbox-echo' }, messages: { values: [{ role: 'user', content }] }, options }, { credentials });

			const imports = [
				workflow(WORKFLOWS.agentManual, [manual(), agent(STREAM_QUESTION), chatModel()], { Manual: main('AI Agent'), 'OAuth2 LLM Chat Model': ai('ai_languageModel', 'AI Agent') }),
				workflow(WORKFLOWS.imageAgent, [manual(), ...imageNodes(node), agent(IMAGE_QUESTION), chatModel()], {
					Manual: main('Image'),
					Image: main('To File'),
					'To File': main('AI Agent'),
					'OAuth2 LLM Chat Model': ai('ai_languageModel', 'AI Agent'),
				}),
				workflow(WORKFLOWS.imageChat, [manual(), ...imageNodes(node), chatNode({ imageBinaryProperties: 'data' }, IMAGE_QUESTION)], {
					Manual: main('Image'),
					Image: main('To File'),
					'To File': main('OAuth2 LLM Chat'),
				}),
				workflow(
					WORKFLOWS.rag,
					[
						manual(),
						node('Docs', 'n8n-nodes-base.set', 3.4, {
							mode: 'raw',
							jsonOutput: JSON.stringify({
								docs: [
									'Cats purr and sleep on warm sofas all afternoon',
									'The token endpoint issues access tokens to clients',
									'Invoices are paid within thirty days of receipt',
									'Dogs bark loudly at the mail carrier',
								],
							}),
							options: {},
						}),
						node('One per doc', 'n8n-nodes-base.splitOut', 1, { fieldToSplitOut: 'docs', options: { destinationFieldName: 'text' } }),
						node('Insert', '@n8n/n8n-nodes-langchain.vectorStoreInMemory', 1.3, { mode: 'insert', memoryKey: { __rl: true, mode: 'id', value: 'e2e-kb' }, clearStore: true }),
						node('Loader', '@n8n/n8n-nodes-langchain.documentDefaultDataLoader', 1.1, { dataType: 'json', jsonMode: 'expressionData', jsonData: '={{ $json.text }}', textSplittingMode: 'simple', options: {} }),
						node('OAuth2 LLM Embeddings', `${PACKAGE}.oAuth2LlmEmbeddings`, 1, { model: { __rl: true, mode: 'id', value: 'sandbox-embed' }, options: { batchSize: 3 } }, { credentials }),
						node('Search', '@n8n/n8n-nodes-langchain.vectorStoreInMemory', 1.3, { mode: 'load', memoryKey: { __rl: true, mode: 'id', value: 'e2e-kb' }, prompt: 'Which endpoint issues tokens?', topK: 2 }, { executeOnce: true }),
					],
					{
						Manual: main('Docs'),
						Docs: main('One per doc'),
						'One per doc': main('Insert'),
						Insert: main('Search'),
						Loader: ai('ai_document', 'Insert'),
						'OAuth2 LLM Embeddings': ai('ai_embedding', 'Insert', 'Search'),
					},
				),
				workflow(WORKFLOWS.streamAgent, [webhook('stream-agent'), agent('={{ $json.body.question }}', { enableStreaming: true }), chatModel()], {
					Webhook: main('AI Agent'),
					'OAuth2 LLM Chat Model': ai('ai_languageModel', 'AI Agent'),
				}),
				workflow(
					WORKFLOWS.streamTools,
					[webhook('stream-tools'), agent('={{ $json.body.question }}', { enableStreaming: true }), chatModel(), node('Calculator', '@n8n/n8n-nodes-langchain.toolCalculator', 1, {})],
					{ Webhook: main('AI Agent'), 'OAuth2 LLM Chat Model': ai('ai_languageModel', 'AI Agent'), Calculator: ai('ai_tool', 'AI Agent') },
				),
				workflow(WORKFLOWS.streamChat, [webhook('stream-chat'), chatNode({}, '={{ $json.body.question }}')], { Webhook: main('OAuth2 LLM Chat') }),
			];
			for (const wf of imports) await n8n.importWorkflow(wf);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await sandbox?.close();
	});

	beforeEach(() => sandbox.state.reset());

	it("Manual → AI Agent → the Chat Model: the answer, and the provider's token counts in the model's run data", { timeout: RUN_TIMEOUT_MS }, async () => {
		const result = await n8n.execute(WORKFLOWS.agentManual, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.status, 'success', explain(result));
		assert.equal(result.runData?.['AI Agent']?.[0]?.data?.main?.[0]?.[0]?.json?.output, `Echo from sandbox-echo: ${STREAM_QUESTION}`);
		const modelRun = result.runData?.['OAuth2 LLM Chat Model']?.[0]?.data?.ai_languageModel?.[0]?.[0]?.json;
		const chat = sandbox.state.requests().find((entry) => entry.kind === 'chat');
		assert.ok(chat);
		assert.ok(modelRun?.tokenUsage, `model run data: ${JSON.stringify(modelRun)?.slice(0, 500)}`);
		assert.ok(modelRun.tokenUsage.completionTokens > 0 && modelRun.tokenUsage.promptTokens > 0, JSON.stringify(modelRun.tokenUsage));
		assert.equal(modelRun.tokenUsageEstimate, undefined, 'real counts, not an estimate');
	});

	it("the agent's Passthrough Binary Images: the image's bytes reach the LLM API (the sandbox answers with their SHA-256)", { timeout: RUN_TIMEOUT_MS }, async () => {
		const result = await n8n.execute(WORKFLOWS.imageAgent, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.status, 'success', explain(result));
		const output = String(result.runData?.['AI Agent']?.[0]?.data?.main?.[0]?.[0]?.json?.output);
		assert.match(output, new RegExp(`Saw 1 image: image/png sha256:${PNG_DIGEST} \\(${PNG.length} bytes\\)`), output);
	});

	it('the chat node with Image Binary Properties: the bytes reach the LLM API', { timeout: RUN_TIMEOUT_MS }, async () => {
		const result = await n8n.execute(WORKFLOWS.imageChat, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.status, 'success', explain(result));
		const content = String(result.runData?.['OAuth2 LLM Chat']?.[0]?.data?.main?.[0]?.[0]?.json?.content);
		assert.equal(content, `Echo from sandbox-echo: What is in this picture? | Saw 1 image: image/png sha256:${PNG_DIGEST} (${PNG.length} bytes)`);
	});

	it("RAG: 4 documents into n8n's In-Memory Vector Store through OAuth2 LLM Embeddings, then the nearest to a question is the expected one", { timeout: RUN_TIMEOUT_MS }, async () => {
		const result = await n8n.execute(WORKFLOWS.rag, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.status, 'success', explain(result));
		const found = result.runData?.Search?.[0]?.data?.main?.[0] as Array<{ json: { document: { pageContent: string }; score: number } }>;
		assert.ok(found?.length >= 1, explain(result));
		assert.equal(found[0].json.document.pageContent, 'The token endpoint issues access tokens to clients');
		const embeddings = sandbox.state.requests().filter((entry) => entry.kind === 'embeddings');
		assert.ok(embeddings.length >= 2, `${embeddings.length} embedding requests (batches of 3, then the question)`);
		assert.ok(embeddings.every((entry) => entry.status === 200 && String(entry.headers.authorization).startsWith('Bearer ')));
	});

	it('Webhook (Streaming) → AI Agent (streaming) → the Chat Model: the words arrive one by one, and put together they are the answer', { timeout: RUN_TIMEOUT_MS }, async () => {
		await n8n.start({ timeoutMs: 150_000 });
		await n8n.setupOwner();
		for (const id of [WORKFLOWS.streamAgent, WORKFLOWS.streamTools, WORKFLOWS.streamChat]) await n8n.activateWorkflow(id);
		const lines = await postStreaming('stream-agent', { question: STREAM_QUESTION });
		const items = itemsOf(lines, 'AI Agent');
		assert.ok(items.length >= 5, `item lines: ${JSON.stringify(lines).slice(0, 1500)}`);
		assert.equal(items.map((line) => line.content).join(''), `Echo from sandbox-echo: ${STREAM_QUESTION}`);
		assert.ok(items[0].receivedAt < items[items.length - 1].receivedAt, 'the first words arrived before the last');
		const chat = sandbox.state.requests().find((entry) => entry.kind === 'chat');
		assert.equal((chat?.body as { stream?: boolean }).stream, true, 'the model asked the API to stream');

		// n8n's AI log of the streamed call: the provider's counts (from stream_options), not n8n's estimate.
		const list = await n8n.rest('GET', `/rest/executions?filter=${encodeURIComponent(JSON.stringify({ workflowId: WORKFLOWS.streamAgent }))}`);
		const ids = JSON.stringify(list.body).match(/"id":"(\d+)"/g) ?? [];
		assert.ok(ids.length > 0, JSON.stringify(list.body).slice(0, 500));
		const execution = await n8n.rest('GET', `/rest/executions/${(ids[0] ?? '').replace(/\D/g, '')}`);
		const stored = JSON.stringify(execution.body);
		assert.match(stored, /tokenUsage/, stored.slice(0, 500));
		assert.doesNotMatch(stored, /tokenUsageEstimate/, 'n8n estimated the counts instead of taking the provider\'s');
	});

	it('streaming with a tool: the agent calls the Calculator through streamed tool-call fragments, then streams the result', { timeout: RUN_TIMEOUT_MS }, async () => {
		const lines = await postStreaming('stream-tools', { question: 'What is 12*34?' });
		const text = itemsOf(lines, 'AI Agent').map((line) => line.content).join('');
		assert.match(text, /408/, JSON.stringify(lines).slice(0, 1500));
		const chats = sandbox.state.requests().filter((entry) => entry.kind === 'chat');
		assert.equal(chats.length, 2, 'one call that asked for the tool, one with its result');
		assert.ok(chats.every((entry) => (entry.body as { stream?: boolean }).stream === true));
	});

	it('Webhook (Streaming) → OAuth2 LLM Chat: the chat node streams its answer too, begin … end', { timeout: RUN_TIMEOUT_MS }, async () => {
		const lines = await postStreaming('stream-chat', { question: STREAM_QUESTION });
		const own = lines.filter((line) => line.metadata?.nodeName === 'OAuth2 LLM Chat');
		assert.equal(own[0]?.type, 'begin', JSON.stringify(lines).slice(0, 1500));
		assert.equal(own.at(-1)?.type, 'end');
		const items = own.filter((line) => line.type === 'item');
		assert.ok(items.length >= 5);
		assert.equal(items.map((line) => line.content).join(''), `Echo from sandbox-echo: ${STREAM_QUESTION}`);
	});
});
