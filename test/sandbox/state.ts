/**
 * Shared mutable state of one sandbox: runtime configuration, fault queues, per-client counters
 * and a ring buffer of recorded requests. Owned by server.ts, read/written by the auth and chat
 * handlers and by the `/__sandbox/*` control endpoints.
 */

export type ClientAuthMethod =
	| 'client_secret_post'
	| 'client_secret_basic'
	| 'client_secret_jwt'
	| 'private_key_jwt'
	| 'tls_client_auth'
	| 'self_signed_tls_client_auth';

export interface SandboxClient {
	/** OAuth2 client_id. */
	id: string;
	/** client_secret (plain; the sandbox is a test fixture); '' for clients that authenticate with a key or certificate. */
	secret: string;
	/** Registered token_endpoint_auth_method (oidc-provider accepts post and basic interchangeably for secret clients, see auth-server.ts). */
	authMethod: ClientAuthMethod;
	/** Scopes the client may obtain; default `llm.chat llm.models`. Also what it gets when it sends no `scope`. */
	scope?: string;
	/** private_key_jwt and self_signed_tls_client_auth: the client's public keys (JWKs; with `x5c` for self-signed certificates). */
	jwks?: { keys: Array<Record<string, unknown>> };
	/** token_endpoint_auth_signing_alg: the one JWS algorithm the client's assertions must use. */
	signingAlg?: string;
	/** tls_client_auth: the certificate subject registered for the client, e.g. "CN=n8n-mtls-client". */
	subjectDn?: string;
	/** Entra ID's rule: assertions must carry this `x5t#S256` (the registered certificate's thumbprint). */
	expectX5tS256?: string;
}

/**
 * One injected fault. `kind` defaults to 'status'.
 *  - 'status': answer with `status` (default 503), optional `Retry-After`, and an error body fitting
 *    the endpoint (RFC 6749 §5.2 JSON on the token endpoint, OpenAI-style on the chat API,
 *    Anthropic-style on /v1/messages and Vertex AI paths) unless `body` is given (a string body is
 *    sent as-is with `contentType`, default text/plain).
 *  - 'drop': destroy the socket without any answer.
 *  - 'hang': never answer (until the client gives up or the sandbox stops).
 *  - 'stream-error': a streamed answer sends its first two pieces, then an error event, and ends:
 *    `data: {"error": …}` on Chat Completions (`body` replaces the error object), `event: error` with
 *    the format's own error data on Responses and Messages (`body` replaces the data); a request
 *    that does not stream gets `status` (503).
 */
export interface Fault {
	kind?: 'status' | 'drop' | 'hang' | 'stream-error';
	status?: number;
	retryAfterSeconds?: number;
	/** How many consecutive matching requests get this fault; default 1. */
	count?: number;
	body?: unknown;
	contentType?: string;
	/** Chat faults only: apply only to requests whose path contains this string (e.g. '/chat/completions'). */
	match?: string;
}

export interface SandboxConfig {
	/** Lifetime of newly issued access tokens, seconds. */
	tokenTtlSeconds: number;
	/** Added delay before every /v1/* request is handled, ms. */
	chatLatencyMs: number;
	/** Added delay before every token request is handled, ms. */
	tokenLatencyMs: number;
	/** Pause between the pieces of a streamed answer, ms (so that a client sees them arrive one by one). */
	streamChunkIntervalMs: number;
	/** Answer 400 "Unrecognized request argument supplied: stream_options" like older Azure API versions. */
	rejectStreamOptions: boolean;
}

export interface SandboxConfigPatch extends Partial<SandboxConfig> {
	/** Replaces the pending token-endpoint fault queue ([] clears it). */
	tokenFaults?: Fault[];
	/** Replaces the pending chat-API fault queue ([] clears it). */
	chatFaults?: Fault[];
}

export interface ClientCounters {
	/** Requests to the token endpoint (answered by a fault or by oidc-provider). */
	tokenRequests: number;
	/** Token requests answered 200 with an access token. */
	tokensIssued: number;
	/** Token requests answered with anything else (oidc-provider errors and injected faults). */
	tokenErrors: number;
	/** Requests to /v1/* (models and chat completions), whatever their outcome. */
	chatRequests: number;
	/** /v1/* requests answered 401 (bad/missing/expired token, or an injected 401). */
	chatRejected401: number;
}

export interface RecordedRequest {
	seq: number;
	/** Epoch ms when the request arrived. */
	at: number;
	kind: 'token' | 'chat' | 'models' | 'embeddings' | 'other';
	method: string;
	path: string;
	/** Client the request is attributed to (see counters). */
	clientId: string;
	status: number | 'dropped' | 'hung';
	/** All request headers, lower-cased names, unredacted (this is a test fixture). */
	headers: Record<string, string | string[] | undefined>;
	/** Token requests: the parsed form body; chat requests: the parsed JSON body. */
	body?: unknown;
	/** Set when an injected fault answered the request. */
	fault?: string;
	/** Subject of the TLS client certificate the request came with (HTTPS sandboxes). */
	clientCertificate?: string;
	/** Token errors: oidc-provider's reason (its error_detail), which the answer itself does not carry. */
	errorDetail?: string;
}

export interface Stats {
	clients: Record<string, ClientCounters>;
	totals: ClientCounters;
	config: SandboxConfig & { pendingTokenFaults: Fault[]; pendingChatFaults: Fault[] };
	recordedRequests: number;
}

/** Attribution key when no client id can be determined (no token, unparseable credentials). */
export const UNKNOWN_CLIENT = '(unknown)';

const MAX_RECORDED = 500;

function zeroCounters(): ClientCounters {
	return { tokenRequests: 0, tokensIssued: 0, tokenErrors: 0, chatRequests: 0, chatRejected401: 0 };
}

function nonNegativeNumber(value: unknown, name: string): number {
	if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
		throw new TypeError(`${name} must be a non-negative number`);
	}
	return value;
}

function normalizeFaults(list: unknown, name: string): Fault[] {
	if (!Array.isArray(list)) throw new TypeError(`${name} must be an array`);
	return list.map((raw, i) => {
		if (!raw || typeof raw !== 'object') throw new TypeError(`${name}[${i}] must be an object`);
		const f = { ...(raw as Fault) };
		f.kind ??= 'status';
		if (!['status', 'drop', 'hang', 'stream-error'].includes(f.kind)) throw new TypeError(`${name}[${i}].kind must be status, drop, hang or stream-error`);
		if (f.kind === 'status') {
			f.status ??= 503;
			if (!Number.isInteger(f.status) || f.status < 100 || f.status > 599) {
				throw new TypeError(`${name}[${i}].status must be an HTTP status code`);
			}
		}
		f.count = f.count === undefined ? 1 : nonNegativeNumber(f.count, `${name}[${i}].count`);
		if (f.retryAfterSeconds !== undefined) nonNegativeNumber(f.retryAfterSeconds, `${name}[${i}].retryAfterSeconds`);
		return f;
	}).filter((f) => (f.count ?? 0) > 0);
}

export class SandboxState {
	config: SandboxConfig;
	private tokenFaults: Fault[] = [];
	private chatFaults: Fault[] = [];
	private counters = new Map<string, ClientCounters>();
	private recorded: RecordedRequest[] = [];
	private seq = 0;

	constructor(initial: Partial<SandboxConfig> = {}) {
		this.config = { tokenTtlSeconds: 3600, chatLatencyMs: 0, tokenLatencyMs: 0, streamChunkIntervalMs: 20, rejectStreamOptions: false };
		this.configure(initial);
	}

	/** Validates the whole patch first, then applies it (all or nothing). Throws TypeError on bad input. */
	configure(patch: SandboxConfigPatch): void {
		if (!patch || typeof patch !== 'object') throw new TypeError('config must be an object');
		const next = { ...this.config };
		if (patch.tokenTtlSeconds !== undefined) {
			next.tokenTtlSeconds = nonNegativeNumber(patch.tokenTtlSeconds, 'tokenTtlSeconds');
			if (!Number.isInteger(next.tokenTtlSeconds) || next.tokenTtlSeconds < 1) {
				throw new TypeError('tokenTtlSeconds must be an integer >= 1');
			}
		}
		if (patch.chatLatencyMs !== undefined) next.chatLatencyMs = nonNegativeNumber(patch.chatLatencyMs, 'chatLatencyMs');
		if (patch.tokenLatencyMs !== undefined) next.tokenLatencyMs = nonNegativeNumber(patch.tokenLatencyMs, 'tokenLatencyMs');
		if (patch.streamChunkIntervalMs !== undefined) next.streamChunkIntervalMs = nonNegativeNumber(patch.streamChunkIntervalMs, 'streamChunkIntervalMs');
		if (patch.rejectStreamOptions !== undefined) {
			if (typeof patch.rejectStreamOptions !== 'boolean') throw new TypeError('rejectStreamOptions must be true or false');
			next.rejectStreamOptions = patch.rejectStreamOptions;
		}
		const tokenFaults = patch.tokenFaults === undefined ? undefined : normalizeFaults(patch.tokenFaults, 'tokenFaults');
		const chatFaults = patch.chatFaults === undefined ? undefined : normalizeFaults(patch.chatFaults, 'chatFaults');
		this.config = next;
		if (tokenFaults) this.tokenFaults = tokenFaults;
		if (chatFaults) this.chatFaults = chatFaults;
	}

	/** Takes one use of the next pending token fault, if any. */
	takeTokenFault(): Fault | undefined {
		return this.take(this.tokenFaults, undefined);
	}

	/** Takes one use of the first pending chat fault that matches `path`, if any. */
	takeChatFault(path: string): Fault | undefined {
		return this.take(this.chatFaults, path);
	}

	private take(queue: Fault[], path: string | undefined): Fault | undefined {
		const i = queue.findIndex((f) => path === undefined || !f.match || path.includes(f.match));
		if (i === -1) return undefined;
		const fault = queue[i];
		fault.count = (fault.count ?? 1) - 1;
		if (fault.count <= 0) queue.splice(i, 1);
		return { ...fault };
	}

	count(clientId: string, field: keyof ClientCounters): void {
		let c = this.counters.get(clientId);
		if (!c) {
			c = zeroCounters();
			this.counters.set(clientId, c);
		}
		c[field] += 1;
	}

	record(entry: Omit<RecordedRequest, 'seq'>): void {
		this.seq += 1;
		this.recorded.push({ seq: this.seq, ...entry });
		if (this.recorded.length > MAX_RECORDED) this.recorded.splice(0, this.recorded.length - MAX_RECORDED);
	}

	requests(): RecordedRequest[] {
		return this.recorded.slice();
	}

	/** Zeroes counters, forgets recorded requests and clears pending faults; ttl/latency stay as configured. */
	reset(): void {
		this.counters.clear();
		this.recorded = [];
		this.tokenFaults = [];
		this.chatFaults = [];
	}

	stats(): Stats {
		const clients: Record<string, ClientCounters> = {};
		const totals = zeroCounters();
		for (const [id, c] of this.counters) {
			clients[id] = { ...c };
			for (const k of Object.keys(totals) as (keyof ClientCounters)[]) totals[k] += c[k];
		}
		return {
			clients,
			totals,
			config: {
				...this.config,
				pendingTokenFaults: this.tokenFaults.map((f) => ({ ...f })),
				pendingChatFaults: this.chatFaults.map((f) => ({ ...f })),
			},
			recordedRequests: this.recorded.length,
		};
	}
}
