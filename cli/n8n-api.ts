/**
 * Creating or updating the credentials through n8n's public REST API (n8n 2.41's openapi.yml):
 *
 *   POST  /api/v1/credentials        {id, name, type, data}  200 created (with createdAt); 409 when the id is taken
 *   GET   /api/v1/credentials        ?limit=250&cursor=…     each credential's createdAt and owning project (shared[])
 *   GET   /api/v1/credentials/{id}                           its createdAt (credential:read), when the list is refused
 *   PATCH /api/v1/credentials/{id}   {name, type, data}      200 updated (data replaces the old data)
 *
 * POST takes a caller-chosen id (1–16 of [A-Za-z0-9_-]) since n8n 2.x, so the stable id is kept. A 409
 * means "exists", but not whose: an owner's or admin's key may PATCH any member's credential. So the
 * update is made only to a credential this CLI created (receipts.ts), checked against the list
 * (credential:list) or the credential itself (credential:read). Authentication is the `X-N8N-API-KEY`
 * header. Providers are sent one after another; a failure is recorded and the next provider still goes.
 */
import { parseProviderConfig, secretsOf } from '../nodes/shared/config/provider-config';
import { boundedServerText, secretHeaderValues } from '../nodes/shared/core/scrub';
import type { N8nCredential } from './litellm-config';
import { keyOwner, type Receipts } from './receipts';

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

async function readBounded(response: Response, maxBytes = MAX_FAILURE_BODY_BYTES): Promise<string> {
	const reader = response.body?.getReader();
	if (!reader) return '';
	const chunks: Uint8Array[] = [];
	let size = 0;
	while (size < maxBytes) {
		const { done, value } = await reader.read();
		if (done) break;
		chunks.push(value);
		size += value.length;
	}
	await reader.cancel().catch(() => undefined);
	return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
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

/** What n8n's credential list (`GET /credentials`, credential:list) or `GET /credentials/{id}` (credential:read) shows of one. */
interface CredentialState {
	createdAt?: string;
	/** Known only from the list (owner and admin keys). */
	ownerProjectId?: string;
}

/** Pages of the credential list read at the most (250 a page). */
const MAX_LIST_PAGES = 40;
/** One page of the list: 250 credentials of a few hundred bytes each. */
const MAX_LIST_PAGE_BYTES = 4 * 1024 * 1024;

type Lookup = { found: CredentialState } | 'missing' | 'refused';

/**
 * Creates or updates each credential; resolves with one outcome per credential, in order. Never rejects.
 * An existing credential (409 on create) is updated only when `receipts` says this CLI created it on this
 * n8n, and n8n still shows it with the same creation time and in the same project (receipts.ts).
 */
export async function upsertCredentials(credentials: N8nCredential[], options: N8nApiOptions & { receipts: Receipts }): Promise<UpsertOutcome[]> {
	const base = publicApiBase(options.n8nUrl);
	const { receipts } = options;
	const owner = keyOwner(options.apiKey);
	const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
	const send = (method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown) =>
		fetch(new URL(path, base), {
			method,
			headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), accept: 'application/json', 'x-n8n-api-key': options.apiKey },
			body: body === undefined ? undefined : JSON.stringify(body),
			redirect: 'manual',
			signal: AbortSignal.timeout(timeoutMs),
		});

	/** The credential list, read once per run (and again after creating, for the new ones' projects). */
	let listed: Map<string, CredentialState> | 'refused' | undefined;
	const readList = async (): Promise<Map<string, CredentialState> | 'refused'> => {
		const states = new Map<string, CredentialState>();
		let cursor: string | undefined;
		for (let page = 0; page < MAX_LIST_PAGES; page++) {
			const answer = await send('GET', `credentials?limit=250${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
			if (!answer.ok) {
				await answer.body?.cancel();
				return 'refused';
			}
			const body = JSON.parse(await readBounded(answer, MAX_LIST_PAGE_BYTES)) as {
				data?: Array<{ id?: unknown; createdAt?: unknown; shared?: Array<{ id?: unknown; role?: unknown }> }>;
				nextCursor?: unknown;
			};
			for (const entry of body.data ?? []) {
				if (typeof entry.id !== 'string') continue;
				const owner = entry.shared?.find((share) => share.role === 'credential:owner');
				states.set(entry.id, {
					createdAt: typeof entry.createdAt === 'string' ? entry.createdAt : undefined,
					ownerProjectId: typeof owner?.id === 'string' ? owner.id : undefined,
				});
			}
			if (typeof body.nextCursor !== 'string' || body.nextCursor === '') return states;
			cursor = body.nextCursor;
		}
		return states;
	};
	const lookUp = async (id: string): Promise<Lookup> => {
		listed ??= await readList();
		if (listed !== 'refused') {
			const state = listed.get(id);
			return state ? { found: state } : 'missing';
		}
		// A key without credential:list may still read one credential (credential:read): its creation time, no project.
		const answer = await send('GET', `credentials/${encodeURIComponent(id)}`);
		if (answer.status === 404) return 'missing';
		if (!answer.ok) {
			await answer.body?.cancel();
			return 'refused';
		}
		const body = JSON.parse(await readBounded(answer)) as { createdAt?: unknown };
		return { found: { createdAt: typeof body.createdAt === 'string' ? body.createdAt : undefined } };
	};

	/** Why an existing credential must not be updated, or undefined when it is this CLI's own. */
	const refusalToUpdate = async (id: string): Promise<string | undefined> => {
		const receipt = receipts.get(base, id);
		if (!receipt) {
			return `conflict: n8n already holds a credential with id ${id}, and this CLI did not create it (no record in ${receipts.file}). It is left as it is: whoever made it would receive these secrets. If it is yours, delete it in n8n and run again; otherwise give the provider another name`;
		}
		if (receipt.keyOwner !== owner) {
			return `conflict: credential ${id} was created by this CLI with another user's API key. It is left as it is: run the import with that user's key, or delete the credential in n8n and run again`;
		}
		const current = await lookUp(id);
		if (current === 'refused') {
			return `cannot check that credential ${id} is still the one this CLI created: the API key needs the credential:list scope (an owner's or admin's key), or credential:read. Nothing was changed`;
		}
		if (current === 'missing' || current.found.createdAt !== receipt.createdAt) {
			return `conflict: credential ${id} is not the one this CLI created on ${receipt.createdAt} (it was deleted and made again${current === 'missing' ? ', and this key cannot see it' : ''}). It is left as it is; delete it in n8n if it is yours, and run again`;
		}
		if (receipt.ownerProjectId && current.found.ownerProjectId && current.found.ownerProjectId !== receipt.ownerProjectId) {
			return `conflict: credential ${id} now belongs to another project than the one this CLI created it in. It is left as it is`;
		}
		return undefined;
	};

	const outcomes: UpsertOutcome[] = [];
	const createdNow: string[] = [];
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
				let createdAt = '';
				try {
					const answer = JSON.parse(await readBounded(created)) as { createdAt?: unknown };
					createdAt = typeof answer.createdAt === 'string' ? answer.createdAt : '';
				} catch {
					// An n8n that answers without createdAt: recorded as such, and never updated later.
				}
				receipts.set(base, id, { createdAt, keyOwner: owner });
				createdNow.push(id);
				outcomes.push({ name, id, status: 'created' });
				continue;
			}
			if (created.status !== 409) {
				outcomes.push({ name, id, status: 'failed', detail: hide(`create: ${await describeFailure(created)}`, secrets) });
				continue;
			}
			await created.body?.cancel();
			const refusal = await refusalToUpdate(id);
			if (refusal !== undefined) {
				outcomes.push({ name, id, status: 'failed', detail: hide(refusal, secrets) });
				continue;
			}
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
	// The project each new credential landed in (the key user's), for the ownership check of later runs.
	if (createdNow.length > 0) {
		try {
			const states = await readList();
			if (states !== 'refused') {
				for (const id of createdNow) {
					const receipt = receipts.get(base, id);
					const ownerProjectId = states.get(id)?.ownerProjectId;
					if (receipt && ownerProjectId) receipts.set(base, id, { ...receipt, ownerProjectId });
				}
			}
		} catch {
			// Without the project, later runs check the creation time alone.
		}
	}
	return outcomes;
}
