/**
 * Creating or updating the credentials through n8n's public REST API (n8n 2.41's openapi.yml):
 *
 *   POST  /api/v1/credentials        {id, name, type, data}  200 created; 409 when the id is taken
 *   PATCH /api/v1/credentials/{id}   {name, type, data}      200 updated (data replaces the old data)
 *
 * POST takes a caller-chosen id (1–16 of [A-Za-z0-9_-]) since n8n 2.x, so the stable id is kept and a
 * 409 means "exists": then PATCH. Only the credential:create and credential:update API key scopes are
 * needed. Authentication is the `X-N8N-API-KEY` header. Providers are sent one after another; a failure
 * is recorded and the next provider still goes.
 */
import { parseProviderConfig, secretsOf } from '../nodes/shared/config/provider-config';
import { boundedServerText, secretHeaderValues } from '../nodes/shared/core/scrub';
import type { N8nCredential } from './litellm-config';

export type UpsertStatus = 'created' | 'updated' | 'failed';

export interface UpsertOutcome {
	name: string;
	id: string;
	status: UpsertStatus;
	/** Why it failed: HTTP status and n8n's message, or the network error. Never a secret. */
	detail?: string;
}

export interface N8nApiOptions {
	/** n8n's URL, e.g. http://localhost:5678, or its public API base, e.g. http://localhost:5678/api/v1. */
	n8nUrl: string;
	apiKey: string;
	timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** `http://host:5678` or `…/api/v1` → `http://host:5678/api/v1/` (trailing slash: a base for new URL()). */
export function publicApiBase(n8nUrl: string): URL {
	const url = new URL(n8nUrl);
	if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('--n8n-url must be an http(s) URL');
	url.search = '';
	url.hash = '';
	// Printed in reports: never a user:password pasted into the URL.
	url.username = '';
	url.password = '';
	let path = url.pathname.replace(/\/+$/, '');
	if (!/\/api\/v\d+$/.test(path)) path += '/api/v1';
	url.pathname = `${path}/`;
	return url;
}

/** Enough of n8n's error answer for its message; a larger body is not read further. */
const MAX_FAILURE_BODY_BYTES = 64 * 1024;

async function readBounded(response: Response): Promise<string> {
	const reader = response.body?.getReader();
	if (!reader) return '';
	const chunks: Uint8Array[] = [];
	let size = 0;
	while (size < MAX_FAILURE_BODY_BYTES) {
		const { done, value } = await reader.read();
		if (done) break;
		chunks.push(value);
		size += value.length;
	}
	await reader.cancel().catch(() => undefined);
	return Buffer.concat(chunks).subarray(0, MAX_FAILURE_BODY_BYTES).toString('utf8');
}

async function describeFailure(response: Response): Promise<string> {
	let message = '';
	try {
		const text = await readBounded(response);
		try {
			const body = JSON.parse(text) as { message?: unknown };
			message = typeof body.message === 'string' ? body.message : text;
		} catch {
			message = text;
		}
	} catch {
		/* no body */
	}
	return `HTTP ${response.status}${message ? `: ${message}` : ''}`;
}

/**
 * Everything in a credential's data that a failure detail must not show: what the config layer counts
 * as secrets (client secret, refresh token, key and passphrases, id:secret pairs) and the values of
 * secret Headers (an APIM key may be called anything). n8n's answer may echo the request body.
 */
function secretsOfCredential(data: N8nCredential['data']): string[] {
	const keyBody = (data.privateKey ?? '').replace(/-----[^-]+-----|\\n|\s/g, '');
	const raw = [data.clientSecret, data.refreshToken, data.privateKey, data.privateKeyPassphrase, keyBody].filter((value): value is string => !!value);
	try {
		const provider = parseProviderConfig(data as unknown as Record<string, unknown>);
		return [...raw, ...secretsOf(provider.tokenEndpoint), ...secretHeaderValues(provider.headers)];
	} catch {
		// Not a valid configuration (n8n will say so too): what can be read of it still counts.
		let headers: Record<string, string> = {};
		try {
			headers = JSON.parse(String(data.headers ?? '{}')) as Record<string, string>;
		} catch {
			// no readable headers
		}
		return [...raw, ...secretHeaderValues(headers)];
	}
}

// Scrubbed whole, then cut: n8n's answer and a redirect's target are server text.
const hide = (text: string, secrets: Array<string | undefined>) => boundedServerText(text, secrets, 400);

/** A redirect would carry the API key and the credential bodies to wherever n8n (or something posing as it) points. */
function redirectFailure(response: Response): string | undefined {
	if (response.status < 300 || response.status >= 400) return undefined;
	const location = response.headers.get('location');
	return `HTTP ${response.status}, a redirect${location ? ` to ${location}` : ''}: not followed (the request carries the API key); put the final n8n URL in --n8n-url`;
}

/** Creates or updates each credential; resolves with one outcome per credential, in order. Never rejects. */
export async function upsertCredentials(credentials: N8nCredential[], options: N8nApiOptions): Promise<UpsertOutcome[]> {
	const base = publicApiBase(options.n8nUrl);
	const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
	const send = (method: 'POST' | 'PATCH', path: string, body: unknown) =>
		fetch(new URL(path, base), {
			method,
			headers: { 'content-type': 'application/json', accept: 'application/json', 'x-n8n-api-key': options.apiKey },
			body: JSON.stringify(body),
			redirect: 'manual',
			signal: AbortSignal.timeout(timeoutMs),
		});

	const outcomes: UpsertOutcome[] = [];
	for (const credential of credentials) {
		const { id, name, type, data } = credential;
		const secrets = [options.apiKey, ...secretsOfCredential(data)];
		try {
			const created = await send('POST', 'credentials', { id, name, type, data });
			const createRedirect = redirectFailure(created);
			if (createRedirect) {
				await created.body?.cancel();
				outcomes.push({ name, id, status: 'failed', detail: hide(`create: ${createRedirect}`, secrets) });
				continue;
			}
			if (created.ok) {
				await created.body?.cancel();
				outcomes.push({ name, id, status: 'created' });
				continue;
			}
			if (created.status !== 409) {
				outcomes.push({ name, id, status: 'failed', detail: hide(`create: ${await describeFailure(created)}`, secrets) });
				continue;
			}
			await created.body?.cancel();
			const updated = await send('PATCH', `credentials/${encodeURIComponent(id)}`, { name, type, data });
			const updateRedirect = redirectFailure(updated);
			if (updateRedirect) {
				await updated.body?.cancel();
				outcomes.push({ name, id, status: 'failed', detail: hide(`update: ${updateRedirect}`, secrets) });
			} else if (updated.ok) {
				await updated.body?.cancel();
				outcomes.push({ name, id, status: 'updated' });
			} else {
				outcomes.push({ name, id, status: 'failed', detail: hide(`update: ${await describeFailure(updated)}`, secrets) });
			}
		} catch (error) {
			const cause = (error as { cause?: { code?: string; message?: string } }).cause;
			const reason =
				(error as Error).name === 'TimeoutError'
					? `no answer within ${timeoutMs} ms`
					: [(error as Error).message, cause?.code ?? cause?.message].filter(Boolean).join(': ');
			outcomes.push({ name, id, status: 'failed', detail: hide(reason, secrets) });
		}
	}
	return outcomes;
}
