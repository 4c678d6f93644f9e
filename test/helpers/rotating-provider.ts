/**
 * A provider that rotates refresh tokens the way Auth0, Okta, Keycloak and Entra do, on 127.0.0.1:
 * every refresh_token grant answers a new refresh token and retires the one it got; a retired one sent
 * again is reuse, and revokes the whole family (every token of it, access tokens included), unless it
 * comes within `reuseGraceMs` of its rotation (Okta's grace period, Auth0's reuse interval).
 * Client credentials are served too. The chat API (`/v1/chat/completions`) checks every access token:
 * issued here, not expired, family not revoked.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RotatingProviderOptions {
	clientId: string;
	clientSecret: string;
	tokenTtlSeconds: number;
	reuseGraceMs?: number;
	/** False: a provider that does not rotate (the refresh token stays, the answer carries none). Default true. */
	rotate?: boolean;
}

export interface RotatingProviderStats {
	tokenRequests: number;
	refreshGrants: number;
	clientCredentialsGrants: number;
	invalidGrant: number;
	reuseDetected: number;
	chatRequests: number;
	chat401: number;
	familiesRevoked: number;
}

interface Family {
	current: string;
	/** Retired refresh tokens, with when they were retired. */
	retired: Map<string, number>;
	revoked: boolean;
}

export interface RotatingProvider {
	origin: string;
	tokenUrl: string;
	baseUrl: string;
	stats: RotatingProviderStats;
	/** A new family; its first refresh token (what a user pastes into the credential). */
	newFamily(): string;
	/** Every access and refresh token issued so far (to search logs and stores for them). */
	issued: Set<string>;
	/** The refresh token the family of `seed` accepts now. */
	currentRefreshToken(seed: string): string | undefined;
	/** Holds the next `count` token answers until release() (a slow token endpoint); calls onHeld with the client's port. */
	holdTokenAnswers(count: number, onHeld?: (remotePort: number) => void): void;
	releaseHeld(): void;
	/** Forgets the held requests unanswered and unprocessed (their clients gave up). */
	dropHeld(): void;
	/**
	 * The next token requests meet these faults, in order: `lostAnswer` processes the grant (a refresh token
	 * rotates) and cuts the connection instead of answering; `status` answers that error without processing.
	 */
	injectTokenFaults(...faults: Array<{ lostAnswer: true } | { status: number; delayMs?: number }>): void;
	setReuseGraceMs(ms: number): void;
	reset(): void;
	close(): Promise<void>;
}

const newStats = (): RotatingProviderStats => ({
	tokenRequests: 0,
	refreshGrants: 0,
	clientCredentialsGrants: 0,
	invalidGrant: 0,
	reuseDetected: 0,
	chatRequests: 0,
	chat401: 0,
	familiesRevoked: 0,
});

export async function startRotatingProvider(options: RotatingProviderOptions): Promise<RotatingProvider> {
	const families: Family[] = [];
	const accessTokens = new Map<string, { expiresAtMs: number; family?: Family }>();
	const issued = new Set<string>();
	const held: Array<() => void> = [];
	let reuseGraceMs = options.reuseGraceMs ?? 0;
	let faults: Array<{ lostAnswer: true } | { status: number; delayMs?: number }> = [];
	let holdCount = 0;
	let onHeld: ((remotePort: number) => void) | undefined;
	const provider = { stats: newStats() } as RotatingProvider;
	const token = (kind: string) => `${kind}-${randomBytes(18).toString('base64url')}`;

	const json = (res: ServerResponse, status: number, body: unknown) => {
		if (res.destroyed) return;
		res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
		res.end(JSON.stringify(body));
	};

	const answerToken = (form: URLSearchParams, req: IncomingMessage, res: ServerResponse) => {
		const stats = provider.stats;
		stats.tokenRequests++;
		if (form.get('client_id') !== options.clientId || form.get('client_secret') !== options.clientSecret) {
			json(res, 401, { error: 'invalid_client' });
			return;
		}
		const accessToken = token('rot-at');
		issued.add(accessToken);
		const lifetime = { expiresAtMs: Date.now() + options.tokenTtlSeconds * 1000 };
		if (form.get('grant_type') === 'client_credentials') {
			stats.clientCredentialsGrants++;
			accessTokens.set(accessToken, lifetime);
			json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: options.tokenTtlSeconds });
			return;
		}
		stats.refreshGrants++;
		const sent = form.get('refresh_token') ?? '';
		const family = families.find((candidate) => candidate.current === sent || candidate.retired.has(sent));
		if (!family || family.revoked) {
			stats.invalidGrant++;
			json(res, 400, { error: 'invalid_grant', error_description: 'Unknown or revoked refresh token' });
			return;
		}
		if (family.current !== sent) {
			const retiredAtMs = family.retired.get(sent)!;
			if (reuseGraceMs === 0 || Date.now() - retiredAtMs > reuseGraceMs) {
				stats.reuseDetected++;
				stats.invalidGrant++;
				stats.familiesRevoked++;
				family.revoked = true;
				json(res, 400, { error: 'invalid_grant', error_description: 'Refresh token reuse detected; the token family is revoked' });
				return;
			}
		}
		accessTokens.set(accessToken, { ...lifetime, family });
		if (options.rotate === false) {
			json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: options.tokenTtlSeconds });
			return;
		}
		family.retired.set(family.current, Date.now());
		family.current = token('rot-rt');
		issued.add(family.current);
		json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: options.tokenTtlSeconds, refresh_token: family.current });
	};

	const server: Server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			if (req.method === 'POST' && req.url === '/oauth/token') {
				const form = new URLSearchParams(body);
				const fault = faults.shift();
				if (fault && 'lostAnswer' in fault) {
					answerToken(form, req, { writeHead: () => undefined, end: () => req.socket.destroy(), destroyed: false } as unknown as ServerResponse);
					return;
				}
				if (fault) {
					provider.stats.tokenRequests++;
					setTimeout(() => json(res, fault.status, { error: 'temporarily_unavailable' }), fault.delayMs ?? 0);
					return;
				}
				if (holdCount > 0) {
					holdCount--;
					held.push(() => answerToken(form, req, res));
					onHeld?.(req.socket.remotePort ?? 0);
					return;
				}
				answerToken(form, req, res);
				return;
			}
			if (req.method === 'POST' && req.url === '/v1/chat/completions') {
				provider.stats.chatRequests++;
				const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
				const known = accessTokens.get(bearer);
				if (!known || known.expiresAtMs <= Date.now() || known.family?.revoked) {
					provider.stats.chat401++;
					json(res, 401, { error: { message: 'invalid or expired token', type: 'invalid_request_error' } });
					return;
				}
				const request = JSON.parse(body || '{}') as { model?: string };
				json(res, 200, {
					id: 'chatcmpl-rotating',
					object: 'chat.completion',
					created: Math.floor(Date.now() / 1000),
					model: request.model ?? 'rotating-model',
					choices: [{ index: 0, message: { role: 'assistant', content: 'rotated fine' }, finish_reason: 'stop' }],
					usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
				});
				return;
			}
			if (req.method === 'GET' && req.url === '/v1/models') {
				json(res, 200, { object: 'list', data: [{ id: 'rotating-model', object: 'model' }] });
				return;
			}
			json(res, 404, { error: 'not found' });
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return Object.assign(provider, {
		origin,
		tokenUrl: `${origin}/oauth/token`,
		baseUrl: `${origin}/v1`,
		issued,
		newFamily: () => {
			const first = token('rot-rt');
			issued.add(first);
			families.push({ current: first, retired: new Map(), revoked: false });
			return first;
		},
		currentRefreshToken: (seed: string) => families.find((family) => family.current === seed || family.retired.has(seed))?.current,
		holdTokenAnswers: (count: number, callback?: (remotePort: number) => void) => {
			holdCount = count;
			onHeld = callback;
		},
		releaseHeld: () => {
			holdCount = 0;
			for (const answer of held.splice(0)) answer();
		},
		dropHeld: () => {
			holdCount = 0;
			held.splice(0);
		},
		injectTokenFaults: (...next: Array<{ lostAnswer: true } | { status: number; delayMs?: number }>) => {
			faults = next;
		},
		setReuseGraceMs: (ms: number) => {
			reuseGraceMs = ms;
		},
		reset: () => {
			provider.stats = newStats();
			reuseGraceMs = options.reuseGraceMs ?? 0;
			faults = [];
		},
		close: async () => {
			provider.releaseHeld();
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	});
}
