/**
 * Shared pieces of the benchmarks: options, statistics, timing, sandbox counters, Markdown tables.
 * Not a test: nothing here is picked up by `npm test`.
 */
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';

import type { ICredentialDataDecryptedObject, INodeParameters } from 'n8n-workflow';

import type { Sandbox } from '../test/sandbox/sandbox';

export interface BenchOptions {
	/** Repetitions of each measurement; the tables show medians. */
	runs: number;
	/** Whether --runs was given (benchmarks with a smaller default then use it as given). */
	runsGiven: boolean;
	/** Small sizes, for debugging the benchmarks themselves. */
	quick: boolean;
	/** Progress lines go to stderr. */
	log: (message: string) => void;
}

/** One benchmark's contribution to the report. */
export interface BenchSection {
	title: string;
	/** What the numbers mean and how they were taken (Markdown paragraphs or bullets). */
	about: string;
	/** Markdown table(s). */
	tables: string[];
	/** One line per target: met or missed, and why. */
	verdicts: string[];
	/** Anything else worth saying (limits, caveats). */
	notes?: string[];
}

export function median(values: number[]): number {
	if (values.length === 0) return Number.NaN;
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The quartile at `q` (0.25, 0.75) by linear interpolation between the sorted values. */
export function quantile(values: number[], q: number): number {
	if (values.length === 0) return Number.NaN;
	const sorted = [...values].sort((a, b) => a - b);
	const at = (sorted.length - 1) * q;
	const low = Math.floor(at);
	return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
}

/** "median (IQR q1–q3; min–max)": a ratio over paired rounds. */
export function medianWithIqr(values: number[], digits = 3): string {
	if (values.length < 2) return fmt(median(values), digits);
	const f = (v: number) => v.toFixed(digits);
	return `${f(median(values))} (IQR ${f(quantile(values, 0.25))}–${f(quantile(values, 0.75))}; ${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

export function minMax(values: number[]): string {
	if (values.length < 2) return '';
	return `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
}

/** A number for a table: integers as they are, others with up to `digits` significant decimals. */
export function fmt(value: number, digits = 2): string {
	if (!Number.isFinite(value)) return String(value);
	if (Number.isInteger(value)) return String(value);
	const abs = Math.abs(value);
	const decimals = abs >= 100 ? 0 : abs >= 10 ? 1 : digits;
	return value.toFixed(decimals);
}

/** "median (min–max)" of several runs; just the value for one run. */
export function spread(values: number[], digits = 2): string {
	const range = values.length > 1 ? ` (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})` : '';
	return `${fmt(median(values), digits)}${range}`;
}

/** Counts of the same value over runs: "1" when every run gave 1, else "1, 1, 2". */
export function counts(values: Array<number | string>): string {
	return new Set(values).size === 1 ? String(values[0]) : values.join(', ');
}

export function table(header: string[], rows: Array<Array<string | number>>): string {
	const line = (cells: Array<string | number>) => `| ${cells.map((cell) => String(cell).replace(/\|/g, '\\|')).join(' | ')} |`;
	return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
	const start = performance.now();
	const value = await fn();
	return { ms: performance.now() - start, value };
}

export interface ClientCounts {
	tokenRequests: number;
	tokensIssued: number;
	tokenErrors: number;
	chatRequests: number;
	chatRejected401: number;
}

const ZERO: ClientCounts = { tokenRequests: 0, tokensIssued: 0, tokenErrors: 0, chatRequests: 0, chatRejected401: 0 };

/** The sandbox's counters of one client (zeros when it made no request). */
export async function clientCounts(sandbox: Sandbox, clientId: string): Promise<ClientCounts> {
	return { ...ZERO, ...(await sandbox.stats()).clients[clientId] };
}

/** Items of the form the chat node's expression reads (`$json.q`). */
export function questionItems(count: number, prefix = 'question'): Array<{ q: string }> {
	return Array.from({ length: count }, (_, i) => ({ q: `${prefix} ${i}` }));
}

/** The chat request both the node and the baselines send: system + user message, model sandbox-echo. */
export const SYSTEM_PROMPT = 'Be brief.';
export const MODEL = 'sandbox-echo';

export function chatNodeParameters(concurrency: number): INodeParameters {
	return {
		model: { __rl: true, mode: 'id', value: MODEL },
		messages: {
			values: [
				{ role: 'system', content: SYSTEM_PROMPT },
				{ role: 'user', content: '={{ $json.q }}' },
			],
		},
		options: { concurrency },
	};
}

export function credentialDataFor(sandbox: Sandbox, client: 'post' | 'basic' = 'post'): ICredentialDataDecryptedObject {
	const c = sandbox.clients[client];
	return {
		baseUrl: sandbox.baseUrl,
		tokenUrl: sandbox.tokenUrl,
		clientId: c.id,
		clientSecret: c.secret,
		scope: 'llm.chat llm.models',
		clientAuthentication: c.authMethod === 'client_secret_basic' ? 'header' : 'body',
	};
}

// ---------------------------------------------------------------------------------------------
// Machine description
// ---------------------------------------------------------------------------------------------

export interface MachineInfo {
	cpuModel: string;
	cores: number;
	memoryGiB: number;
	node: string;
	os: string;
	load: string;
	date: string;
}

export function machineInfo(): MachineInfo {
	const cpus = os.cpus();
	return {
		cpuModel: cpus[0]?.model ?? 'unknown',
		cores: cpus.length,
		memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
		node: process.version,
		os: `${os.type()} ${os.release()} ${os.arch()}`,
		load: os.loadavg().map((l) => l.toFixed(2)).join(' / '),
		date: new Date().toISOString(),
	};
}

/** The load average now, as "1m / 5m / 15m". */
export function loadNow(): string {
	return os.loadavg().map((l) => l.toFixed(2)).join(' / ');
}

export function gitRevision(cwd: string): string {
	try {
		const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' }).trim();
		const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8' }).trim();
		return dirty ? `${rev} (with uncommitted changes)` : rev;
	} catch {
		return 'unknown';
	}
}

export function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}
