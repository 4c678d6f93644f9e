/**
 * Certificate-based client authentication (issue 12) against a real oidc-provider that verifies each
 * method, over HTTPS with a private CA made fresh for this run: private_key_jwt (RS256, PS256 with
 * Entra ID's x5t#S256 rule, ES256), client_secret_jwt, tls_client_auth, self_signed_tls_client_auth,
 * an mTLS LLM gateway, and the failures a user meets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { constants, createHash, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';

import { callLlmApi } from '../nodes/shared/wire/chat-client';
import { testProviderCredential } from '../nodes/shared/n8n/credential';
import { OAuth2AuthenticationError, OAuth2Error, OAuth2ValidationError } from '../nodes/shared/core/errors';
import { parseProviderConfig, type ProviderConfig, type ProviderFieldsInput } from '../nodes/shared/config/provider-config';
import { TokenCache } from '../nodes/shared/auth/token-cache';
import { clientAssertionFor, requestToken } from '../nodes/shared/auth/token-client';
import { hostileServer } from './helpers/hostile-server';
import { createTestPki, encryptedPem, selfSignedJwk, traditionalPem, type TestPki } from './helpers/pki';
import { startSandboxServer, type SandboxServer } from './sandbox/server';
import type { RecordedRequest } from './sandbox/state';

const CLIENT_SECRET_FOR_JWT = 'hs256-client-secret-of-more-than-32-bytes!';
const PASSPHRASE = 'key-passphrase-9f2c';

let pki: TestPki;
let sandbox: SandboxServer;
let mtlsGateway: SandboxServer;

const clientsFor = (pki: TestPki) => ({
	pkjwtRsa: { id: 'pkjwt-rsa', secret: '', authMethod: 'private_key_jwt' as const, jwks: { keys: [pki.rsaClient.publicJwk] } },
	pkjwtEntra: {
		id: 'pkjwt-entra',
		secret: '',
		authMethod: 'private_key_jwt' as const,
		signingAlg: 'PS256',
		jwks: { keys: [{ ...pki.rsaClient.publicJwk, kid: 'entra-key-1' }] },
		expectX5tS256: pki.rsaClient.x5tS256,
	},
	pkjwtEc: { id: 'pkjwt-ec', secret: '', authMethod: 'private_key_jwt' as const, jwks: { keys: [pki.ecClient.publicJwk] } },
	csjwt: { id: 'csjwt', secret: CLIENT_SECRET_FOR_JWT, authMethod: 'client_secret_jwt' as const },
	mtls: { id: 'mtls', secret: '', authMethod: 'tls_client_auth' as const, subjectDn: pki.rsaClient.subject },
	mtlsEc: { id: 'mtls-ec', secret: '', authMethod: 'tls_client_auth' as const, subjectDn: pki.ecClient.subject },
	mtlsExpired: { id: 'mtls-expired', secret: '', authMethod: 'tls_client_auth' as const, subjectDn: pki.expiredClient.subject },
	selfSigned: { id: 'mtls-self', secret: '', authMethod: 'self_signed_tls_client_auth' as const, jwks: { keys: [selfSignedJwk(pki.selfSigned)] } },
});

before(async () => {
	pki = await createTestPki();
	const tls = { keyPem: pki.server.keyPem, certPem: pki.server.certPem, caPem: pki.caPem };
	sandbox = await startSandboxServer({ tls, clients: clientsFor(pki) });
	mtlsGateway = await startSandboxServer({ tls, clients: clientsFor(pki), requireClientCertificateForApi: true });
});
after(async () => {
	await sandbox?.close();
	await mtlsGateway?.close();
});

function provider(fields: ProviderFieldsInput, server: SandboxServer = sandbox): ProviderConfig {
	return parseProviderConfig(
		{ baseUrl: server.info.baseUrl, tokenUrl: server.info.tokenUrl, caCertificate: pki.caPem, ...fields },
		'Cert Corp',
	);
}

const wallNow = () => Date.now();
const fetchToken = (config: ProviderConfig, wallNowMs = wallNow) => requestToken(config.tokenEndpoint, { providerName: 'Cert Corp', wallNowMs });

function lastTokenRequest(server: SandboxServer = sandbox): RecordedRequest {
	const token = server.state.requests().filter((request) => request.kind === 'token');
	assert.ok(token.length > 0, 'the token endpoint received a request');
	return token[token.length - 1];
}

function decodeJwt(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
	const [header, claims] = jwt.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>);
	return { header, claims };
}

async function failure(promise: Promise<unknown>): Promise<OAuth2Error> {
	try {
		await promise;
	} catch (error) {
		assert.ok(error instanceof OAuth2Error, `an OAuth2Error, not ${inspect(error)}`);
		return error;
	}
	assert.fail('expected a failure');
}

/** Everything an error shows anywhere: message, hint, fields, cause. */
const everything = (error: unknown) => `${inspect(error, { depth: 8 })} ${JSON.stringify(error)} ${(error as Error).message} ${(error as OAuth2Error).hint ?? ''}`;

function assertNoSecrets(text: string, secrets: string[]): void {
	for (const secret of secrets) {
		assert.equal(text.includes(secret), false, `a secret (${secret.slice(0, 12)}…) leaked`);
	}
}

const keyBody = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, '');

describe('private_key_jwt (RFC 7523 §2.2)', () => {
	it('signs an RS256 assertion with iss = sub = client id, aud = Token URL, a jti and a 5-minute exp; no secret is sent', async () => {
		const config = provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem });
		const token = await fetchToken(config);
		assert.ok(token.accessToken.length > 20);
		const { body, status } = lastTokenRequest();
		assert.equal(status, 200);
		const form = body as Record<string, string>;
		assert.equal(form.client_id, 'pkjwt-rsa');
		assert.equal(form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
		assert.equal(form.client_secret, undefined);
		const { header, claims } = decodeJwt(form.client_assertion);
		assert.equal(header.alg, 'RS256');
		assert.equal(claims.iss, 'pkjwt-rsa');
		assert.equal(claims.sub, 'pkjwt-rsa');
		assert.equal(claims.aud, sandbox.info.tokenUrl);
		assert.equal(typeof claims.jti, 'string');
		assert.equal((claims.exp as number) - (claims.iat as number), 300);
	});

	it('PS256 with the certificate: the x5t#S256 header that Entra ID checks', async () => {
		const config = provider({
			clientId: 'pkjwt-entra',
			clientAuthentication: 'privateKeyJwt',
			privateKey: pki.rsaClient.keyPem,
			certificate: pki.rsaClient.certPem,
			jwtAlgorithm: 'PS256',
			jwtKeyId: 'entra-key-1',
		});
		await fetchToken(config);
		const { header } = decodeJwt((lastTokenRequest().body as Record<string, string>).client_assertion);
		assert.equal(header.alg, 'PS256');
		assert.equal(header['x5t#S256'], pki.rsaClient.x5tS256);
		assert.equal(header.kid, 'entra-key-1');
		assert.equal(header.x5c, undefined);
	});

	it('the Entra-style client refuses an assertion without the thumbprint, and the error says what to check', async () => {
		const config = provider({ clientId: 'pkjwt-entra', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, jwtAlgorithm: 'PS256' });
		const error = await failure(fetchToken(config));
		assert.ok(error instanceof OAuth2AuthenticationError);
		assert.equal(error.oauthError, 'invalid_client');
		assert.match(lastTokenRequest().errorDetail ?? '', /x5t#S256/);
		assert.match(error.hint ?? '', /Private Key.*registered/);
	});

	it('x5c carries the chain when asked', async () => {
		const config = provider({
			clientId: 'pkjwt-rsa',
			clientAuthentication: 'privateKeyJwt',
			privateKey: pki.rsaClient.keyPem,
			certificate: pki.rsaClient.certPem,
			jwtCertificateChain: true,
		});
		await fetchToken(config);
		const { header } = decodeJwt((lastTokenRequest().body as Record<string, string>).client_assertion);
		assert.deepEqual(header.x5c, [keyBody(pki.rsaClient.certPem)]);
		const der = Buffer.from(keyBody(pki.rsaClient.certPem), 'base64');
		assert.equal(header.x5t, createHash('sha1').update(der).digest('base64url'), 'RS256 also carries the SHA-1 x5t');
	});

	it('ES256 from a SEC1 EC key written with literal \\n sequences (as SAP service keys carry keys)', async () => {
		const escaped = traditionalPem(pki.ecClient).trim().replace(/\n/g, '\\n');
		assert.match(escaped, /^-----BEGIN EC PRIVATE KEY-----\\n/);
		const config = provider({ clientId: 'pkjwt-ec', clientAuthentication: 'privateKeyJwt', privateKey: escaped });
		await fetchToken(config);
		const { header } = decodeJwt((lastTokenRequest().body as Record<string, string>).client_assertion);
		assert.equal(header.alg, 'ES256');
	});

	it('PKCS#1 RSA with its line breaks lost (a single-line password field), and encrypted PKCS#8 with its passphrase', async () => {
		const oneLine = traditionalPem(pki.rsaClient).replace(/\n/g, '');
		await fetchToken(provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: oneLine }));
		const encrypted = encryptedPem(pki.rsaClient, PASSPHRASE);
		await fetchToken(provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: encrypted, privateKeyPassphrase: PASSPHRASE }));
		assert.equal(lastTokenRequest().status, 200);
	});

	it('every request gets a new assertion, and a used one is refused when replayed', async () => {
		const config = provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem });
		await fetchToken(config);
		const first = lastTokenRequest().body as Record<string, string>;
		await fetchToken(config);
		const second = lastTokenRequest().body as Record<string, string>;
		assert.notEqual(first.client_assertion, second.client_assertion);
		assert.notEqual(decodeJwt(first.client_assertion).claims.jti, decodeJwt(second.client_assertion).claims.jti);

		// An eavesdropper's replay of the first one: the server has seen its jti.
		const status = await new Promise<number>((resolve, reject) => {
			const request = httpsRequest(
				sandbox.info.tokenUrl,
				{ method: 'POST', ca: pki.caPem, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
				(res) => {
					res.resume();
					res.on('end', () => resolve(res.statusCode ?? 0));
				},
			);
			request.on('error', reject);
			request.end(new URLSearchParams(first).toString());
		});
		assert.equal(status, 401);
		assert.match(lastTokenRequest().errorDetail ?? '', /only be used once/);
	});

	it('a key the provider does not know: invalid_client, and the hint names Private Key', async () => {
		const error = await failure(fetchToken(provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.strayKeyPem })));
		assert.match(error.message, /Token request to Cert Corp failed: .*HTTP 401/);
		assert.match(lastTokenRequest().errorDetail ?? '', /signature/);
		assert.match(error.hint ?? '', /Private Key/);
		assertNoSecrets(everything(error), [keyBody(pki.strayKeyPem)]);
	});

	it("an expired assertion (the n8n host's clock 10 minutes behind): invalid_client, and the hint names the clock", async () => {
		const config = provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem });
		const error = await failure(fetchToken(config, () => Date.now() - 10 * 60_000));
		assert.equal((error as OAuth2AuthenticationError).oauthError, 'invalid_client');
		assert.match(lastTokenRequest().errorDetail ?? '', /exp/);
		assert.match(error.hint ?? '', /clock/);
	});

	it('a wrong audience: invalid_client, and the hint names JWT Audience', async () => {
		const config = provider({
			clientId: 'pkjwt-rsa',
			clientAuthentication: 'privateKeyJwt',
			privateKey: pki.rsaClient.keyPem,
			jwtAudience: 'https://login.elsewhere.example/token',
		});
		const error = await failure(fetchToken(config));
		assert.match(lastTokenRequest().errorDetail ?? '', /aud/);
		assert.match(error.hint ?? '', /JWT Audience/);
		// The issuer is an audience oidc-provider accepts too (Auth0 wants its issuer).
		await fetchToken(provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, jwtAudience: sandbox.info.issuer }));
	});
});

describe('client_secret_jwt', () => {
	it('signs HS256 with the secret, which is never sent', async () => {
		await fetchToken(provider({ clientId: 'csjwt', clientSecret: CLIENT_SECRET_FOR_JWT, clientAuthentication: 'clientSecretJwt' }));
		const { body, status, headers } = lastTokenRequest();
		assert.equal(status, 200);
		assert.equal(decodeJwt((body as Record<string, string>).client_assertion).header.alg, 'HS256');
		assertNoSecrets(JSON.stringify({ body, headers }), [CLIENT_SECRET_FOR_JWT, Buffer.from(CLIENT_SECRET_FOR_JWT).toString('base64')]);
	});

	it('a wrong secret is refused as invalid_client', async () => {
		const error = await failure(fetchToken(provider({ clientId: 'csjwt', clientSecret: 'not-the-secret-but-long-enough-anyway', clientAuthentication: 'clientSecretJwt' })));
		assert.equal((error as OAuth2AuthenticationError).oauthError, 'invalid_client');
		assert.match(error.hint ?? '', /Client Secret/);
	});
});

describe('tls_client_auth (RFC 8705 §2)', () => {
	it('presents the CA-issued client certificate on the connection and sends only client_id', async () => {
		await fetchToken(provider({ clientId: 'mtls', clientAuthentication: 'tlsClientAuth', privateKey: pki.rsaClient.keyPem, certificate: pki.rsaClient.certPem }));
		const { body, status, clientCertificate, headers } = lastTokenRequest();
		assert.equal(status, 200);
		assert.deepEqual(body, { grant_type: 'client_credentials', client_id: 'mtls' });
		assert.equal(headers.authorization, undefined);
		assert.equal(clientCertificate, pki.rsaClient.subject);
	});

	it('EC certificate, and self_signed_tls_client_auth', async () => {
		await fetchToken(provider({ clientId: 'mtls-ec', clientAuthentication: 'tlsClientAuth', privateKey: pki.ecClient.keyPem, certificate: pki.ecClient.certPem }));
		assert.equal(lastTokenRequest().status, 200);
		await fetchToken(provider({ clientId: 'mtls-self', clientAuthentication: 'tlsClientAuth', privateKey: pki.selfSigned.keyPem, certificate: pki.selfSigned.certPem }));
		assert.equal(lastTokenRequest().status, 200);
	});

	it('a certificate from another CA is not verified: invalid_client, and the hint names Certificate', async () => {
		const error = await failure(
			fetchToken(provider({ clientId: 'mtls', clientAuthentication: 'tlsClientAuth', privateKey: pki.foreignClient.keyPem, certificate: pki.foreignClient.certPem })),
		);
		assert.match(lastTokenRequest().errorDetail ?? '', /not verified/);
		assert.match(error.hint ?? '', /Certificate is the one registered/);
	});

	it('an expired certificate: a warning with its date in the hint, and in the credential test', async () => {
		const config = provider({ clientId: 'mtls-expired', clientAuthentication: 'tlsClientAuth', privateKey: pki.expiredClient.keyPem, certificate: pki.expiredClient.certPem });
		const error = await failure(fetchToken(config));
		assert.match(error.hint ?? '', /The Certificate expired on \d{4}-\d\d-\d\dT/);
		const result = await testProviderCredential({
			id: 'x',
			name: 'Cert Corp',
			type: 'llmProviderOAuth2Api',
			data: {
				baseUrl: sandbox.info.baseUrl,
				tokenUrl: sandbox.info.tokenUrl,
				caCertificate: pki.caPem,
				clientId: 'mtls-expired',
				clientAuthentication: 'tlsClientAuth',
				privateKey: pki.expiredClient.keyPem,
				certificate: pki.expiredClient.certPem,
			},
		});
		assert.equal(result.status, 'Error');
		assert.match(result.message, /expired on/);
		assertNoSecrets(result.message, [keyBody(pki.expiredClient.keyPem)]);
	});
});

describe('TLS towards the LLM API and private CAs', () => {
	it('an mTLS gateway gets the client certificate when Use Client Certificate for API is on, and refuses without', async () => {
		const fields = { clientId: 'mtls', clientAuthentication: 'tlsClientAuth', privateKey: pki.rsaClient.keyPem, certificate: pki.rsaClient.certPem };
		const tokens = new TokenCache();
		const call = (config: ProviderConfig) =>
			callLlmApi<{ choices: unknown[] }>('POST', 'chat/completions', { model: 'sandbox-echo', messages: [{ role: 'user', content: 'hi' }] }, { provider: config, tokens, maxRetries: 0 });
		const answer = await call(provider({ ...fields, useClientCertificateForApi: true }, mtlsGateway));
		assert.equal(answer.choices.length, 1);
		const chat = mtlsGateway.state.requests().filter((request) => request.kind === 'chat');
		assert.equal(chat[chat.length - 1].clientCertificate, pki.rsaClient.subject);

		const error = await failure(call(provider(fields, mtlsGateway)));
		assert.match(error.message, /HTTP 403: This gateway requires a client certificate/);
	});

	it('without CA Certificate the private CA is not trusted: a clear error, no retries, nothing sent', async () => {
		const before = sandbox.state.requests().length;
		const config = parseProviderConfig(
			{ baseUrl: sandbox.info.baseUrl, tokenUrl: sandbox.info.tokenUrl, clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem },
			'Cert Corp',
		);
		const error = await failure(new TokenCache().getToken(config.tokenEndpoint, { providerName: 'Cert Corp' }));
		assert.match(error.message, /Could not reach the token endpoint of Cert Corp/);
		assert.match(error.hint ?? '', /does not trust the token endpoint's TLS certificate .*CA Certificate/);
		assert.equal(sandbox.state.requests().length, before, 'no request reached the server');
		const wrongCa = await failure(fetchToken(provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, caCertificate: pki.otherCaPem })));
		assert.match(wrongCa.hint ?? '', /does not trust/);
	});

	it('the CA is trusted for the LLM API too', async () => {
		const config = provider({ clientId: 'csjwt', clientSecret: CLIENT_SECRET_FOR_JWT, clientAuthentication: 'clientSecretJwt' });
		const models = await callLlmApi<{ data: unknown[] }>('GET', 'models', undefined, { provider: config, tokens: new TokenCache() });
		assert.ok(models.data.length > 0);
	});
});

describe('validation names the field and never quotes it', () => {
	const base = { baseUrl: 'https://llm.example.com/v1', tokenUrl: 'https://login.example.com/token', clientId: 'c' };
	const issuesOf = (fields: ProviderFieldsInput): string => {
		try {
			parseProviderConfig({ ...base, ...fields }, 'Cert Corp');
		} catch (error) {
			assert.ok(error instanceof OAuth2ValidationError);
			return error.message;
		}
		assert.fail('expected a validation error');
	};

	it('each missing or malformed field, all at once', () => {
		const bits = keyBody(pki.rsaClient.keyPem).slice(0, 60);
		const cases: Array<[ProviderFieldsInput, RegExp]> = [
			[{ clientAuthentication: 'privateKeyJwt' }, /Private Key: is required for Private Key JWT/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: `not a key ${bits}` }, /Private Key: is not a PEM private key/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.certPem }, /Private Key: holds a certificate/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem.replace(/\n(.{10})/, '\n$1*') }, /Private Key: is damaged/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: encryptedPem(pki.rsaClient, PASSPHRASE) }, /Private Key Passphrase: is required: the Private Key is encrypted/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: encryptedPem(pki.rsaClient, PASSPHRASE), privateKeyPassphrase: 'wrong' }, /Private Key Passphrase: does not decrypt/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, jwtAlgorithm: 'ES256' }, /JWT Algorithm: ES256 does not fit the Private Key, which is an RSA key/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: pki.ecClient.keyPem, jwtAlgorithm: 'PS256' }, /JWT Algorithm: PS256 does not fit the Private Key, which is an EC P-256 key/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, jwtAlgorithm: 'HS256' }, /JWT Algorithm: HS256 signs with a client secret/],
			[{ clientAuthentication: 'clientSecretJwt', clientSecret: 's', jwtAlgorithm: 'RS256' }, /JWT Algorithm: RS256 does not fit Client Secret JWT/],
			[{ clientAuthentication: 'clientSecretJwt' }, /Client Secret: is required for Client Secret JWT/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, certificate: pki.ecClient.certPem }, /Certificate: does not belong to the Private Key/],
			[{ clientAuthentication: 'tlsClientAuth', privateKey: pki.rsaClient.keyPem }, /Certificate: is required for TLS Client Certificate/],
			[{ clientAuthentication: 'tlsClientAuth', privateKey: pki.rsaClient.keyPem, certificate: pki.rsaClient.keyPem }, /Certificate: holds a private key/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, caCertificate: 'my CA' }, /CA Certificate: is not a PEM certificate/],
			[{ clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, useClientCertificateForApi: true }, /Certificate: is required for Use Client Certificate for API/],
		];
		for (const [fields, expected] of cases) {
			const message = issuesOf(fields);
			assert.match(message, expected);
			assertNoSecrets(message, [bits, PASSPHRASE, 'wrong']);
		}
		// Every problem at once: a bad base URL and a missing key.
		assert.match(issuesOf({ baseUrl: 'nope', clientAuthentication: 'tlsClientAuth' }), /Base URL: .*Private Key: is required.*Certificate: is required/);
	});

	it('an RSA key under 2048 bits and an EC key on another curve than P-256 are refused, naming Private Key', () => {
		const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
		assert.match(issuesOf({ clientAuthentication: 'privateKeyJwt', privateKey: small }), /Private Key: is a 1024-bit RSA key; providers require at least 2048 bits/);
		const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
		assert.match(issuesOf({ clientAuthentication: 'privateKeyJwt', privateKey: p384 }), /Private Key: is an EC key on curve secp384r1; ES256 signs with P-256/);
	});

	it('a stale key left in a secret-based credential is not read; saved credentials without the new fields parse as before', () => {
		const config = parseProviderConfig({ ...base, clientSecret: 's', privateKey: 'garbage', certificate: 'garbage', useClientCertificateForApi: true });
		assert.equal(config.tokenEndpoint.clientAuthentication, 'body');
		assert.equal(config.tokenEndpoint.assertion, undefined);
		assert.equal(config.apiTls, undefined);
		assert.equal(config.tokenEndpoint.tls, undefined);
	});

	it('the cache key follows the key and the certificate', async () => {
		const { cacheKey } = await import('../nodes/shared/auth/cache-key');
		const one = provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem });
		const same = provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem });
		const otherKey = provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.strayKeyPem });
		const withCert = provider({ clientId: 'pkjwt-rsa', clientAuthentication: 'privateKeyJwt', privateKey: pki.rsaClient.keyPem, certificate: pki.rsaClient.certPem });
		const mtls = provider({ clientId: 'mtls', clientAuthentication: 'tlsClientAuth', privateKey: pki.rsaClient.keyPem, certificate: pki.rsaClient.certPem });
		const mtlsOther = provider({ clientId: 'mtls', clientAuthentication: 'tlsClientAuth', privateKey: pki.foreignClient.keyPem, certificate: pki.foreignClient.certPem });
		assert.equal(cacheKey(one.tokenEndpoint), cacheKey(same.tokenEndpoint));
		assert.notEqual(cacheKey(one.tokenEndpoint), cacheKey(otherKey.tokenEndpoint));
		assert.notEqual(cacheKey(one.tokenEndpoint), cacheKey(withCert.tokenEndpoint));
		assert.notEqual(cacheKey(mtls.tokenEndpoint), cacheKey(mtlsOther.tokenEndpoint));
		assert.equal(cacheKey(one.tokenEndpoint).includes(keyBody(pki.rsaClient.keyPem).slice(0, 20)), false);
	});
});

describe('hostile and odd key material', () => {
	it('legacy encrypted PKCS#1 (Proc-Type / DEK-Info) with its line breaks lost or turned into spaces', () => {
		for (const cipher of ['aes-256-cbc', 'des-ede3-cbc']) {
			const pem = pki.rsaClient.keyObject.export({ type: 'pkcs1', format: 'pem', cipher, passphrase: PASSPHRASE }).toString();
			for (const variant of [pem.replace(/\n/g, ''), pem.replace(/\n/g, ' ')]) {
				const config = parseProviderConfig({ baseUrl: 'https://a.example/v1', tokenUrl: 'https://a.example/t', clientId: 'c', clientAuthentication: 'privateKeyJwt', privateKey: variant, privateKeyPassphrase: PASSPHRASE });
				assert.equal(config.tokenEndpoint.assertion?.algorithm, 'RS256');
			}
		}
	});

	it('an RSASSA-PSS key signs PS256 by default and refuses RS256', () => {
		const { privateKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
		const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
		const fields = { baseUrl: 'https://a.example/v1', tokenUrl: 'https://a.example/t', clientId: 'c', clientAuthentication: 'privateKeyJwt', privateKey: pem };
		const config = parseProviderConfig(fields);
		assert.equal(config.tokenEndpoint.assertion?.algorithm, 'PS256');
		const jwt = clientAssertionFor(config.tokenEndpoint, Date.now()) ?? '';
		const [header, claims, signature] = jwt.split('.');
		const valid = verify('sha256', Buffer.from(`${header}.${claims}`), { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(signature, 'base64url'));
		assert.equal(valid, true);
		assert.throws(() => parseProviderConfig({ ...fields, jwtAlgorithm: 'RS256' }), /JWT Algorithm: RS256 does not fit the Private Key, which is an RSA-PSS key/);
	});

	it('a key, certificate or CA field far longer than any PEM is refused without being parsed', () => {
		const huge = '-----BEGIN A-----'.repeat(5000);
		assert.throws(
			() => parseProviderConfig({ baseUrl: 'https://a.example/v1', tokenUrl: 'https://a.example/t', clientId: 'c', clientAuthentication: 'tlsClientAuth', privateKey: huge, certificate: huge, caCertificate: huge.repeat(13) }),
			/Private Key: is longer than 64 KiB.*Certificate: is longer than 64 KiB.*CA Certificate: is longer than 1024 KiB/,
		);
	});

	it("CA Certificate adds to the CAs Node was started with (NODE_EXTRA_CA_CERTS) instead of replacing them", async () => {
		// The sandbox's CA comes only from NODE_EXTRA_CA_CERTS; the credential's CA Certificate holds an unrelated one.
		const dir = mkdtempSync(path.join(os.tmpdir(), 'extra-ca-'));
		const caFile = path.join(dir, 'ca.pem');
		writeFileSync(caFile, pki.caPem);
		const script = path.join(dir, 'fetch.ts');
		const fields = { baseUrl: sandbox.info.baseUrl, tokenUrl: sandbox.info.tokenUrl, clientId: 'csjwt', clientSecret: CLIENT_SECRET_FOR_JWT, clientAuthentication: 'clientSecretJwt', caCertificate: pki.otherCaPem };
		writeFileSync(
			script,
			`import { parseProviderConfig } from ${JSON.stringify(path.resolve(__dirname, '../nodes/shared/config/provider-config'))};\n` +
				`import { requestToken } from ${JSON.stringify(path.resolve(__dirname, '../nodes/shared/auth/token-client'))};\n` +
				`const config = parseProviderConfig(${JSON.stringify(fields)});\n` +
				`requestToken(config.tokenEndpoint, { providerName: 'x', wallNowMs: () => Date.now() }).then(() => console.log('token'), (e) => { console.log(e.message, e.hint); process.exitCode = 1; });\n`,
		);
		const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
			const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile }, stdio: ['ignore', 'pipe', 'pipe'] });
			let out = '';
			child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
			child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
			child.on('close', (code) => resolve({ code, out }));
		});
		rmSync(dir, { recursive: true, force: true });
		assert.equal(result.code, 0, result.out);
		assert.match(result.out, /^token/);
	});
});

describe('secrets of the certificate methods never leak', () => {
	it('a hostile token endpoint echoing the assertion (raw, form-encoded, base64) into every field: all scrubbed', async () => {
		const hostile = await hostileServer((request, res) => {
			const form = Object.fromEntries(new URLSearchParams(request.body));
			const assertion = form.client_assertion ?? '';
			res.writeHead(400, { 'content-type': 'application/json' }).end(
				JSON.stringify({
					error: 'invalid_client',
					error_description: `bad assertion ${assertion} / ${encodeURIComponent(assertion)} / ${Buffer.from(assertion).toString('base64')}`,
					echoed: request.body,
					header_part: assertion.split('.')[0],
				}),
			);
		});
		const config = parseProviderConfig(
			{
				baseUrl: `${hostile.origin}/v1`,
				tokenUrl: `${hostile.origin}/token`,
				clientId: 'pkjwt-rsa',
				clientAuthentication: 'privateKeyJwt',
				privateKey: encryptedPem(pki.rsaClient, PASSPHRASE),
				privateKeyPassphrase: PASSPHRASE,
			},
			'Hostile',
		);
		const error = await failure(requestToken(config.tokenEndpoint, { providerName: 'Hostile', wallNowMs: wallNow }));
		const assertion = Object.fromEntries(new URLSearchParams(hostile.received[0].body)).client_assertion;
		assert.ok(assertion && assertion.split('.').length === 3);
		const signature = assertion.split('.')[2];
		assertNoSecrets(everything(error), [assertion, signature, encodeURIComponent(assertion), Buffer.from(assertion).toString('base64').slice(0, 80), PASSPHRASE, keyBody(pki.rsaClient.keyPem).slice(100, 148)]);
		assert.match(error.message, /Token request to Hostile failed/);
	});
});
