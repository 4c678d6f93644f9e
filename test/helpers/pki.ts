/**
 * A throwaway PKI for the certificate tests, made fresh in each run: a test CA, a server certificate
 * for 127.0.0.1, CA-issued RSA and EC client certificates, an expired one, a self-signed one, and a
 * key that belongs to nothing. Nothing here is a secret outside the test.
 */
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs it loaded first
import { createHash, createPrivateKey, KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN_RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
const DAY_MS = 24 * 3600 * 1000;

export interface Identity {
	/** PKCS#8 PEM. */
	keyPem: string;
	certPem: string;
	/** base64url SHA-256 of the certificate's DER: what Entra ID calls the certificate's x5t#S256. */
	x5tS256: string;
	subject: string;
	keyObject: KeyObject;
	/** The public key as a JWK, for a provider's client registration. */
	publicJwk: Record<string, unknown>;
}

export interface TestPki {
	caPem: string;
	/** A second, unrelated CA: a server certificate from it is "untrusted". */
	otherCaPem: string;
	server: Identity;
	rsaClient: Identity;
	ecClient: Identity;
	expiredClient: Identity;
	selfSigned: Identity;
	/** A client certificate issued by the other CA: the sandbox does not accept it as verified. */
	foreignClient: Identity;
	/** An RSA key with no certificate, registered nowhere. */
	strayKeyPem: string;
	/** A server certificate for registry.npmjs.org (the registry interceptor of test/harness/registry.ts). */
	npmRegistry: Identity;
}

async function pemOfKey(key: CryptoKey): Promise<{ keyPem: string; keyObject: KeyObject }> {
	const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
	const keyObject = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
	return { keyPem: keyObject.export({ type: 'pkcs8', format: 'pem' }).toString(), keyObject };
}

let serial = 1;

async function issue(opts: {
	subject: string;
	algorithm: typeof RSA | typeof EC;
	issuer?: { cert: x509.X509Certificate; key: CryptoKey };
	notBefore?: Date;
	notAfter?: Date;
	server?: boolean;
	ca?: boolean;
	/** Host names of a server certificate (default 127.0.0.1 and localhost). */
	dnsNames?: string[];
}): Promise<{ identity: Identity; cert: x509.X509Certificate; keys: CryptoKeyPair }> {
	const keys = (await webcrypto.subtle.generateKey(opts.algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
	const notBefore = opts.notBefore ?? new Date(Date.now() - DAY_MS);
	const notAfter = opts.notAfter ?? new Date(Date.now() + 30 * DAY_MS);
	const extensions: x509.Extension[] = opts.ca
		? [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)]
		: [
				new x509.BasicConstraintsExtension(false, undefined, true),
				new x509.ExtendedKeyUsageExtension([opts.server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
				...(opts.server
					? [
							new x509.SubjectAlternativeNameExtension(
								opts.dnsNames ? opts.dnsNames.map((value) => ({ type: 'dns' as const, value })) : [{ type: 'ip', value: '127.0.0.1' }, { type: 'dns', value: 'localhost' }],
							),
						]
					: []),
			];
	const signingAlgorithm = opts.issuer
		? opts.issuer.key.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : SIGN_RSA
		: opts.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : SIGN_RSA;
	const common = { serialNumber: (serial++).toString(16).padStart(2, '0'), notBefore, notAfter, signingAlgorithm, extensions };
	const cert = opts.issuer
		? await x509.X509CertificateGenerator.create({
				...common,
				subject: opts.subject,
				issuer: opts.issuer.cert.subject,
				publicKey: keys.publicKey,
				signingKey: opts.issuer.key,
			})
		: await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: opts.subject, keys });
	const { keyPem, keyObject } = await pemOfKey(keys.privateKey);
	const publicJwk = (await webcrypto.subtle.exportKey('jwk', keys.publicKey)) as Record<string, unknown>;
	delete publicJwk.key_ops;
	delete publicJwk.ext;
	delete publicJwk.alg; // a registered key serves any algorithm that fits it, as a registered certificate does
	return {
		cert,
		keys,
		identity: {
			keyPem,
			certPem: cert.toString('pem'),
			x5tS256: createHash('sha256').update(Buffer.from(cert.rawData)).digest('base64url'),
			subject: opts.subject,
			keyObject,
			publicJwk,
		},
	};
}

export async function createTestPki(): Promise<TestPki> {
	const ca = await issue({ subject: 'CN=n8n-nodes-oauth2-llm test CA', algorithm: EC, ca: true });
	const otherCa = await issue({ subject: 'CN=some other CA', algorithm: EC, ca: true });
	const issuer = { cert: ca.cert, key: ca.keys.privateKey };
	const [server, rsaClient, ecClient, expiredClient, selfSigned, foreignClient, stray, npmRegistry] = await Promise.all([
		issue({ subject: 'CN=127.0.0.1', algorithm: EC, issuer, server: true }),
		issue({ subject: 'CN=n8n-rsa-client', algorithm: RSA, issuer }),
		issue({ subject: 'CN=n8n-ec-client', algorithm: EC, issuer }),
		issue({
			subject: 'CN=n8n-expired-client',
			algorithm: RSA,
			issuer,
			notBefore: new Date(Date.now() - 60 * DAY_MS),
			notAfter: new Date(Date.now() - 2 * DAY_MS),
		}),
		issue({ subject: 'CN=n8n-self-signed-client', algorithm: EC }),
		issue({ subject: 'CN=n8n-rsa-client', algorithm: RSA, issuer: { cert: otherCa.cert, key: otherCa.keys.privateKey } }),
		issue({ subject: 'CN=stray', algorithm: RSA }),
		issue({ subject: 'CN=registry.npmjs.org', algorithm: EC, issuer, server: true, dnsNames: ['registry.npmjs.org'] }),
	]);
	return {
		caPem: ca.identity.certPem,
		otherCaPem: otherCa.identity.certPem,
		server: server.identity,
		rsaClient: rsaClient.identity,
		ecClient: ecClient.identity,
		expiredClient: expiredClient.identity,
		selfSigned: selfSigned.identity,
		foreignClient: foreignClient.identity,
		strayKeyPem: stray.identity.keyPem,
		npmRegistry: npmRegistry.identity,
	};
}

/** The key as PKCS#1 (RSA) or SEC1 (EC) PEM, the older formats service keys and OpenSSL 1.x write. */
export function traditionalPem(identity: Identity): string {
	return identity.keyObject.export({ type: identity.keyObject.asymmetricKeyType === 'ec' ? 'sec1' : 'pkcs1', format: 'pem' }).toString();
}

/** The key as encrypted PKCS#8 PEM. */
export function encryptedPem(identity: Identity, passphrase: string): string {
	return identity.keyObject.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }).toString();
}

/** The JWK a self_signed_tls_client_auth client registers: its public key with the certificate in x5c. */
export function selfSignedJwk(identity: Identity): Record<string, unknown> {
	const der = identity.certPem.replace(/-----[^-]+-----|\s/g, '');
	return { ...identity.publicJwk, x5c: [der] };
}
