/**
 * Workload identity federation: the platform (AKS workload identity, any Kubernetes projected service
 * account token, GitHub-style OIDC) writes a short-lived JWT to a file, and that JWT stands in for a
 * client secret (client_assertion, RFC 7521 §4.2) or is the subject of a token exchange (RFC 8693).
 *
 * The file is named by the environment only, never by a credential field: whoever may create a
 * credential must not be able to make n8n read a file of their choosing and send it to a server of
 * their choosing. It is read anew for every token request: kubelet rotates it, and a copy read once
 * fails after about an hour (Entra ID's AADSTS700024).
 */
import { open, stat } from 'node:fs/promises';

import { OAuth2AuthenticationError } from '../core/errors';

/** Ours wins over AKS's, so an admin can point the package elsewhere without touching Azure's variable. */
export const FEDERATED_TOKEN_FILE_VARIABLES = ['OAUTH2_LLM_FEDERATED_TOKEN_FILE', 'AZURE_FEDERATED_TOKEN_FILE'] as const;
/** A projected service account token is about 1 KiB; anything past this is not one. */
export const MAX_FEDERATED_TOKEN_BYTES = 16 * 1024;
/** Three base64url parts, each non-empty: a signed JWS in compact form (RFC 7515 §7.1). */
const JWT_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export type Environment = Readonly<Record<string, string | undefined>>;

const BOTH_VARIABLES = `${FEDERATED_TOKEN_FILE_VARIABLES[1]} (set by AKS workload identity) or ${FEDERATED_TOKEN_FILE_VARIABLES[0]}`;

/** Which variable names the file, and its value; undefined when neither is set. */
export function federatedTokenFile(env: Environment): { variable: string; path: string } | undefined {
	for (const variable of FEDERATED_TOKEN_FILE_VARIABLES) {
		const path = env[variable]?.trim();
		if (path) return { variable, path };
	}
	return undefined;
}

function failure(providerName: string, message: string, hint: string): OAuth2AuthenticationError {
	// Not retryable: the next attempt reads the same file. A rotation the platform makes is picked up by the next item.
	return new OAuth2AuthenticationError(`${message} (credential for ${providerName})`, { providerName, hint });
}

/**
 * The federated token, read now. The message names the variable, not the path or the content: the
 * path is the admin's, and the content is a secret.
 */
export async function readFederatedToken(env: Environment, providerName: string): Promise<string> {
	const file = federatedTokenFile(env);
	if (file === undefined) {
		throw failure(
			providerName,
			'Workload identity needs the federated token file, and n8n\'s environment names none',
			`Set ${BOTH_VARIABLES} in the environment of every n8n process to the projected service account token file. On AKS, label the pod azure.workload.identity/use: "true" and give its service account the client-id annotation.`,
		);
	}
	let bytes: Buffer;
	try {
		// Checked before opening: opening a FIFO would block until someone writes to it.
		if (!(await stat(file.path)).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
		const handle = await open(file.path, 'r');
		try {
			// One more byte than allowed tells a file that is too long from one that fits exactly.
			const buffer = Buffer.alloc(MAX_FEDERATED_TOKEN_BYTES + 1);
			const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
			bytes = buffer.subarray(0, bytesRead);
		} finally {
			await handle.close();
		}
	} catch (error) {
		const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'unknown error';
		throw failure(
			providerName,
			`The federated token file named by ${file.variable} could not be read (${code})`,
			`Check that ${file.variable} names the projected token file and that the n8n process may read it (the pod's service account token volume).`,
		);
	}
	if (bytes.length > MAX_FEDERATED_TOKEN_BYTES) {
		throw failure(providerName, `The federated token file named by ${file.variable} is larger than ${MAX_FEDERATED_TOKEN_BYTES / 1024} KiB, so it holds no token`, `Check that ${file.variable} names the projected service account token file.`);
	}
	const token = bytes.toString('utf8').trim();
	if (!JWT_PATTERN.test(token)) {
		throw failure(
			providerName,
			`The federated token file named by ${file.variable} does not hold a JWT${token === '' ? ' (it is empty)' : ''}`,
			`Check that ${file.variable} names the projected service account token file (a JWT: three base64url parts separated by dots).`,
		);
	}
	return token;
}

/** What AKS workload identity injects, used where the credential leaves Client ID or Token URL empty. */
export interface AzureWorkloadDefaults {
	clientId?: string;
	tokenUrl?: string;
}

/** Entra ID's authority for AKS workload identity: AZURE_AUTHORITY_HOST when it is an http(s) URL without user info. */
export function azureAuthority(env: Environment): string | undefined {
	const value = env.AZURE_AUTHORITY_HOST?.trim() || 'https://login.microsoftonline.com/';
	try {
		const url = new URL(value);
		if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) return undefined;
	} catch {
		return undefined;
	}
	// AKS writes the authority with a trailing slash; one is added where an admin left it out.
	return value.endsWith('/') ? value : `${value}/`;
}

export function azureWorkloadDefaults(env: Environment): AzureWorkloadDefaults {
	const clientId = env.AZURE_CLIENT_ID?.trim() || undefined;
	const tenantId = env.AZURE_TENANT_ID?.trim();
	const authority = azureAuthority(env);
	const tokenUrl = tenantId && authority ? `${authority}${encodeURIComponent(tenantId)}/oauth2/v2.0/token` : undefined;
	return { clientId, tokenUrl };
}
