/**
 * Benchmark 8 (issue 13): time to first token (TTFT) and total time of a streamed answer.
 *
 * a) Outside n8n: this package's streamChatCompletion (token from the warm shared cache) against a
 *    plain SSE client (fetch with a bearer token, reading `data:` lines) on the same sandbox stream.
 * b) Inside a real n8n 2.41 (`n8n start`): Webhook in Streaming mode → AI Agent (streaming) → this
 *    OAuth2 LLM Chat Model, against the same workflow with n8n's own OpenAI Chat Model (Chat
 *    Completions, its API key a token from the sandbox). Measured at the HTTP client: from sending the
 *    request to the first `item` line, and to the end of the answer.
 *
 * The sandbox streams 20 ms apart, so a stream takes a few hundred ms; TTFT shows what each client
 * adds before the first word.
 */
import { request } from 'node:http';

import { streamChatCompletion } from '../nodes/shared/wire/chat-client';
import { parseProviderConfig } from '../nodes/shared/config/provider-config';
import { TokenCache } from '../nodes/shared/auth/token-cache';
import { N8nInstance } from '../test/harness/n8n';
import type { Sandbox } from '../test/sandbox/sandbox';
import { plainClient, QUESTION } from './formats';
import { type BenchOptions, type BenchSection, credentialDataFor, fmt, median, minMax, table } from './lib';

const CHUNK_INTERVAL_MS = 20;
const PACKAGE = 'n8n-nodes-oauth2-llm';

interface Timing {
	firstMs: number;
	totalMs: number;
}

async function packageClient(provider: ReturnType<typeof parseProviderConfig>, tokens: TokenCache): Promise<Timing> {
	const started = performance.now();
	let firstMs = Number.NaN;
	for await (const delta of streamChatCompletion({ model: 'sandbox-echo', messages: [{ role: 'user', content: QUESTION }], stream_options: { include_usage: true } }, { provider, tokens })) {
		if (delta.kind === 'text' && Number.isNaN(firstMs)) firstMs = performance.now() - started;
	}
	return { firstMs, totalMs: performance.now() - started };
}

/** POST to a streaming webhook: time to the first `item` line and to the end. */
function webhookTiming(port: number, webhookPath: string): Promise<Timing> {
	return new Promise((resolve, reject) => {
		const started = performance.now();
		let firstMs = Number.NaN;
		let buffer = '';
		const payload = Buffer.from(JSON.stringify({ question: QUESTION }));
		const req = request({ host: '127.0.0.1', port, path: `/webhook/${webhookPath}`, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
			res.setEncoding('utf8');
			res.on('data', (text: string) => {
				buffer += text;
				if (Number.isNaN(firstMs) && /"type":"item"/.test(buffer)) firstMs = performance.now() - started;
			});
			res.on('end', () => (Number.isNaN(firstMs) ? reject(new Error(`no item line from ${webhookPath}: ${buffer.slice(0, 500)}`)) : resolve({ firstMs, totalMs: performance.now() - started })));
			res.on('error', reject);
		});
		req.on('error', reject);
		req.end(payload);
	});
}

function streamingWorkflow(id: string, webhookPath: string, model: Record<string, unknown>) {
	let x = 0;
	const node = (name: string, type: string, typeVersion: number, parameters: Record<string, unknown>, extra: object = {}) => ({
		id: `00000000-0000-4000-9000-${String((x += 1)).padStart(12, '0')}`,
		name,
		type,
		typeVersion,
		position: [x * 200, 0],
		parameters,
		...extra,
	});
	return {
		id,
		name: `bench ${id}`,
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			node('Webhook', 'n8n-nodes-base.webhook', 2.1, { httpMethod: 'POST', path: webhookPath, responseMode: 'streaming', options: {} }, { webhookId: webhookPath }),
			node('AI Agent', '@n8n/n8n-nodes-langchain.agent', 3.1, { promptType: 'define', text: '={{ $json.body.question }}', options: { enableStreaming: true } }),
			{ ...node('Model', String(model.type), Number(model.typeVersion), model.parameters as Record<string, unknown>), credentials: model.credentials },
		],
		connections: {
			Webhook: { main: [[{ node: 'AI Agent', type: 'main', index: 0 }]] },
			Model: { ai_languageModel: [[{ node: 'AI Agent', type: 'ai_languageModel', index: 0 }]] },
		},
	};
}

function row(label: string, timings: Timing[]): Array<string | number> {
	return [label, fmt(median(timings.map((t) => t.firstMs)), 1), minMax(timings.map((t) => t.firstMs)), fmt(median(timings.map((t) => t.totalMs)), 1), minMax(timings.map((t) => t.totalMs))];
}

export async function streamingBench(sandbox: Sandbox, options: BenchOptions, repoRoot: string): Promise<BenchSection> {
	const runs = options.quick ? 3 : Math.max(options.runs, 10);
	await sandbox.reset();
	await sandbox.configure({ streamChunkIntervalMs: CHUNK_INTERVAL_MS, chatLatencyMs: 0, tokenTtlSeconds: 3600 });
	const provider = parseProviderConfig(credentialDataFor(sandbox), 'Bench');
	const tokens = new TokenCache();
	const { access_token: accessToken } = await sandbox.fetchToken('post');

	// a) outside n8n, interleaved so that both see the same machine load.
	const plain: Timing[] = [];
	const ours: Timing[] = [];
	await packageClient(provider, tokens); // warm: the token is cached, connections are open
	await plainClient('chatCompletions', sandbox.baseUrl, accessToken);
	for (let run = 0; run < runs; run++) {
		plain.push(await plainClient('chatCompletions', sandbox.baseUrl, accessToken));
		ours.push(await packageClient(provider, tokens));
	}
	options.log(`streaming: outside n8n: TTFT plain ${fmt(median(plain.map((t) => t.firstMs)), 1)} ms, package ${fmt(median(ours.map((t) => t.firstMs)), 1)} ms`);

	// b) inside n8n.
	const n8n = await N8nInstance.create({});
	const inN8n: Record<'ours' | 'openai', Timing[]> = { ours: [], openai: [] };
	try {
		await n8n.installCommunityPackage(repoRoot);
		const ourCredential = { id: 'benchStreamOurs1', name: 'Bench: OAuth2 LLM Provider' };
		const openAiCredential = { id: 'benchStreamOpenAi', name: 'Bench: OpenAI (sandbox token as API key)' };
		await n8n.importCredentials([
			{ ...ourCredential, type: 'llmProviderOAuth2Api', data: credentialDataFor(sandbox) },
			{ ...openAiCredential, type: 'openAiApi', data: { apiKey: accessToken, url: sandbox.baseUrl } },
		]);
		await n8n.importWorkflow(
			streamingWorkflow('benchStreamOurs01', 'bench-stream-ours', {
				type: `${PACKAGE}.oAuth2LlmChatModel`,
				typeVersion: 1,
				parameters: { model: { __rl: true, mode: 'id', value: 'sandbox-echo' }, options: {} },
				credentials: { llmProviderOAuth2Api: ourCredential },
			}),
		);
		await n8n.importWorkflow(
			streamingWorkflow('benchStreamOpenAi', 'bench-stream-openai', {
				type: '@n8n/n8n-nodes-langchain.lmChatOpenAi',
				typeVersion: 1.3,
				// Chat Completions, as the sandbox speaks it (1.3 defaults to the Responses API).
				parameters: { model: { __rl: true, mode: 'id', value: 'sandbox-echo' }, responsesApiEnabled: false, options: {} },
				credentials: { openAiApi: openAiCredential },
			}),
		);
		await n8n.start({ timeoutMs: 150_000 });
		await n8n.setupOwner();
		await n8n.activateWorkflow('benchStreamOurs01');
		await n8n.activateWorkflow('benchStreamOpenAi');
		// Warm-up, and n8n 2.41 registers a webhook a moment after it answers the activation.
		for (const webhookPath of ['bench-stream-ours', 'bench-stream-openai']) {
			for (let attempt = 0; ; attempt++) {
				try {
					await webhookTiming(n8n.port, webhookPath);
					break;
				} catch (error) {
					if (attempt >= 60) throw error;
					await new Promise((resolve) => setTimeout(resolve, 250));
				}
			}
		}
		for (let run = 0; run < runs; run++) {
			inN8n.ours.push(await webhookTiming(n8n.port, 'bench-stream-ours'));
			inN8n.openai.push(await webhookTiming(n8n.port, 'bench-stream-openai'));
		}
	} finally {
		await n8n.dispose();
	}

	const ttft = (timings: Timing[]) => median(timings.map((t) => t.firstMs));
	const ratioOutside = ttft(ours) / ttft(plain);
	const ratioInside = ttft(inN8n.ours) / ttft(inN8n.openai);
	return {
		title: 'Streaming: time to first token',
		about: [
			`One streamed answer of ${QUESTION.split(' ').length + 3} words, sent by the sandbox in pieces ${CHUNK_INTERVAL_MS} ms apart, ${runs} runs per client, interleaved; medians in ms (min–max beside them).`,
			'- Outside n8n: a plain SSE client (fetch with a bearer token) and this package\'s streamChatCompletion (token from the warm cache, the same transport the nodes use: deadline, idle timeout, size limit, SSE parser).',
			'- Inside n8n 2.41: a Webhook in Streaming mode → AI Agent (streaming) → the chat model, measured at the HTTP client that called the webhook: this OAuth2 LLM Chat Model against n8n\'s own OpenAI Chat Model (Chat Completions, its API key a token from the sandbox).',
		].join('\n'),
		tables: [
			table(['client', 'TTFT ms', 'TTFT min–max', 'total ms', 'total min–max'], [
				row('plain SSE client', plain),
				row('this package (streamChatCompletion)', ours),
				row('n8n: this OAuth2 LLM Chat Model', inN8n.ours),
				row("n8n: n8n's OpenAI Chat Model", inN8n.openai),
			]),
		],
		verdicts: [
			`8 (TTFT ≤ 1.1× the plain client's): ${ratioOutside <= 1.1 ? '**met**' : '**missed**'}, this package's first token after ${fmt(ttft(ours), 1)} ms vs the plain client's ${fmt(ttft(plain), 1)} ms (${fmt(ratioOutside, 2)}×).`,
			`8 (inside n8n): this Chat Model's first token after ${fmt(ttft(inN8n.ours), 1)} ms vs n8n's OpenAI Chat Model's ${fmt(ttft(inN8n.openai), 1)} ms (${fmt(ratioInside, 2)}×), measured at the webhook's client.`,
		],
	};
}
