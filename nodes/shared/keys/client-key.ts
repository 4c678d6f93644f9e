/**
 * The credential's key, certificate and CA fields, checked and turned into what the token request
 * and TLS need (issue 12): the private key for private_key_jwt and mTLS, the client certificate (its
 * SHA-256 thumbprint for Entra ID's `x5t#S256`, the chain for `x5c`), the signing algorithm, and the
 * extra trusted CAs. Every problem names its field and never quotes the field's text.
 */
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';

import type { ValidationIssue } from '../core/errors';
import { isValidBase64, pemBlocks, pemText, type PemBlock } from './pem';

/**
 * `body` = client_secret_post, `header` = client_secret_basic (RFC 6749 §2.3.1); the JWT and mTLS ones
 * per RFC 7523 §2.2 and RFC 8705 §2. `workloadIdentity`: the client assertion is the platform's
 * federated token file (workload-identity.ts); `none`: client_id only (RFC 6749 §2.1 public client).
 */
export const CLIENT_AUTHENTICATIONS = ['body', 'header', 'privateKeyJwt', 'clientSecretJwt', 'tlsClientAuth', 'workloadIdentity', 'none'] as const;
export type ClientAuthentication = (typeof CLIENT_AUTHENTICATIONS)[number];

/** RFC 7518 §3.1 names. `auto` (the default) follows the key: RS256 for RSA, ES256 for EC P-256, HS256 for a secret. */
export const JWT_ALGORITHMS = ['auto', 'RS256', 'PS256', 'ES256', 'HS256'] as const;
export type JwtAlgorithm = Exclude<(typeof JWT_ALGORITHMS)[number], 'auto'>;

/** NIST SP 800-131A, Entra ID and jose all refuse smaller RSA keys. */
const MIN_RSA_BITS = 2048;
/** A PEM key or certificate chain is a few KiB; a CA bundle may hold a few hundred certificates. Longer text is not read. */
export const MAX_PEM_FIELD_CHARS = { privateKey: 64 * 1024, certificate: 64 * 1024, caCertificate: 1024 * 1024 } as const;

function tooLong(field: keyof typeof MAX_PEM_FIELD_CHARS, text: string | undefined, issues: Issues): boolean {
	if (text === undefined || text.length <= MAX_PEM_FIELD_CHARS[field]) return false;
	issues.push({ field, message: `is longer than ${MAX_PEM_FIELD_CHARS[field] / 1024} KiB; paste only the PEM text it needs` });
	return true;
}

export interface ClientKeyInput {
	clientAuthentication: ClientAuthentication;
	privateKey?: string;
	privateKeyPassphrase?: string;
	certificate?: string;
	jwtAlgorithm: (typeof JWT_ALGORITHMS)[number];
	caCertificate?: string;
	useClientCertificateForApi: boolean;
	/** The JWT bearer grant (RFC 7523 §2.1) signs its assertion with Private Key, whatever the client authentication. */
	signsGrantAssertion?: boolean;
}

export interface CertificateValidity {
	notBeforeMs: number;
	notAfterMs: number;
}

/** What the rest of the package needs; PEM texts are normalised (see pem.ts). */
export interface ClientKeyMaterial {
	/** The private key as PEM, still encrypted when it was. */
	privateKeyPem?: string;
	privateKeyPassphrase?: string;
	/** Leaf first, as the user gave the chain. */
	certificatePem?: string;
	certificateValidity?: CertificateValidity;
	/** base64url SHA-256 of the leaf's DER (RFC 7515 §4.1.8). */
	x5tS256?: string;
	/** base64url SHA-1 of the leaf's DER (RFC 7515 §4.1.7): older Entra ID / AD FS setups look only at this one. */
	x5t?: string;
	/** Standard base64 DER of each certificate, leaf first (RFC 7515 §4.1.6). */
	x5c?: string[];
	algorithm?: JwtAlgorithm;
	/** Extra trusted CAs as PEM blocks. */
	caPems?: string[];
}

type Issues = ValidationIssue[];

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY']);

function isEncrypted(block: PemBlock): boolean {
	return block.label === 'ENCRYPTED PRIVATE KEY' || block.headers.some((header) => /^Proc-Type:\s*4,ENCRYPTED/i.test(header));
}

function readPrivateKey(input: ClientKeyInput, issues: Issues): { pem: string; key: KeyObject } | undefined {
	if (tooLong('privateKey', input.privateKey, issues)) return undefined;
	const blocks = pemBlocks(input.privateKey ?? '');
	const block = blocks.find((candidate) => KEY_LABELS.has(candidate.label));
	if (!block) {
		issues.push({
			field: 'privateKey',
			message: blocks.some((candidate) => candidate.label === 'CERTIFICATE')
				? 'holds a certificate, not a private key; put the certificate in Certificate and the key (-----BEGIN PRIVATE KEY-----) here'
				: 'is not a PEM private key; paste the whole text from -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) to its END line',
		});
		return undefined;
	}
	if (!isValidBase64(block)) {
		issues.push({ field: 'privateKey', message: 'is damaged: the text between its BEGIN and END lines is not base64; paste the key again, whole' });
		return undefined;
	}
	const pem = pemText(block);
	if (isEncrypted(block) && !input.privateKeyPassphrase) {
		issues.push({ field: 'privateKeyPassphrase', message: 'is required: the Private Key is encrypted' });
		return undefined;
	}
	try {
		return { pem, key: createPrivateKey({ key: pem, format: 'pem', passphrase: input.privateKeyPassphrase }) };
	} catch (error) {
		const code = (error as { code?: string }).code ?? '';
		const badPassphrase = isEncrypted(block) && /BAD_DECRYPT|bad decrypt|ERR_OSSL_EVP_BAD_DECRYPT|interrupted or cancelled/i.test(`${code} ${(error as Error).message}`);
		issues.push(
			badPassphrase || isEncrypted(block)
				? { field: 'privateKeyPassphrase', message: 'does not decrypt the Private Key; check the passphrase' }
				: { field: 'privateKey', message: 'could not be read as a PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key; paste the key again, whole' },
		);
		return undefined;
	}
}

type KeyKind = 'rsa' | 'rsa-pss' | 'ec-p256' | 'other';

function keyKind(key: KeyObject): { kind: KeyKind; problem?: string } {
	const details = key.asymmetricKeyDetails ?? {};
	if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
		const bits = details.modulusLength ?? 0;
		// An RSASSA-PSS key (OID id-RSASSA-PSS) can only make PSS signatures.
		const kind = key.asymmetricKeyType;
		return bits < MIN_RSA_BITS
			? { kind, problem: `is a ${bits}-bit RSA key; providers require at least ${MIN_RSA_BITS} bits: create a new key` }
			: { kind };
	}
	if (key.asymmetricKeyType === 'ec') {
		return details.namedCurve === 'prime256v1'
			? { kind: 'ec-p256' }
			: { kind: 'other', problem: `is an EC key on curve ${details.namedCurve ?? 'unknown'}; ES256 signs with P-256 (prime256v1) keys only` };
	}
	return { kind: 'other', problem: `is a ${key.asymmetricKeyType ?? 'unknown'} key; use an RSA (2048 bits or more) or an EC P-256 key` };
}

function chooseAlgorithm(input: ClientKeyInput, kind: KeyKind | 'secret', issues: Issues): JwtAlgorithm | undefined {
	const wanted = input.jwtAlgorithm;
	if (kind === 'secret') {
		if (wanted === 'auto' || wanted === 'HS256') return 'HS256';
		issues.push({ field: 'jwtAlgorithm', message: `${wanted} does not fit Client Secret JWT, which signs with the Client Secret: choose HS256` });
		return undefined;
	}
	if (wanted === 'auto') return kind === 'ec-p256' ? 'ES256' : kind === 'rsa-pss' ? 'PS256' : 'RS256';
	const fits =
		kind === 'rsa' ? wanted === 'RS256' || wanted === 'PS256' : kind === 'rsa-pss' ? wanted === 'PS256' : kind === 'ec-p256' ? wanted === 'ES256' : false;
	if (!fits) {
		issues.push({
			field: 'jwtAlgorithm',
			message:
				wanted === 'HS256'
					? `HS256 signs with a client secret; ${input.signsGrantAssertion ? 'the JWT Bearer assertion is signed with Private Key, so' : 'for Private Key JWT'} choose RS256 or PS256 (RSA key) or ES256 (EC key)`
					: `${wanted} does not fit the Private Key, which is ${
							kind === 'rsa' ? 'an RSA key: choose RS256 or PS256' : kind === 'rsa-pss' ? 'an RSA-PSS key: choose PS256' : 'an EC P-256 key: choose ES256'
						}`,
		});
		return undefined;
	}
	return wanted;
}

function readCertificates(text: string, field: 'certificate' | 'caCertificate', issues: Issues): { blocks: PemBlock[]; certificates: X509Certificate[] } | undefined {
	if (tooLong(field, text, issues)) return undefined;
	const all = pemBlocks(text);
	const blocks = all.filter((block) => block.label === 'CERTIFICATE');
	if (blocks.length === 0) {
		issues.push({
			field,
			message: all.some((block) => KEY_LABELS.has(block.label))
				? 'holds a private key, not a certificate; put the key in Private Key and paste the certificate (-----BEGIN CERTIFICATE-----) here'
				: 'is not a PEM certificate; paste the whole text from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----',
		});
		return undefined;
	}
	const certificates: X509Certificate[] = [];
	for (const [index, block] of blocks.entries()) {
		try {
			if (!isValidBase64(block)) throw new Error('not base64');
			certificates.push(new X509Certificate(pemText(block)));
		} catch {
			const which = blocks.length > 1 ? `certificate ${index + 1} of ${blocks.length}` : 'the certificate';
			issues.push({ field, message: `${which} could not be read as an X.509 certificate; paste it again, whole` });
			return undefined;
		}
	}
	return { blocks, certificates };
}

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/**
 * Whether the LLM API gets the client certificate too. Only with a method that has a key: the
 * credential dialog shows the key fields for those two, and a hidden switch left on must not demand them.
 */
export function apiUsesClientCertificate(input: Pick<ClientKeyInput, 'clientAuthentication' | 'useClientCertificateForApi'>): boolean {
	return input.useClientCertificateForApi && (input.clientAuthentication === 'privateKeyJwt' || input.clientAuthentication === 'tlsClientAuth');
}

/**
 * Checks the key, certificate and CA fields for the chosen client authentication and returns their
 * material. Fields that the method does not use are not read (a stale key left behind in a
 * secret-based credential is no error), except the CA, which every method may use.
 */
export function readClientKeyMaterial(input: ClientKeyInput, hasClientSecret: boolean): { material: ClientKeyMaterial; issues: Issues } {
	const issues: Issues = [];
	const material: ClientKeyMaterial = {};
	const method = input.clientAuthentication;
	const usesKey = method === 'privateKeyJwt' || method === 'tlsClientAuth' || !!input.signsGrantAssertion;
	const needsCertificate = method === 'tlsClientAuth' || apiUsesClientCertificate(input);

	let key: KeyObject | undefined;
	if (usesKey) {
		if (!input.privateKey) {
			issues.push({
				field: 'privateKey',
				message:
					method === 'privateKeyJwt'
						? 'is required for Private Key JWT: the PEM private key whose public key (or certificate) is registered at the provider'
						: method === 'tlsClientAuth'
							? 'is required for TLS Client Certificate: the PEM private key the Certificate was issued for'
							: 'is required for the JWT Bearer grant: the PEM private key that signs the assertion (Google: the service account key\'s private_key)',
			});
		} else {
			const read = readPrivateKey(input, issues);
			if (read) {
				key = read.key;
				material.privateKeyPem = read.pem;
				material.privateKeyPassphrase = input.privateKeyPassphrase;
			}
		}
	}

	if ((method === 'privateKeyJwt' || input.signsGrantAssertion) && key) {
		const { kind, problem } = keyKind(key);
		if (problem) issues.push({ field: 'privateKey', message: problem });
		else material.algorithm = chooseAlgorithm(input, kind, issues);
	} else if (method === 'clientSecretJwt') {
		// The secret itself is required by the rule for all secret-based methods (provider-config.ts).
		if (hasClientSecret) material.algorithm = chooseAlgorithm(input, 'secret', issues);
	}

	const certificateUsed = needsCertificate || (method === 'privateKeyJwt' && !!input.certificate);
	if (certificateUsed) {
		if (!input.certificate) {
			issues.push({
				field: 'certificate',
				message:
					method === 'tlsClientAuth'
						? 'is required for TLS Client Certificate: the PEM client certificate (chain allowed) registered at the provider'
						: 'is required for Use Client Certificate for API: the PEM client certificate the LLM API expects',
			});
		} else {
			const read = readCertificates(input.certificate, 'certificate', issues);
			if (read) {
				const leaf = read.certificates[0];
				if (key && !leaf.checkPrivateKey(key)) {
					issues.push({
						field: 'certificate',
						message: 'does not belong to the Private Key (its public key is a different one); paste the certificate issued for this key, leaf first',
					});
				} else {
					material.certificatePem = read.blocks.map(pemText).join('');
					material.certificateValidity = { notBeforeMs: Date.parse(leaf.validFrom), notAfterMs: Date.parse(leaf.validTo) };
					material.x5tS256 = base64url(createHash('sha256').update(leaf.raw).digest());
					material.x5t = base64url(createHash('sha1').update(leaf.raw).digest());
					material.x5c = read.certificates.map((certificate) => certificate.raw.toString('base64'));
				}
			}
		}
	}

	if (input.caCertificate) {
		const read = readCertificates(input.caCertificate, 'caCertificate', issues);
		if (read) material.caPems = read.blocks.map(pemText);
	}
	return { material, issues };
}

/** What to tell the user about the certificate's dates, or undefined when they are fine now. */
export function certificateDateWarning(validity: CertificateValidity | undefined, wallNowMs: number): string | undefined {
	if (!validity) return undefined;
	const date = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
	if (wallNowMs > validity.notAfterMs) return `The Certificate expired on ${date(validity.notAfterMs)}; the provider will refuse it: renew it.`;
	if (wallNowMs < validity.notBeforeMs) return `The Certificate is valid only from ${date(validity.notBeforeMs)}; check the n8n host's clock, or wait.`;
	return undefined;
}
