/**
 * Regular mode (one n8n process): a refresh token the provider rotated is kept, sealed, in a file in
 * n8n's user folder, so the next start sends it instead of replaying the credential's stored one
 * (which a provider that detects reuse answers by revoking the whole family).
 *
 * Why a file and not the credential: n8n's `expirable` write-back puts the value into the credential's
 * data, which `n8n export:credentials --decrypted` prints in clear, and it only runs for requests made
 * through n8n's own request helpers. This file is sealed with a key derived from n8n's encryption key
 * (sealed.ts), written with mode 0600, and replaced atomically (write, then rename).
 */
import { Mutex } from 'async-mutex';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { seal, sealedDigest, sealedName, unseal, type SealKeys } from './sealed';

export const REFRESH_FILE_NAME = 'oauth2-llm-refresh-tokens.json';
/** Families kept; the oldest beyond this are dropped (each is one stored refresh token ever entered). */
export const MAX_FAMILIES = 1000;
/** The file is never read beyond this (1000 families take about 300 KiB). */
const MAX_FILE_BYTES = 1024 * 1024;

interface FileShape {
	version: 1;
	families: Record<string, string>;
}

export class RefreshTokenFile {
	private readonly writes = new Mutex();

	constructor(
		private readonly filePath: string,
		private readonly keys: SealKeys,
	) {}

	/** A keyed digest of a secret, the same after a restart of this n8n instance (for identities). */
	digest(secret: string | undefined): string {
		return sealedDigest(this.keys, secret);
	}

	/** The file's name for a family: neither a secret nor a guessable digest of one. */
	private name(familyIdentity: string): string {
		return sealedName(this.keys, `family ${familyIdentity}`);
	}

	/**
	 * The newest refresh token kept for this family, if any (an absent file, or a value that does not open,
	 * keeps none). Throws when the file is there but cannot be read: sending the credential's older token
	 * instead could be reuse.
	 */
	async load(familyIdentity: string): Promise<string | undefined> {
		const name = this.name(familyIdentity);
		const families = await this.read();
		return unseal<{ refreshToken?: string }>(this.keys, name, families.get(name))?.refreshToken;
	}

	/**
	 * Keeps `refreshToken` as the family's newest. The file is read again first (`n8n execute` beside a
	 * running n8n on the same user folder may have written meanwhile). Throws when the file cannot be read
	 * (other than absent) or written: a file that could not be read is never overwritten.
	 */
	async save(familyIdentity: string, refreshToken: string): Promise<void> {
		const name = this.name(familyIdentity);
		await this.writes.runExclusive(async () => {
			const families = await this.read();
			families.delete(name);
			families.set(name, seal(this.keys, name, { refreshToken }));
			for (const oldest of families.keys()) {
				if (families.size <= MAX_FAMILIES) break;
				families.delete(oldest);
			}
			const shape: FileShape = { version: 1, families: Object.fromEntries(families) };
			const temporary = `${this.filePath}.${randomBytes(6).toString('hex')}.tmp`;
			await fs.mkdir(path.dirname(this.filePath), { recursive: true });
			try {
				// 'wx': never through a file (or link) that is already there; synced before the rename, so a
				// crash leaves the old file or the new one, never an empty one.
				const handle = await fs.open(temporary, 'wx', 0o600);
				try {
					await handle.writeFile(JSON.stringify(shape));
					await handle.sync();
				} finally {
					await handle.close();
				}
				await fs.rename(temporary, this.filePath);
			} catch (error) {
				await fs.rm(temporary, { force: true });
				throw error;
			}
		});
	}

	/** The kept families; an absent file is empty, anything else unreadable throws. */
	private async read(): Promise<Map<string, string>> {
		const families = new Map<string, string>();
		let text: string;
		try {
			const stat = await fs.stat(this.filePath);
			if (!stat.isFile() || stat.size > MAX_FILE_BYTES) throw Object.assign(new Error('not a file of ours'), { code: 'EINVAL' });
			text = await fs.readFile(this.filePath, 'utf8');
		} catch (error) {
			if ((error as NodeJS.ErrnoException)?.code === 'ENOENT') return families;
			throw error;
		}
		let shape: Partial<FileShape>;
		try {
			shape = JSON.parse(text) as Partial<FileShape>;
		} catch {
			throw Object.assign(new Error('not JSON'), { code: 'EBADJSON' });
		}
		for (const [name, sealed] of Object.entries(shape.families ?? {})) if (typeof sealed === 'string') families.set(name, sealed);
		return families;
	}
}
