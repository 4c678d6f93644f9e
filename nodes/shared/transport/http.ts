/**
 * One HTTP exchange on the wire, with the rules every request of this package obeys, whoever the
 * server is (issue 10): no redirect is followed (a 3xx comes back as an answer, so the caller can
 * report it with its target), the answer is limited in size after decompression, and the whole
 * exchange has a deadline, not only an idle timeout (a server that drips a byte every 500 ms would
 * otherwise hold it forever). Never throws a raw axios error: its `config` holds the request's
 * headers and body, secrets included.
 */
import { Axios, type AxiosResponse, type Method } from 'axios';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { finished, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import * as tls from 'node:tls';

import { currentEgressFilter, egressProtectionEnabled, type EgressFilter } from './egress';
import { proxyFor } from './proxy';
import { pemBlocks, pemText } from '../keys/pem';

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
	/**
	 * A platform's own metadata endpoint (platform-identity.ts), fixed or set by an admin, never typed in
	 * a credential: straight there, past n8n's SSRF filter (which blocks its link-local address) and past
	 * any proxy (which must not see, or answer for, the platform's tokens).
	 */
	platformEndpoint?: true;
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

/** What exchange() threw, as a TransportFailure: it throws nothing else, but a caller's catch sees `unknown`. */
export function asTransportFailure(error: unknown): TransportFailure {
	return error instanceof TransportFailure ? error : new TransportFailure('network', 'unexpected failure');
}

/** Whether another try may get through: dropped or refused connections, and the deadline. */
export function isTransientFailure(failure: TransportFailure): boolean {
	if (failure.kind === 'deadline') return true;
	if (failure.kind !== 'network') return false;
	return failure.code === undefined ? /socket hang up/i.test(failure.message) : TRANSIENT_NETWORK_CODES.has(failure.code);
}

/** Failures before any byte of the request could reach the server: the connection never opened. */
const NEVER_CONNECTED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/**
 * Whether the server cannot have seen the request. A request that must not run twice (a refresh grant,
 * whose refresh token a rotating server consumes) is sent again only then: after a deadline or a cut
 * connection the server may have acted on it and its answer was lost.
 */
export function requestNeverArrived(failure: TransportFailure): boolean {
	return failure.kind === 'blocked' || (failure.kind === 'network' && failure.code !== undefined && NEVER_CONNECTED_CODES.has(failure.code));
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

/** `deadlineMessage`: what running out of time is called where it happened (a stream says so). */
function failureOf(
	error: unknown,
	request: HttpRequest,
	prepared: Pick<Prepared, 'deadlineMs' | 'deadlineExpired'>,
	deadlineMessage = `no complete answer within ${prepared.deadlineMs} ms`,
): TransportFailure {
	if (request.signal?.aborted) return new TransportFailure('aborted', 'The execution was cancelled');
	if (prepared.deadlineExpired()) return new TransportFailure('deadline', deadlineMessage);
	const code = typeof (error as { code?: unknown })?.code === 'string' ? ((error as { code: string }).code) : undefined;
	const message = error instanceof Error ? error.message : '';
	if (/blocked because/i.test(message)) return new TransportFailure('blocked', `n8n's SSRF protection blocked it: ${message.slice(0, 200)}`);
	if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
		return new TransportFailure('deadline', `no answer within ${prepared.deadlineMs} ms`, code);
	}
	return new TransportFailure('network', describe(error, code), code);
}

type Lookup = ReturnType<EgressFilter['createSecureLookup']>;

/**
 * This package's own axios instance, with defaults of its own and nothing else: community packages in
 * one n8n share an npm tree and may share one axios, whose global defaults (an https agent that does not
 * check certificates, an adapter that ignores `transport`, headers, transforms) or interceptors another
 * package may set. None of them reaches these requests.
 */
const client = new Axios({
	adapter: 'http',
	headers: {},
	transformRequest: [(data: unknown) => data],
	transformResponse: [(data: unknown) => data],
	responseType: 'stream',
	decompress: true,
	httpVersion: 1,
	// No axios timeout and no `signal`: the deadline and the caller's cancellation end the request through
	// the transport (see cancellation()).
	timeout: 0,
	maxRedirects: 0,
	maxBodyLength: Infinity,
	// Counted after decompression by the readers here, with the caller's limit.
	maxContentLength: -1,
	validateStatus: () => true,
} as unknown as ConstructorParameters<typeof Axios>[0]);

/**
 * Node 24 copies its whole store (bundle, NODE_EXTRA_CA_CERTS, --use-openssl-ca directories) when a CA
 * is added to a context; Node 20 starts the copy from the bundle alone and drops NODE_EXTRA_CA_CERTS
 * (test/client-auth.test.ts shows it on Node 20; Node 24 was checked by hand). There they are added back. `getCACertificates` arrived
 * with the copying behaviour (Node 22.15 / 23.5), so its presence tells the two apart.
 */
function startupCasLostByAdding(): string[] {
	if (typeof (tls as { getCACertificates?: unknown }).getCACertificates === 'function') return [];
	const file = process.env.NODE_EXTRA_CA_CERTS;
	let extra: string[] = [];
	if (file) {
		try {
			extra = pemBlocks(readFileSync(file, 'utf8'))
				.filter((block) => block.label === 'CERTIFICATE')
				.map(pemText);
		} catch {
			// Node itself warned at startup about an unreadable file; nothing to add.
		}
	}
	return [...tls.rootCertificates, ...extra];
}

/** Keyed by a keyed digest, not the key text: these maps outlive the request, and a heap dump shows no guessable digest. */
const MATERIAL_ID_SECRET = randomBytes(32);
const materialId = (material: TlsMaterial) => createHmac('sha256', MATERIAL_ID_SECRET).update(JSON.stringify(material)).digest('base64url');
const contexts = new Map<string, tls.SecureContext>();
/** Every context made here, evicted or not: authenticate() must tell its own from one a node brought. */
const ownContexts = new WeakSet<tls.SecureContext>();

/** Whether `value` is a TLS context this package made (from a credential's CA and client certificate). */
export function isOwnSecureContext(value: unknown): boolean {
	return typeof value === 'object' && value !== null && ownContexts.has(value as tls.SecureContext);
}

/**
 * A TLS context with the client certificate and the extra CAs. The CAs are ADDED to the store Node
 * starts with (its bundle, NODE_EXTRA_CA_CERTS, and n8n Docker's --use-openssl-ca directory): a `ca`
 * option would replace it. Also handed to n8n's own HTTP Request node (the credential's authenticate).
 */
export function secureContextFor(material: TlsMaterial): tls.SecureContext {
	const id = materialId(material);
	let context = contexts.get(id);
	if (!context) {
		context = tls.createSecureContext(
			material.certificatePem && material.privateKeyPem
				? { cert: material.certificatePem, key: material.privateKeyPem, passphrase: material.passphrase }
				: {},
		);
		const native = (context as unknown as { context: { addCACert(pem: string): void } }).context;
		const extra = material.caPems ?? [];
		for (const pem of extra.length > 0 ? [...startupCasLostByAdding(), ...extra] : []) native.addCACert(pem);
		contexts.set(id, context);
		ownContexts.add(context);
		if (contexts.size > MAX_TLS_AGENTS) contexts.delete(contexts.keys().next().value as string);
	}
	return context;
}

interface Agents {
	httpAgent?: HttpAgent;
	httpsAgent?: HttpsAgent;
}

// Keep-alive agents, one per filter and TLS material: connections (and TLS sessions with a client
// certificate, which cost a handshake each) are reused, and every new connection's DNS answer is checked.
const agentsByFilter = new WeakMap<EgressFilter, Map<string, Agents>>();
const agentsWithoutFilter = new Map<string, Agents>();
/** Credentials with their own TLS material, per filter; the least recently used agents retire beyond this. */
const MAX_TLS_AGENTS = 64;

/** No new requests, no kept connections; requests still running on it finish (destroy() would cut them off). */
function retire(agent: HttpAgent | HttpsAgent | undefined): void {
	if (!agent) return;
	agent.maxFreeSockets = 0;
	for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

/**
 * `proxied`: the request goes through the administrator's proxy, whose own (often private) address must
 * not meet the DNS filter; every direct connection gets the filter's secure lookup.
 */
function agentsFor(filter: EgressFilter | undefined, material: TlsMaterial | undefined, proxied: boolean): Agents {
	const filtered = !!filter && !proxied;
	// Node's own agents (n8n's, where it replaced them): the instance's defaults name none that could stand
	// in, and naming them here would hand https.globalAgent's options (a 5 s socket timeout) to axios's CONNECT tunnel.
	if (!filtered && !material) return {};
	let byMaterial = filter ? agentsByFilter.get(filter) : agentsWithoutFilter;
	if (!byMaterial) {
		byMaterial = new Map();
		if (filter) agentsByFilter.set(filter, byMaterial);
	}
	const id = `${material ? materialId(material) : 'plain'}:${filtered}`;
	let agents = byMaterial.get(id);
	if (agents) {
		// Most recently used last: eviction takes the idlest.
		byMaterial.delete(id);
		byMaterial.set(id, agents);
		return agents;
	}
	const lookup: Lookup | undefined = filtered ? filter.createSecureLookup() : undefined;
	agents = {
		httpAgent: new HttpAgent({ keepAlive: true, ...(lookup ? { lookup } : {}) }),
		httpsAgent: new HttpsAgent({ keepAlive: true, ...(lookup ? { lookup } : {}), ...(material ? { secureContext: secureContextFor(material) } : {}) }),
	};
	byMaterial.set(id, agents);
	if (byMaterial.size > MAX_TLS_AGENTS) {
		const [oldestId, oldest] = byMaterial.entries().next().value as [string, Agents];
		byMaterial.delete(oldestId);
		retire(oldest.httpAgent);
		retire(oldest.httpsAgent);
	}
	return agents;
}

/**
 * axios's proxy option for a request: the administrator's proxy for this URL (proxy.ts decides, the one
 * place), or `false`, so that axios never reads the environment itself and decides otherwise.
 */
function axiosProxy(proxy: URL | undefined) {
	if (!proxy) return false as const;
	const auth = proxy.username ? { username: decodeURIComponent(proxy.username), password: decodeURIComponent(proxy.password) } : undefined;
	const port = Number(proxy.port) || (proxy.protocol === 'https:' ? 443 : 80);
	return { protocol: proxy.protocol.replace(/:$/, ''), host: proxy.hostname.replace(/^\[|\]$/g, ''), port, ...(auth ? { auth } : {}) };
}

interface Prepared {
	deadlineMs: number;
	maxResponseBytes: number;
	/** axios's transport for this exchange: it hands over the request, so that stop() can end it. */
	transport: { request: typeof httpRequest };
	/** The answer's body, once there: stop() ends it too. */
	reading(body: Readable): void;
	/** `work` (n8n's SSRF check), unless the deadline or the caller stops the exchange first: then that reason. */
	stoppedWhile<T>(work: Promise<T>): Promise<T>;
	/** Whether the deadline (not the caller) ended the exchange. */
	deadlineExpired(): boolean;
	/** The exchange is over: its deadline timer and its hold on the caller's signal go. Idempotent. */
	release(): void;
	filter: EgressFilter | undefined;
}

const deadlineMsOf = (request: HttpRequest) => Math.max(1, Math.floor(Number.isFinite(request.deadlineMs) ? request.deadlineMs : 60_000));

interface Stoppable {
	stop(reason: Error): void;
}

/**
 * The exchanges running under each caller signal (an n8n execution's cancel signal serves all its
 * items): one listener per signal ends them all, where a listener per exchange would pass Node's
 * listener-leak warning at 11 items in flight.
 */
const exchangesBySignal = new WeakMap<AbortSignal, Set<Stoppable>>();

/** How many exchanges under `signal` are still followed (tests: finished ones must not pile up). */
export function followedExchanges(signal: AbortSignal): number {
	return exchangesBySignal.get(signal)?.size ?? 0;
}

function followCaller(signal: AbortSignal, exchange: Stoppable): () => void {
	let running = exchangesBySignal.get(signal);
	if (!running) {
		const set = new Set<Stoppable>();
		running = set;
		exchangesBySignal.set(signal, set);
		signal.addEventListener('abort', () => {
			for (const each of set) each.stop(new Error('The execution was cancelled'));
			set.clear();
		}, { once: true });
	}
	running.add(exchange);
	const set = running;
	return () => set.delete(exchange);
}

/**
 * How an exchange ends early: the caller's cancellation or one deadline timer destroys its request
 * (and with it the answer being read), both dropped by release(). The request comes from axios's
 * `transport` hook, the same http/https.request axios calls itself with maxRedirects 0: no
 * AbortController, no AbortSignal.timeout/any and no axios signal subscription per call, which were
 * among the largest per-call costs in issue 23's first profile.
 */
function cancellation(request: HttpRequest, deadlineMs: number): Pick<Prepared, 'transport' | 'reading' | 'deadlineExpired' | 'release' | 'stoppedWhile'> {
	let sent: ClientRequest | undefined;
	let body: Readable | undefined;
	let stopped: Error | undefined;
	let expired = false;
	let unfollow: (() => void) | undefined;
	let rejectWaiting: ((reason: Error) => void) | undefined;
	const release = () => {
		clearTimeout(timer);
		unfollow?.();
		unfollow = undefined;
	};
	const exchange: Stoppable = {
		stop(reason) {
			if (stopped) return;
			stopped = reason;
			rejectWaiting?.(reason);
			// The body too, with the reason: destroying the request alone dumps an answer that has fully
			// arrived, which a reader not yet done with it would take for a whole one.
			body?.destroy(reason);
			sent?.destroy(reason);
			// Over: nothing keeps the request (its headers hold the token) until the deadline.
			release();
		},
	};
	if (request.signal) unfollow = followCaller(request.signal, exchange);
	const timer = setTimeout(() => {
		expired = true;
		exchange.stop(new Error(`no complete answer within ${deadlineMs} ms`));
	}, deadlineMs);
	// Like AbortSignal.timeout's: the deadline alone does not keep n8n's process alive.
	timer.unref();
	return {
		transport: {
			request: ((options: RequestOptions, callback?: (response: IncomingMessage) => void) => {
				// Stopped while n8n's check or axios's set-up ran: no connection, no TLS handshake, nothing sent.
				// axios turns the throw into the request's failure.
				if (stopped) throw stopped;
				sent = (options.protocol === 'https:' ? httpsRequest : httpRequest)(options, callback);
				return sent;
			}) as typeof httpRequest,
		},
		reading: (answer) => {
			body = answer;
			if (stopped) answer.destroy(stopped);
		},
		deadlineExpired: () => expired,
		release,
		stoppedWhile: (work) => {
			if (stopped) return Promise.reject(stopped);
			const stop = new Promise<never>((_resolve, reject) => {
				rejectWaiting = reject;
			});
			return Promise.race([work, stop]);
		},
	};
}

/**
 * The limits of one request, and n8n's SSRF verdict on its URL; throws TransportFailure('blocked').
 * Without the protection this is synchronous: no await per request for a check that is not made.
 */
function prepare(request: HttpRequest): Prepared | Promise<Prepared> {
	const deadlineMs = deadlineMsOf(request);
	const maxResponseBytes = Number.isFinite(request.maxResponseBytes) && request.maxResponseBytes > 0 ? request.maxResponseBytes : 1024 * 1024;
	if (!egressProtectionEnabled() || request.platformEndpoint) return { deadlineMs, maxResponseBytes, filter: undefined, ...cancellation(request, deadlineMs) };
	const filter = currentEgressFilter();
	// Fail closed: the protection is on, and this n8n did not hand over its filter.
	if (!filter) throw new TransportFailure('blocked', "n8n's SSRF protection is on, but its filter is not available to this package");
	// The deadline runs from here: n8n's check below counts against it.
	const prepared: Prepared = { deadlineMs, maxResponseBytes, filter, ...cancellation(request, deadlineMs) };
	// n8n's SSRF protection: the URL first (IP literals, host names), then every DNS answer (rebinding).
	// A DNS answer that does not come does not hold the exchange past its deadline or its cancellation.
	return prepared.stoppedWhile(filter.validateUrl(request.url)).then(
		(verdict) => {
			if (verdict.ok) return prepared;
			prepared.release();
			throw new TransportFailure('blocked', `n8n's SSRF protection blocked it: ${verdict.error.message.slice(0, 200)}`);
		},
		(error: unknown) => {
			prepared.release();
			throw request.signal?.aborted || prepared.deadlineExpired() ? failureOf(error, request, prepared) : error;
		},
	);
}

function axiosConfig(request: HttpRequest, prepared: Prepared) {
	const proxy = request.platformEndpoint ? undefined : proxyFor(request.url);
	return {
		method: request.method,
		url: request.url,
		data: request.body,
		headers: request.headers,
		transport: prepared.transport,
		proxy: axiosProxy(proxy),
		...agentsFor(prepared.filter, request.tls, proxy !== undefined),
	};
}

/** The request sent and its headers received, the body not yet read; on failure the exchange is released. */
async function send(request: HttpRequest): Promise<{ prepared: Prepared; response: AxiosResponse<Readable> }> {
	if (request.signal?.aborted) throw new TransportFailure('aborted', 'The execution was cancelled');
	let prepared: Prepared | undefined;
	try {
		const preparing = prepare(request);
		// Told apart by shape, not by `instanceof Promise`: a thenable from another realm must still be awaited.
		prepared = typeof (preparing as Partial<PromiseLike<Prepared>>).then === 'function' ? await preparing : (preparing as Prepared);
		const response = await client.request<Readable>(axiosConfig(request, prepared));
		prepared.reading(response.data);
		return { prepared, response };
	} catch (error) {
		prepared?.release();
		if (error instanceof TransportFailure || !prepared) throw error;
		throw failureOf(error, request, prepared);
	}
}

/** What went wrong while the body was read: a failure of this file's own as it is, anything else mapped. */
function bodyFailure(error: unknown, request: HttpRequest, prepared: Prepared, deadlineMessage: string): TransportFailure {
	return error instanceof TransportFailure ? error : failureOf(error, request, prepared, deadlineMessage);
}

const isSuccess = (status: number) => status >= 200 && status < 300;

/** The most of an answer that is read: an error answer's start says what went wrong (MAX_ERROR_BODY_BYTES). */
const readLimitBytes = (prepared: Prepared, status: number) =>
	isSuccess(status) ? prepared.maxResponseBytes : Math.min(prepared.maxResponseBytes, MAX_ERROR_BODY_BYTES);

const tooLarge = (limit: number) => new TransportFailure('too-large', `the answer is larger than ${limit} bytes`);

/**
 * A whole body, up to `limit` bytes after decompression, read with the stream's own events: no async
 * iterator and no string per piece (issue 23's profile). `keepStartWhenTooLarge`: an error answer too
 * large to read whole is still an error answer, its start says enough.
 */
function readWhole(body: Readable, limit: number, fail: (error: unknown) => TransportFailure, keepStartWhenTooLarge: boolean): Promise<string> {
	return new Promise((resolve, reject) => {
		const pieces: Buffer[] = [];
		let received = 0;
		let settled = false;
		const text = () => Buffer.concat(pieces).toString('utf8');
		const settle = (error?: unknown) => {
			if (settled) return;
			settled = true;
			body.off('data', onData);
			body.destroy();
			if (error === undefined) resolve(text());
			else if (keepStartWhenTooLarge && error instanceof TransportFailure && error.kind === 'too-large') resolve(text());
			else reject(fail(error));
		};
		// Cancellation and the deadline destroy the request, and with it this body: `finished` reports it.
		const onData = (piece: Buffer) => {
			if (received + piece.length > limit) return settle(tooLarge(limit));
			received += piece.length;
			pieces.push(piece);
		};
		body.on('data', onData);
		finished(body, (error) => settle(error ?? undefined));
	});
}

/**
 * One request and its whole answer. A 2xx body is read up to `maxResponseBytes`; an error body only up
 * to MAX_ERROR_BODY_BYTES whatever that limit (32 MiB for chat answers by default): its start says what
 * went wrong, and every byte of it would be scrubbed before anyone sees it.
 */
export async function exchange(request: HttpRequest): Promise<HttpAnswer> {
	const { prepared, response } = await send(request);
	try {
		const bodyText = await readWhole(
			response.data,
			readLimitBytes(prepared, response.status),
			(error) => bodyFailure(error, request, prepared, `no complete answer within ${prepared.deadlineMs} ms`),
			!isSuccess(response.status),
		);
		return { status: response.status, headers: response.headers as Record<string, unknown>, bodyText };
	} finally {
		prepared.release();
	}
}

/** An answer read as it arrives (a server-sent event stream). */
export interface StreamingAnswer {
	status: number;
	headers: Record<string, unknown>;
	/** Not 2xx: the whole body (bounded), as exchange() would have read it; `chunks` is then empty. */
	bodyText?: string;
	/** The body's text as it arrives; throws TransportFailure (deadline, idle, too large, aborted, network). */
	chunks: AsyncGenerator<string, void, undefined>;
	/** Stops reading and closes the connection (a consumer that leaves early). */
	close(): void;
}

/** The largest error body read (any answer that is not 2xx): error answers are small. */
export const MAX_ERROR_BODY_BYTES = 1024 * 1024;

/**
 * Like exchange(), but a 2xx body is handed over piece by piece. `maxResponseBytes` counts the whole
 * stream after decompression; `idleTimeoutMs` bounds the wait for each next piece, `deadlineMs` the
 * whole stream.
 */
export async function openStream(request: HttpRequest & { idleTimeoutMs: number }): Promise<StreamingAnswer> {
	const { prepared, response } = await send(request);
	const { maxResponseBytes, deadlineMs } = prepared;
	const body = response.data;
	const headers = response.headers as Record<string, unknown>;
	const fail = (error: unknown) => bodyFailure(error, request, prepared, `the stream did not end within ${deadlineMs} ms`);

	if (!isSuccess(response.status)) {
		try {
			const bodyText = await readWhole(body, readLimitBytes(prepared, response.status), fail, true);
			return { status: response.status, headers, bodyText, chunks: (async function* () {})(), close: () => undefined };
		} finally {
			prepared.release();
		}
	}

	// Like the deadline, an idle timeout that is no number (an expression's NaN) falls back: setTimeout would fire at once.
	const idleMs = Math.max(1, Math.min(deadlineMs, Number.isFinite(request.idleTimeoutMs) ? request.idleTimeoutMs : deadlineMs));
	// The server's silence between pieces is bounded; cancellation and the deadline destroy the request, and
	// with it the body.
	let idle: NodeJS.Timeout | undefined;
	const armIdle = () => {
		idle = setTimeout(() => body.destroy(new TransportFailure('deadline', `the stream sent nothing for ${idleMs} ms`)), idleMs);
		idle.unref();
	};
	async function* read(): AsyncGenerator<string, void, undefined> {
		const decoder = new StringDecoder('utf8');
		let received = 0;
		armIdle();
		try {
			for await (const piece of body as AsyncIterable<Buffer>) {
				received += piece.length;
				if (received > maxResponseBytes) throw tooLarge(maxResponseBytes);
				const text = decoder.write(piece);
				if (text === '') {
					idle?.refresh();
					continue;
				}
				// Not running while the consumer has the piece: its time is not the server's silence.
				clearTimeout(idle);
				yield text;
				armIdle();
			}
			const rest = decoder.end();
			if (rest !== '') yield rest;
		} catch (error) {
			throw fail(error);
		} finally {
			clearTimeout(idle);
			body.destroy();
			prepared.release();
		}
	}
	return {
		status: response.status,
		headers,
		chunks: read(),
		close: () => {
			clearTimeout(idle);
			body.destroy();
			prepared.release();
		},
	};
}

/** Where a 3xx answer points, or "elsewhere"; the caller scrubs it (a Location can carry a code or token). */
export function redirectTarget(answer: HttpAnswer): string | undefined {
	if (answer.status < 300 || answer.status >= 400) return undefined;
	return typeof answer.headers.location === 'string' && answer.headers.location !== '' ? answer.headers.location : 'elsewhere';
}
