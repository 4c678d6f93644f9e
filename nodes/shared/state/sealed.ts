/**
 * Token state that leaves the process (n8n's Redis, a file in n8n's user folder) is sealed with keys of
 * its own, derived from n8n's encryption key with HKDF (RFC 5869): every process of one n8n instance
 * must share that key (n8n's own encrypted credentials need it on every worker), nobody else has it, and
 * a key used for one purpose only never meets n8n's own ciphertexts.
 *
 * - Values: AES-256-GCM with a fresh 96-bit nonce, the storage name as additional data, so a value
 *   copied under another name does not open. A value that fails to open is a miss, never an error.
 * - Names: an HMAC under a second derived key. A name shows neither a secret nor a digest anyone
 *   without n8n's encryption key could test guesses against.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

export interface SealKeys {
	readonly valueKey: Buffer;
	readonly nameKey: Buffer;
}

const SALT = 'n8n-nodes-oauth2-llm';
const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function deriveSealKeys(n8nEncryptionKey: string): SealKeys {
	const derive = (purpose: string) => Buffer.from(hkdfSync('sha256', n8nEncryptionKey, SALT, `token state ${purpose} ${VERSION}`, 32));
	return { valueKey: derive('values'), nameKey: derive('names') };
}

/** A storage name for `identity` (a string of non-secret parts and keyed digests of secret ones). */
export function sealedName(keys: SealKeys, identity: string): string {
	return createHmac('sha256', keys.nameKey).update(identity).digest('base64url');
}

/** A keyed digest of a secret, for identities: equal secrets give equal digests, and nothing else can be read from it. */
export function sealedDigest(keys: SealKeys, secret: string | undefined): string {
	return secret ? createHmac('sha256', keys.nameKey).update(`secret:${secret}`).digest('base64url') : '';
}

export function seal(keys: SealKeys, name: string, value: unknown): string {
	const nonce = randomBytes(NONCE_BYTES);
	const cipher = createCipheriv('aes-256-gcm', keys.valueKey, nonce);
	cipher.setAAD(Buffer.from(name));
	const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
	return `${VERSION}.${Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url')}`;
}

/** The value sealed under `name`, or undefined when it does not open (tampered, another key, another name, garbage). */
export function unseal<T>(keys: SealKeys, name: string, sealed: string | null | undefined): T | undefined {
	if (typeof sealed !== 'string' || !sealed.startsWith(`${VERSION}.`)) return undefined;
	try {
		const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url');
		if (raw.length < NONCE_BYTES + TAG_BYTES) return undefined;
		const decipher = createDecipheriv('aes-256-gcm', keys.valueKey, raw.subarray(0, NONCE_BYTES));
		decipher.setAAD(Buffer.from(name));
		decipher.setAuthTag(raw.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
		const text = Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
		return JSON.parse(text) as T;
	} catch {
		return undefined;
	}
}
