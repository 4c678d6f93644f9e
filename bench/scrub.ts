/**
 * Benchmark 6 (issue 10): the secret scrubber's cost per MiB of server text, on ordinary and on
 * adversarial inputs (the shapes that made the old backtracking patterns quadratic). What a node
 * shows of server text is bounded before scrubbing (boundedServerText), so this is the worst case
 * for whole texts, such as a 1 MiB error body scrubbed by scrubValue's bounded strings or the CLI.
 */
import { generateKeyPairSync } from 'node:crypto';

import { boundedServerText, scrubText, scrubValue } from '../nodes/shared/core/scrub';
import { type BenchOptions, type BenchSection, fmt, median, table } from './lib';

const MIB = 1024 * 1024;
const SECRETS = ['S3cr+t/"x y\\z&Q=9', 'client-id:S3cr+t/"x y\\z&Q=9', 'rt-0123456789abcdef', 'access-token-0123456789'];

const INPUTS: Array<[string, () => string]> = [
	['prose with JSON (an ordinary error body)', () => '{"error":{"message":"The deployment was not found in region eu","code":"DeploymentNotFound"}} '.repeat(MIB / 94)],
	['-eyJaaaa repeated (old JWT pattern: quadratic)', () => '-eyJaaaa'.repeat(MIB / 8)],
	['Bearer + 1 MiB of spaces', () => `Bearer${' '.repeat(MIB)}`],
	['client_secret= runs', () => 'client_secret=x'.repeat(Math.floor(MIB / 15))],
	['"access_token":" without end', () => '"access_token":"'.repeat(MIB / 16)],
];

/** Error bodies as n8n's error details get them (scrubValue: a bounded, scrubbed copy), issue 19. */
const BODIES: Array<[string, () => unknown]> = [
	[
		'1 MiB of many small strings (50 × 50 × 50 arrays)',
		() => ({ error: 'server_error', details: Array.from({ length: 50 }, () => Array.from({ length: 50 }, () => Array.from({ length: 50 }, (_, i) => `s${i}-x`))) }),
	],
	['1 MiB of deep nesting', () => JSON.parse(`${'{"a":'.repeat(Math.floor(MIB / 6))}"x"${'}'.repeat(Math.floor(MIB / 6))}`)],
	['16 KB of 4,000 short strings (the shape that blocked for 334 ms)', () => ({ error: 'server_error', details: Array.from({ length: 80 }, () => Array.from({ length: 50 }, (_, i) => `v${i}`)) })],
];

function bodyRows(runs: number): Array<Array<string | number>> {
	const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
	const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
	const secretSets: Array<[string, string[]]> = [
		['client secret', SECRETS],
		['client secret + private key', [...SECRETS, keyPem, keyPem.replace(/-----[^-]+-----|\s/g, '')]],
	];
	const rows: Array<Array<string | number>> = [];
	for (const [what, make] of BODIES) {
		const body = make();
		for (const [secrets, list] of secretSets) {
			const times: number[] = [];
			for (let run = 0; run < runs; run++) {
				const started = performance.now();
				scrubValue(body, list);
				times.push(performance.now() - started);
			}
			rows.push([what, secrets, fmt(median(times), 2)]);
		}
	}
	return rows;
}

export async function scrubBench(options: BenchOptions): Promise<BenchSection> {
	const runs = options.quick ? 1 : Math.max(options.runs, 5);
	const rows: Array<Array<string | number>> = [];
	let worstMsPerMib = 0;
	for (const [what, make] of INPUTS) {
		const text = make();
		const mebibytes = text.length / MIB;
		const scrubMs: number[] = [];
		const boundedMs: number[] = [];
		for (let run = 0; run < runs; run++) {
			let started = performance.now();
			scrubText(text, SECRETS);
			scrubMs.push(performance.now() - started);
			started = performance.now();
			boundedServerText(text, SECRETS);
			boundedMs.push(performance.now() - started);
		}
		const perMib = median(scrubMs) / mebibytes;
		worstMsPerMib = Math.max(worstMsPerMib, perMib);
		options.log(`scrub: ${what}: ${fmt(perMib)} ms/MiB`);
		rows.push([what, fmt(mebibytes, 2), fmt(perMib), fmt(median(boundedMs), 3)]);
	}
	return {
		title: 'Scrubbing server text',
		about: [
			`scrubText over the whole input with ${SECRETS.length} known secrets (each searched in all its encodings), median of ${runs} runs; and boundedServerText, which cuts server text to 2000 characters (plus room for the secrets) before scrubbing, as every error message does.`,
			`The second table: scrubValue over a parsed error body, as it becomes an error's details (each secret's forms computed once per call; at most 500 strings and 128 KiB in all), the time of one call, median of ${runs} runs. Per attempt this is what a hostile 500 costs the event loop.`,
		].join('\n'),
		tables: [
			table(['input', 'MiB', 'scrubText ms per MiB', 'boundedServerText ms (whole call)'], rows),
			table(['error body (parsed JSON)', 'secrets', 'scrubValue ms (median)'], bodyRows(runs)),
		],
		verdicts: [`linear on every input: at most ${fmt(worstMsPerMib)} ms per MiB (the old JWT pattern stalled the event loop for 16 s on 100 KB)`],
	};
}
