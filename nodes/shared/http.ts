/**
 * One HTTP exchange on the wire, with the rules every request of this package obeys, whoever the
 * server is (issue 10): no redirect is followed (a 3xx comes back as an answer, so the caller can
 * report it with its target), the answer is limited in size after decompression, and the whole
 * exchange has a deadline, not only an idle timeout (a server that drips a byte every 500 ms would
 * otherwise hold it forever). Never throws a raw axios error: its `config` holds the request's
 * headers and body, secrets included.
 */
import axios, { type AxiosResponse, type Method } from 'axios';
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import * as tls from 'node:tls';

import { currentEgressFilter, egressProtectionEnabled, type EgressFilter } from './egress';

/** TLS beyond Node's defaults: CAs trusted in addition to the system's, and a client certificate (mTLS, RFC 8705). */
export interface TlsMaterial {
	caPems?: string[];
	certificatePem?: string;
	privateKeyPem?: string;
	passphrase?: string;
}

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
	tls?: TlsMaterial;
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

// Node's TLS error codes that mean "this server's certificate is not trusted" (not a network failure).
const UNTRUSTED_SERVER_CODES = new Set([
	'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
	'SELF_SIGNED_CERT_IN_CHAIN',
	'DEPTH_ZERO_SELF_SIGNED_CERT',
	'UNABLE_TO_GET_ISSUER_CERT',
	'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
	'CERT_UNTRUSTED',
	'ERR_TLS_CERT_ALTNAME_INVALID',
	'CERT_HAS_EXPIRED',
]);

/** What to do about a TLS failure, for the token endpoint and the LLM API alike; undefined when it is not one. */
export function tlsFailureHint(failure: TransportFailure, endpoint: string): string | undefined {
	if (failure.code === undefined) return undefined;
	if (UNTRUSTED_SERVER_CODES.has(failure.code)) {
		return failure.code === 'ERR_TLS_CERT_ALTNAME_INVALID'
			? `The ${endpoint}'s TLS certificate is not issued for that host name; check the URL.`
			: `n8n does not trust the ${endpoint}'s TLS certificate (${failure.code}); if your company uses its own CA, paste its certificate into CA Certificate.`;
	}
	if (/^ERR_SSL_|^ERR_TLS_|ALERT/.test(failure.code)) {
		return `The TLS handshake with the ${endpoint} failed (${failure.code}); if it requires a client certificate, set Private Key and Certificate (and Use Client Certificate for API for the LLM API).`;
	}
	return undefined;
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

type Lookup = ReturnType<EgressFilter['createSecureLookup']>;

/** The CAs Node trusts by default (its bundle, NODE_EXTRA_CA_CERTS where Node reports them), which `ca` would otherwise replace. */
function defaultCaPems(): string[] {
	const getCACertificates = (tls as { getCACertificates?: (type: 'default') => string[] }).getCACertificates;
	return typeof getCACertificates === 'function' ? getCACertificates('default') : [...tls.rootCertificates];
}

function tlsOptions(material: TlsMaterial): tls.SecureContextOptions {
	return {
		...(material.caPems?.length ? { ca: [...defaultCaPems(), ...material.caPems] } : {}),
		...(material.certificatePem && material.privateKeyPem
			? { cert: material.certificatePem, key: material.privateKeyPem, passphrase: material.passphrase }
			: {}),
	};
}

interface Agents {
	httpAgent?: HttpAgent;
	httpsAgent?: HttpsAgent;
}

// Keep-alive agents, one per filter and TLS material: connections (and TLS sessions with a client
// certificate, which cost a handshake each) are reused, and every new connection's DNS answer is checked.
const agentsByFilter = new WeakMap<EgressFilter, Map<string, Agents>>();
const agentsWithoutFilter = new Map<string, Agents>();
/** Credentials with their own TLS material, per filter; the oldest agents are closed beyond this. */
const MAX_TLS_AGENTS = 64;

function agentsFor(filter: EgressFilter | undefined, material: TlsMaterial | undefined): Agents {
	const filtered = !!filter && !proxied();
	if (!filtered && !material) return {};
	let byMaterial = filter ? agentsByFilter.get(filter) : agentsWithoutFilter;
	if (!byMaterial) {
		byMaterial = new Map();
		if (filter) agentsByFilter.set(filter, byMaterial);
	}
	// Keyed by a digest, not the key text: the map outlives the request.
	const id = material ? createHash('sha256').update(JSON.stringify([material, filtered])).digest('base64url') : `plain:${filtered}`;
	let agents = byMaterial.get(id);
	if (!agents) {
		const lookup: Lookup | undefined = filtered ? filter.createSecureLookup() : undefined;
		agents = {
			httpAgent: new HttpAgent({ keepAlive: true, ...(lookup ? { lookup } : {}) }),
			httpsAgent: new HttpsAgent({ keepAlive: true, ...(lookup ? { lookup } : {}), ...(material ? tlsOptions(material) : {}) }),
		};
		byMaterial.set(id, agents);
		if (byMaterial.size > MAX_TLS_AGENTS) {
			const [oldestId, oldest] = byMaterial.entries().next().value as [string, Agents];
			byMaterial.delete(oldestId);
			oldest.httpAgent?.destroy();
			oldest.httpsAgent?.destroy();
		}
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
			...agentsFor(filter, request.tls),
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
