/**
 * Benchmark 10 (issue 22): streaming time to first token (TTFT) in every API format, this package
 * against a plain client of that format, side by side in one run.
 *
 * The plain client of a format is fetch with a bearer token, the format's own request body and the
 * format's first text event (`choices[0].delta.content`, `response.output_text.delta`,
 * Anthropic's `text_delta`); the package is streamChat with the token from its warm cache, through the
 * same transport and format module the nodes use. The sandbox streams every format from one answer,
 * its pieces 20 ms apart.
 */
import { streamChat } from '../nodes/shared/wire/chat-client';
import { parseProviderConfig, type ApiFormat } from '../nodes/shared/config/provider-config';
import { TokenCache } from '../nodes/shared/auth/token-cache';
import { vertexBaseUrl } from '../test/sandbox/formats';
import type { Sandbox } from '../test/sandbox/sandbox';
import { type BenchOptions, type BenchSection, credentialDataFor, fmt, median, minMax, table } from './lib';

const CHUNK_INTERVAL_MS = 20;
/** The question both streaming benchmarks ask. */
export const QUESTION = 'Tell me in about a dozen words how a streamed answer reaches the user';
const MODEL = 'sandbox-echo';
const FORMATS: ApiFormat[] = ['chatCompletions', 'responses', 'anthropicMessages', 'anthropicVertex'];

interface Timing {
	firstMs: number;
	totalMs: number;
}

/** What a plain client of each format sends, and how it knows its first word. */
function plainRequest(format: ApiFormat, baseUrl: string): { url: string; headers: Record<string, string>; body: unknown; isText: (data: Record<string, unknown>) => boolean } {
	const messages = [{ role: 'user', content: QUESTION }];
	switch (format) {
		case 'chatCompletions':
			return {
				url: `${baseUrl}/chat/completions`,
				headers: {},
				body: { model: MODEL, messages, stream: true, stream_options: { include_usage: true } },
				isText: (data) => !!(data.choices as Array<{ delta?: { content?: string } }> | undefined)?.[0]?.delta?.content,
			};
		case 'responses':
			return {
				url: `${baseUrl}/responses`,
				headers: {},
				body: { model: MODEL, input: messages, store: false, stream: true },
				isText: (data) => data.type === 'response.output_text.delta' && data.delta !== '',
			};
		case 'anthropicMessages':
			return {
				url: `${baseUrl}/messages`,
				headers: { 'anthropic-version': '2023-06-01' },
				body: { model: MODEL, max_tokens: 4096, messages, stream: true },
				isText: (data) => data.type === 'content_block_delta' && (data.delta as { type?: string } | undefined)?.type === 'text_delta',
			};
		case 'anthropicVertex':
			return {
				url: `${vertexBaseUrl(baseUrl)}/${MODEL}:streamRawPredict`,
				headers: {},
				body: { anthropic_version: 'vertex-2023-10-16', max_tokens: 4096, messages, stream: true },
				isText: (data) => data.type === 'content_block_delta' && (data.delta as { type?: string } | undefined)?.type === 'text_delta',
			};
	}
}

/** A plain client of one format (benchmark 8 uses it for Chat Completions). */
export async function plainClient(format: ApiFormat, baseUrl: string, accessToken: string): Promise<Timing> {
	const { url, headers, body, isText } = plainRequest(format, baseUrl);
	const started = performance.now();
	const response = await fetch(url, {
		method: 'POST',
		headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
		body: JSON.stringify(body),
	});
	if (response.status !== 200) throw new Error(`${format}: HTTP ${response.status} ${await response.text()}`);
	let firstMs = Number.NaN;
	let buffer = '';
	const decoder = new TextDecoder();
	for await (const piece of response.body as unknown as AsyncIterable<Uint8Array>) {
		buffer += decoder.decode(piece, { stream: true });
		let end: number;
		while ((end = buffer.indexOf('\n\n')) !== -1) {
			const event = buffer.slice(0, end);
			buffer = buffer.slice(end + 2);
			const data = event.split('\n').find((line) => line.startsWith('data: '))?.slice(6);
			if (!data || data === '[DONE]') continue;
			if (Number.isNaN(firstMs) && isText(JSON.parse(data) as Record<string, unknown>)) firstMs = performance.now() - started;
		}
	}
	return { firstMs, totalMs: performance.now() - started };
}

async function packageClient(provider: ReturnType<typeof parseProviderConfig>, tokens: TokenCache): Promise<Timing> {
	const started = performance.now();
	let firstMs = Number.NaN;
	for await (const delta of streamChat({ settings: { model: MODEL }, messages: [{ role: 'user', content: QUESTION }] }, { provider, tokens })) {
		if (delta.kind === 'text' && Number.isNaN(firstMs)) firstMs = performance.now() - started;
	}
	return { firstMs, totalMs: performance.now() - started };
}

export async function formatsBench(sandbox: Sandbox, options: BenchOptions): Promise<BenchSection> {
	const runs = options.quick ? 3 : Math.max(options.runs, 10);
	await sandbox.reset();
	await sandbox.configure({ streamChunkIntervalMs: CHUNK_INTERVAL_MS, chatLatencyMs: 0, tokenTtlSeconds: 3600 });
	const { access_token: accessToken } = await sandbox.fetchToken('post');
	const rows: Array<Array<string | number>> = [];
	const verdicts: string[] = [];
	for (const format of FORMATS) {
		const data = { ...credentialDataFor(sandbox), apiFormat: format, ...(format === 'anthropicVertex' ? { baseUrl: vertexBaseUrl(sandbox.baseUrl) } : {}) };
		const provider = parseProviderConfig(data, `Bench ${format}`);
		const tokens = new TokenCache();
		// Warm: the token is cached and connections are open on both sides.
		await packageClient(provider, tokens);
		await plainClient(format, sandbox.baseUrl, accessToken);
		const plain: Timing[] = [];
		const ours: Timing[] = [];
		// Interleaved, so that both see the same machine load.
		for (let run = 0; run < runs; run++) {
			plain.push(await plainClient(format, sandbox.baseUrl, accessToken));
			ours.push(await packageClient(provider, tokens));
		}
		const ttft = (timings: Timing[]) => median(timings.map((t) => t.firstMs));
		const ratio = ttft(ours) / ttft(plain);
		options.log(`formats: ${format}: TTFT plain ${fmt(ttft(plain), 1)} ms, package ${fmt(ttft(ours), 1)} ms (${fmt(ratio, 2)}×)`);
		const cells = (timings: Timing[]) => [fmt(ttft(timings), 1), minMax(timings.map((t) => t.firstMs)), fmt(median(timings.map((t) => t.totalMs)), 1)];
		rows.push([format, ...cells(plain), ...cells(ours), `${fmt(ratio, 2)}×`]);
		verdicts.push(`10 (${format}: TTFT ≤ 1.1× a plain client of the format): ${ratio <= 1.1 ? '**met**' : '**missed**'}, ${fmt(ttft(ours), 1)} ms vs ${fmt(ttft(plain), 1)} ms (${fmt(ratio, 2)}×).`);
	}
	return {
		title: 'Streaming in every API format: time to first token',
		about: [
			`One streamed answer of ${QUESTION.split(' ').length + 3} words per call, sent by the sandbox in pieces ${CHUNK_INTERVAL_MS} ms apart, in each API format; ${runs} runs per client and format, interleaved; medians in ms (min–max beside the TTFT).`,
			"- Plain client: fetch with a bearer token, the format's own body, and the format's first text event.",
			"- This package: streamChat with the token from its warm cache, through the transport and the format's module that the nodes use (deadline, idle timeout, size limit, SSE parser, tool-call bounds).",
		].join('\n'),
		tables: [table(['format', 'plain TTFT ms', 'plain min–max', 'plain total ms', 'package TTFT ms', 'package min–max', 'package total ms', 'TTFT ratio'], rows)],
		verdicts,
	};
}
