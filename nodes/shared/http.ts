/**
 * One HTTP exchange on the wire, with the rules every request of this package obeys, whoever the
 * server is (issue 10): no redirect is followed (a 3xx comes back as an answer, so the caller can
 * report it with its target), the answer is limited in size after decompression, and the whole
 * exchange has a deadline, not only an idle timeout (a server that drips a byte every 500 ms would
 * otherwise hold it forever). Never throws a raw axios error: its `config` holds the request's
 * headers and body, secrets included.
 */
import axios, { type AxiosResponse, type Method } from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

import { currentEgressFilter, egressProtectionEnabled, type EgressFilter } from './egress';

export interface HttpRequest {
	method: Method;
	url: string;
	headers: Record<string, string>;
	body?: string;
	/** Largest answer accepted, counted after gzip/deflate/br decompression. */
	maxResponseBytes: number;
	/** The whole exchange, connect to last byte. */
	deadlineMs: number;
	/** The caller's cancellation (a cancelled n8n execution). */
	signal?: AbortSignal;
}

export interface HttpAnswer {
	status: number;
	headers: Record<string, unknown>;
	bodyText: string;
}

export type TransportFailureKind = 'aborted' | 'deadline' | 'too-large' | 'blocked' | 'network';

/** No HTTP answer to use: cancelled, out of time, too large, or the network failed. Holds no request data. */
export class TransportFailure extends Error {
	readonly kind: TransportFailureKind;
	/** The system error code (ECONNREFUSED, ENOTFOUND…), for network failures. */
	readonly code?: string;

	constructor(kind: TransportFailureKind, message: string, code?: string) {
		super(message);
		this.name = 'TransportFailure';
		this.kind = kind;
		this.code = code;
	}
}

const TRANSIENT_NETWORK_CODES = new Set([
	'ECONNREFUSED',
	'ECONNRESET',
	'ETIMEDOUT',
	'ECONNABORTED',
	'EPIPE',
	'EAI_AGAIN',
	'ENETUNREACH',
	'EHOSTUNREACH',
	'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** Whether another try may get through: dropped or refused connections, and the deadline. */
export function isTransientFailure(failure: TransportFailure): boolean {
	if (failure.kind === 'deadline') return true;
	if (failure.kind !== 'network') return false;
	return failure.code === undefined ? /socket hang up/i.test(failure.message) : TRANSIENT_NETWORK_CODES.has(failure.code);
}

function describe(error: unknown, code: string | undefined): string {
	if (code === 'ENOTFOUND') return 'host not found (ENOTFOUND)';
	if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
	if (code) return code;
	const message = error instanceof Error ? error.message : String(error);
	// Node's own messages name no request data; keep them short.
	return message.slice(0, 200);
}

function failureOf(error: unknown, request: HttpRequest, deadline: AbortSignal): TransportFailure {
	if (request.signal?.aborted) return new TransportFailure('aborted', 'The execution was cancelled');
	if (deadline.aborted) return new TransportFailure('deadline', `no complete answer within ${request.deadlineMs} ms`);
	const code = typeof (error as { code?: unknown })?.code === 'string' ? ((error as { code: string }).code) : undefined;
	const message = error instanceof Error ? error.message : '';
	if (/maxContentLength size of/.test(message)) {
		return new TransportFailure('too-large', `the answer is larger than ${request.maxResponseBytes} bytes`);
	}
	if (/blocked because/i.test(message)) return new TransportFailure('blocked', `n8n's SSRF protection blocked it: ${message.slice(0, 200)}`);
	if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
		return new TransportFailure('deadline', `no answer within ${request.deadlineMs} ms`, code);
	}
	return new TransportFailure('network', describe(error, code), code);
}

// One pair of agents per filter: keep-alive still works, and every new connection's DNS answer is checked.
const agentsByFilter = new WeakMap<EgressFilter, { httpAgent: HttpAgent; httpsAgent: HttpsAgent }>();

function agentsFor(filter: EgressFilter): { httpAgent: HttpAgent; httpsAgent: HttpsAgent } {
	let agents = agentsByFilter.get(filter);
	if (!agents) {
		const lookup = filter.createSecureLookup();
		agents = { httpAgent: new HttpAgent({ keepAlive: true, lookup }), httpsAgent: new HttpsAgent({ keepAlive: true, lookup }) };
		agentsByFilter.set(filter, agents);
	}
	return agents;
}

/** A proxy from the environment: its own (often private) address must not meet the DNS filter. */
const proxied = () => ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) => !!process.env[name]);

export async function exchange(request: HttpRequest): Promise<HttpAnswer> {
	const filter = currentEgressFilter();
	const deadlineMs = Math.max(1, Math.floor(Number.isFinite(request.deadlineMs) ? request.deadlineMs : 60_000));
	const maxResponseBytes = Number.isFinite(request.maxResponseBytes) && request.maxResponseBytes > 0 ? request.maxResponseBytes : 1024 * 1024;
	const deadline = AbortSignal.timeout(deadlineMs);
	const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;
	let response: AxiosResponse<string>;
	try {
		if (!filter && egressProtectionEnabled()) {
			// Fail closed: the protection is on, and this n8n did not hand over its filter.
			throw new TransportFailure('blocked', "n8n's SSRF protection is on, but its filter is not available to this package");
		}
		if (filter) {
			// n8n's SSRF protection: the URL first (IP literals, host names), then every DNS answer (rebinding).
			const verdict = await filter.validateUrl(request.url);
			if (!verdict.ok) throw new TransportFailure('blocked', `n8n's SSRF protection blocked it: ${verdict.error.message.slice(0, 200)}`);
		}
		response = await axios.request<string>({
			method: request.method,
			url: request.url,
			data: request.body,
			headers: request.headers,
			// The socket idle timeout; `deadline` bounds the whole exchange.
			timeout: deadlineMs,
			signal,
			maxRedirects: 0,
			maxContentLength: maxResponseBytes,
			maxBodyLength: Infinity,
			responseType: 'text',
			transformResponse: (data: unknown) => data,
			validateStatus: () => true,
			...(filter && !proxied() ? agentsFor(filter) : {}),
		});
	} catch (error) {
		if (error instanceof TransportFailure) throw error;
		throw failureOf(error, { ...request, deadlineMs, maxResponseBytes }, deadline);
	}
	return { status: response.status, headers: response.headers as Record<string, unknown>, bodyText: String(response.data ?? '') };
}

/** Where a 3xx answer points, or "elsewhere"; the caller scrubs it (a Location can carry a code or token). */
export function redirectTarget(answer: HttpAnswer): string | undefined {
	if (answer.status < 300 || answer.status >= 400) return undefined;
	return typeof answer.headers.location === 'string' && answer.headers.location !== '' ? answer.headers.location : 'elsewhere';
}
