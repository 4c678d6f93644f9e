/**
 * One credential of every grant and client authentication, as a user (or the import CLI) sends it to
 * n8n's public API: saved-before-Grant-Type shapes included. n8n checks what the public API creates
 * against a JSON schema built from the credential's displayOptions (and 1.123 builds it differently
 * from 2.41), so each must be accepted by both: the credential declares no `show` condition, from which
 * 1.123 would build a schema that requires every field of one value and forbids them for the others.
 */
import { generateKeyPairSync } from 'node:crypto';

export function credentialShapes(): Array<{ label: string; data: Record<string, unknown> }> {
	const privateKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
	const base = { baseUrl: 'https://shapes-test.openai.azure.com/openai/v1' };
	const token = { ...base, tokenUrl: 'https://login.example.com/oauth2/token' };
	return [
		{ label: 'client secret, saved before Grant Type', data: { ...token, clientAuthentication: 'body', clientId: 'c', clientSecret: 's' } },
		{ label: 'refresh token, saved before Grant Type', data: { ...token, clientAuthentication: 'body', clientId: 'c', refreshToken: 'r' } },
		{ label: 'client credentials', data: { ...token, grantType: 'clientCredentials', clientId: 'c', clientSecret: 's', clientAuthentication: 'header' } },
		{ label: 'refresh token', data: { ...token, grantType: 'refreshToken', clientAuthentication: 'body', clientId: 'c', refreshToken: 'r' } },
		{ label: 'JWT bearer (Google)', data: { ...token, grantType: 'jwtBearer', clientAuthentication: 'none', jwtIssuer: 'sa@p.iam.gserviceaccount.com', jwtScopeClaim: true, privateKey } },
		{ label: 'private key JWT with a certificate', data: { ...token, clientId: 'c', clientAuthentication: 'privateKeyJwt', privateKey, certificate: '-----BEGIN CERTIFICATE-----', jwtAlgorithm: 'ES256', jwtCertificateChain: true } },
		{ label: 'TLS client certificate', data: { ...token, clientId: 'c', clientAuthentication: 'tlsClientAuth', privateKey, certificate: '-----BEGIN CERTIFICATE-----', useClientCertificateForApi: true } },
		{ label: 'client secret JWT', data: { ...token, clientId: 'c', clientAuthentication: 'clientSecretJwt', clientSecret: 's', jwtAudience: 'https://login.example.com/' } },
		{ label: 'token exchange', data: { ...token, grantType: 'tokenExchange', clientAuthentication: 'none', clientId: 'sp', subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt' } },
		{ label: 'workload identity', data: { ...base, clientAuthentication: 'workloadIdentity' } },
		{ label: 'Azure managed identity', data: { ...base, grantType: 'azureManagedIdentity', clientAuthentication: 'body', scope: 'https://cognitiveservices.azure.com/.default' } },
		{ label: 'Google metadata server', data: { ...base, grantType: 'googleMetadataServer', clientAuthentication: 'body' } },
	];
}
