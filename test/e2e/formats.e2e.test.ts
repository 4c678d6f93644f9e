/**
 * Issue 22 in a REAL n8n 2.41, the package installed as a community package: every API Format
 * (Chat Completions, Responses, Anthropic Messages, Claude on Vertex AI) against the sandbox, which
 * checks each request's shape and answers in the format, streaming included. Per format, through one
 * running n8n:
 * - Webhook (Streaming) → image → OAuth2 LLM Chat with Image Binary Properties: the words arrive one by
 *   one, the image's bytes reach the API, Simplify Output's keys and usage are in the run data;
 * - Webhook (Streaming) → AI Agent → the Chat Model with the Calculator: the tool's result reaches the
 *   streamed answer, and the provider's token counts are in the model's run data;
 * - Webhook (Streaming) → image → AI Agent → the Chat Model: the agent's image reaches the API.
 *
 *   npm run build && node --import tsx --test test/e2e/formats.e2e.test.ts
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { sandboxCredential } from '../../examples/workflows';
import type { ApiFormat } from '../../nodes/shared/config/provider-config';
import { N8nInstance } from '../harness/n8n';
import { ai, imageNodes, main, nodeMaker, PNG, PNG_DIGEST, streamingWebhook, workflow } from '../helpers/ai-workflow';
import { itemsOf, postStreaming as postTo } from '../helpers/streaming-webhook';
import { vertexBaseUrl } from '../sandbox/formats';
import { startSandboxServer, type SandboxServer } from '../sandbox/server';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 120_000;
const PACKAGE = 'n8n-nodes-oauth2-llm';
const FORMATS: ApiFormat[] = ['chatCompletions', 'responses', 'anthropicMessages', 'anthropicVertex'];
/** The path each format's chat calls go to, below the sandbox's /v1. */
const CHAT_PATH: Record<ApiFormat, RegExp> = {
	chatCompletions: /^\/v1\/chat\/completions$/,
	responses: /^\/v1\/responses$/,
	anthropicMessages: /^\/v1\/messages$/,
	anthropicVertex: /^\/v1\/projects\/.+\/publishers\/anthropic\/models\/sandbox-echo:streamRawPredict$/,
};
const STREAM_QUESTION = 'Please stream this sentence back to me word by word';

let sandbox: SandboxServer;
let n8n: N8nInstance;
const postStreaming = (webhookPath: string, body: unknown) => postTo(n8n.port, webhookPath, body);

const node = nodeMaker();
/** A short code per format, for ids. */
const CODE: Record<ApiFormat, string> = { chatCompletions: 'cc', responses: 'rs', anthropicMessages: 'am', anthropicVertex: 'av' };
const credentialOf = (format: ApiFormat) => ({ id: `e2eFormatCred${CODE[format]}`, name: `Sandbox ${format}` });
const webhook = (webhookPath: string) => streamingWebhook(node, webhookPath);
const ids = (format: ApiFormat) => ({ chat: `e2eFormatChat${CODE[format]}`, tools: `e2eFormatTool${CODE[format]}`, image: `e2eFormatImag${CODE[format]}` });
/** The webhook's question, read from the Webhook node (the image nodes in between replace the item's JSON). */
const QUESTION = "={{ $('Webhook').item.json.body.question }}";

/** The last stored execution of a workflow, as n8n's REST API gives it (run data included). */
async function lastExecution(workflowId: string): Promise<string> {
	for (let attempt = 0; attempt < 40; attempt++) {
		const list = await n8n.rest('GET', `/rest/executions?filter=${encodeURIComponent(JSON.stringify({ workflowId }))}`);
		const found = JSON.stringify(list.body).match(/"id":"(\d+)"/);
		if (found) {
			const execution = await n8n.rest('GET', `/rest/executions/${found[1]}`);
			const text = JSON.stringify(execution.body);
			if (/"status":"success"|"finished":true/.test(text)) return text;
		}
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
	assert.fail(`no finished execution of ${workflowId}`);
}

describe('every API format in a real n8n 2.41: the chat node, the AI Agent with a tool, images, usage', () => {
	before(
		async () => {
			sandbox = await startSandboxServer({ streamChunkIntervalMs: 25 });
			n8n = await N8nInstance.create({});
			await n8n.installCommunityPackage(REPO_ROOT);
			const base = sandboxCredential({ ...sandbox.info, clients: sandbox.info.clients });
			await n8n.importCredentials(
				FORMATS.map((format) => ({
					...base,
					...credentialOf(format),
					data: { ...base.data, apiFormat: format, ...(format === 'anthropicVertex' ? { baseUrl: vertexBaseUrl(sandbox.info.baseUrl) } : {}) },
				})),
			);
			for (const format of FORMATS) {
				const credentials = { llmProviderOAuth2Api: credentialOf(format) };
				const model = { __rl: true, mode: 'id', value: 'sandbox-echo' };
				const chatModel = () => node('OAuth2 LLM Chat Model', `${PACKAGE}.oAuth2LlmChatModel`, 1, { model, options: {} }, { credentials });
				const agent = () => node('AI Agent', '@n8n/n8n-nodes-langchain.agent', 3.1, { promptType: 'define', text: QUESTION, options: { enableStreaming: true } });
				const chatNode = node(
					'OAuth2 LLM Chat',
					`${PACKAGE}.oAuth2LlmChat`,
					1,
					{ model, messages: { values: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: QUESTION }] }, options: { imageBinaryProperties: 'data' } },
					{ credentials },
				);
				const id = ids(format);
				await n8n.importWorkflow(workflow(id.chat, [webhook(`${format}-chat`), ...imageNodes(node), chatNode], { Webhook: main('Image'), Image: main('To File'), 'To File': main('OAuth2 LLM Chat') }));
				await n8n.importWorkflow(
					workflow(id.tools, [webhook(`${format}-tools`), agent(), chatModel(), node('Calculator', '@n8n/n8n-nodes-langchain.toolCalculator', 1, {})], {
						Webhook: main('AI Agent'),
						'OAuth2 LLM Chat Model': ai('ai_languageModel', 'AI Agent'),
						Calculator: ai('ai_tool', 'AI Agent'),
					}),
				);
				await n8n.importWorkflow(
					workflow(id.image, [webhook(`${format}-image`), ...imageNodes(node), agent(), chatModel()], {
						Webhook: main('Image'),
						Image: main('To File'),
						'To File': main('AI Agent'),
						'OAuth2 LLM Chat Model': ai('ai_languageModel', 'AI Agent'),
					}),
				);
			}
			await n8n.start({ timeoutMs: 150_000 });
			await n8n.setupOwner();
			for (const format of FORMATS) for (const id of Object.values(ids(format))) await n8n.activateWorkflow(id);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await sandbox?.close();
	});

	beforeEach(() => sandbox.state.reset());

	const chats = () => sandbox.state.requests().filter((entry) => entry.kind === 'chat');

	for (const format of FORMATS) {
		it(`${format}: Webhook (Streaming) → the chat node with an image: words one by one, the image's bytes at the API, Simplify Output's keys and usage`, { timeout: RUN_TIMEOUT_MS }, async () => {
			const lines = await postStreaming(`${format}-chat`, { question: STREAM_QUESTION });
			const items = itemsOf(lines, 'OAuth2 LLM Chat');
			const expected = `Echo from sandbox-echo: ${STREAM_QUESTION} | Saw 1 image: image/png sha256:${PNG_DIGEST} (${PNG.length} bytes)`;
			assert.ok(items.length >= 5, JSON.stringify(lines).slice(0, 1500));
			assert.equal(items.map((line) => line.content).join(''), expected);
			assert.ok(items[0].receivedAt < items[items.length - 1].receivedAt, 'the first words arrived before the last');
			const [call] = chats();
			assert.match(call.path, CHAT_PATH[format]);
			assert.equal(call.status, 200);
			const stored = await lastExecution(ids(format).chat);
			// n8n stores run data flattened (flatted), so keys appear as JSON-escaped strings.
			for (const key of ['content', 'role', 'finishReason', 'model', 'usage', 'prompt_tokens', 'completion_tokens', 'total_tokens']) {
				assert.match(stored, new RegExp(`\\\\"${key}\\\\"`), `${key} in ${stored.slice(0, 300)}`);
			}
		});

		it(`${format}: Webhook (Streaming) → AI Agent → the Chat Model with the Calculator: the tool's result reaches the streamed answer, and the counts the model's run data`, { timeout: RUN_TIMEOUT_MS }, async () => {
			const lines = await postStreaming(`${format}-tools`, { question: 'What is 12*34?' });
			const items = itemsOf(lines, 'AI Agent');
			// n8n 2.41 hands the Calculator's result over as [{"response":"408"}].
			assert.match(items.map((line) => line.content).join(''), /^The result is .*408/, JSON.stringify(lines).slice(0, 1500));
			const calls = chats();
			assert.equal(calls.length, 2, 'one call that asked for the tool, one with its result');
			assert.ok(calls.every((entry) => entry.status === 200 && CHAT_PATH[format].test(entry.path)));
			const stored = await lastExecution(ids(format).tools);
			assert.match(stored, /tokenUsage/);
			assert.doesNotMatch(stored, /tokenUsageEstimate/, "n8n estimated the counts instead of taking the provider's");
		});

		it(`${format}: Webhook (Streaming) → image → AI Agent → the Chat Model: the agent's image reaches the API`, { timeout: RUN_TIMEOUT_MS }, async () => {
			const lines = await postStreaming(`${format}-image`, { question: 'What is in this picture?' });
			const text = itemsOf(lines, 'AI Agent').map((line) => line.content).join('');
			assert.match(text, new RegExp(`Saw 1 image: image/png sha256:${PNG_DIGEST} \\(${PNG.length} bytes\\)`), JSON.stringify(lines).slice(0, 1500));
		});
	}
});
