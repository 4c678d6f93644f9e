/**
 * What this CLI created through n8n's public API, kept on the machine that ran it (issue 19 §4).
 * Credential ids come from provider names, so anyone can predict them: a member who creates a
 * credential with that id first would otherwise receive the admin's secrets when the CLI updates "its"
 * credential on the 409. n8n's public API never returns a credential's data, so no mark can be written
 * into the credential and read back; the mark is kept here instead: for each n8n, the ids this CLI
 * created, with the creation time n8n answered and the project the credential landed in. An update is
 * made only to a credential listed here that n8n still shows with that creation time and in that
 * project. The file holds no secret (ids, times, project ids, n8n's URL without credentials).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { writeFileAtomically } from './atomic-write';

export interface Receipt {
	/** n8n's `createdAt` of the credential, as its POST answered. */
	createdAt: string;
	/** The project that owns it (n8n's credential list, `shared[].role` credential:owner), when the key may list. */
	ownerProjectId?: string;
	/** Whose API key created it (keyOwner): only that user's key updates it. */
	keyOwner: string;
}

interface ReceiptFile {
	version: 1;
	/** n8n public API base URL → credential id → receipt. */
	instances: Record<string, Record<string, Receipt>>;
}

/** `$XDG_STATE_HOME/n8n-nodes-oauth2-llm/created-credentials.json`, or under ~/.local/state. */
export function defaultReceiptsFile(env: NodeJS.ProcessEnv): string {
	const stateHome = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(os.homedir(), '.local', 'state');
	return path.join(stateHome, 'n8n-nodes-oauth2-llm', 'created-credentials.json');
}

/**
 * Who an n8n API key belongs to, without a secret: n8n 2.x API keys are JWTs whose `sub` is the user's
 * id; any other key is named by its SHA-256 (a high-entropy key cannot be guessed back from it).
 */
export function keyOwner(apiKey: string): string {
	const payload = apiKey.split('.')[1];
	if (payload) {
		try {
			const { sub } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
			if (typeof sub === 'string' && sub !== '') return `user:${sub}`;
		} catch {
			// not a JWT
		}
	}
	return `key:${createHash('sha256').update(apiKey).digest('hex')}`;
}

export class Receipts {
	private constructor(
		readonly file: string,
		private readonly content: ReceiptFile,
	) {}

	/** The receipts in `file`; none when it does not exist yet. A file that cannot be read as receipts is an error, not "none". */
	static async open(file: string): Promise<Receipts> {
		let text: string;
		try {
			text = await fs.readFile(file, 'utf8');
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Receipts(file, { version: 1, instances: {} });
			throw error;
		}
		const parsed = JSON.parse(text) as ReceiptFile;
		if (parsed?.version !== 1 || typeof parsed.instances !== 'object' || parsed.instances === null) {
			throw new Error(`${file} is not a receipts file of this CLI`);
		}
		return new Receipts(file, parsed);
	}

	get(base: URL, id: string): Receipt | undefined {
		const receipt = Object.prototype.hasOwnProperty.call(this.content.instances, base.href) ? this.content.instances[base.href][id] : undefined;
		return receipt && typeof receipt.createdAt === 'string' && typeof receipt.keyOwner === 'string' ? receipt : undefined;
	}

	set(base: URL, id: string, receipt: Receipt): void {
		this.content.instances[base.href] ??= {};
		Object.defineProperty(this.content.instances[base.href], id, { value: receipt, enumerable: true, writable: true, configurable: true });
	}

	async save(): Promise<void> {
		await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
		await writeFileAtomically(this.file, `${JSON.stringify(this.content, null, 2)}\n`);
	}
}
