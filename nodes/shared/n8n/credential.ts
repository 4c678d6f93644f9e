/**
 * The bridge from n8n's stored credential to a validated ProviderConfig, and the credential dialog's test.
 */
import type {
	ICredentialDataDecryptedObject,
	ICredentialsDecrypted,
	IExecuteFunctions,
	ILoadOptionsFunctions,
	INodeCredentialTestResult,
	ISupplyDataFunctions,
} from 'n8n-workflow';

import { certificateDateWarning } from '../keys/client-key';
import { rememberEgressFilter } from '../transport/egress';
import { OAuth2ConfigurationError, OAuth2Error } from '../core/errors';
import { boundedServerText, scrubText, secretHeaderValues, urlForMessage } from '../core/scrub';
import { parseProviderConfig, secretsOf, type ProviderConfig } from '../config/provider-config';
import { sharedTokenCache } from '../auth/token-cache';
import { discoverIssuerOf, metadataWarnings } from '../auth/discovery';
import { DEFAULT_TOKEN_TIMEOUT_MS } from '../auth/token-client';

/**
 * With an Issuer URL: what its metadata says against the credential's choices. Warnings only, never a
 * block: Entra ID and Google advertise less than they accept.
 */
async function issuerWarnings(provider: ProviderConfig, tokenObtained: boolean): Promise<string[]> {
	const endpoint = provider.tokenEndpoint;
	// After a failed token request only what discovery already found is used: no second wait, no repeated failure.
	if (!endpoint.issuerUrl || (!tokenObtained && !endpoint.tokenUrl)) return [];
	try {
		const metadata = await discoverIssuerOf(endpoint, endpoint.issuerUrl, {
			providerName: provider.providerName,
			nowMs: Date.now(),
			timeoutMs: DEFAULT_TOKEN_TIMEOUT_MS,
		});
		// Only the client assertion's algorithm: the issuer's list is about client authentication, not the JWT bearer grant.
		const warnings = metadataWarnings(metadata, endpoint.clientAuthentication, endpoint.assertion?.algorithm);
		if (endpoint.tokenUrl && new URL(endpoint.tokenUrl).href !== metadata.tokenEndpoint) warnings.push(`the issuer names another token endpoint, ${urlForMessage(metadata.tokenEndpoint, [])}, than Token URL`);
		return warnings;
	} catch (error) {
		return [`the issuer's metadata could not be read (${(error as Error).message})`];
	}
}

const warningText = (warnings: string[]) =>
	warnings.length > 0 ? ` Warning: ${boundedServerText(warnings.join('; '), [], 1000)}. If requests fail, choose what the issuer lists in Client Authentication or JWT Algorithm.` : '';

export const CREDENTIAL_TYPE = 'llmProviderOAuth2Api';

export async function loadProvider(
	context: IExecuteFunctions | ILoadOptionsFunctions | ISupplyDataFunctions,
	itemIndex?: number,
): Promise<ProviderConfig> {
	const credentialName = context.getNode().credentials?.[CREDENTIAL_TYPE]?.name;
	if (credentialName === undefined) {
		throw new OAuth2ConfigurationError('No OAuth2 LLM Provider credential is set on this node', {
			hint: 'Select an OAuth2 LLM Provider credential in the node (or create one) and try again.',
		});
	}
	// Other failures (a deleted credential, an expression such as {{ $env.X }} that n8n refuses to
	// resolve) keep n8n's own message: it says what is wrong better than a guess here would.
	rememberEgressFilter(context.helpers);
	const data: ICredentialDataDecryptedObject = await context.getCredentials(CREDENTIAL_TYPE, itemIndex);
	return parseProviderConfig(data, credentialName);
}

/** Everything to scrub from an error about this provider: its secrets, secret header values and the access token cached now. */
export function knownSecrets(provider: ProviderConfig): string[] {
	const accessToken = sharedTokenCache().cachedAccessToken(provider.tokenEndpoint);
	return [...secretsOf(provider.tokenEndpoint), ...secretHeaderValues(provider.headers), ...(accessToken ? [accessToken] : [])];
}

/**
 * The credential dialog's "Test": really obtains a token through the shared cache (so a test right
 * before a run costs the run nothing) and reports the provider's own OAuth error when that fails.
 */
export async function testProviderCredential(credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
	const data = credential.data ?? {};
	let provider: ProviderConfig;
	try {
		provider = parseProviderConfig(data, credential.name);
	} catch (error) {
		return { status: 'Error', message: (error as Error).message };
	}
	try {
		const token = await sharedTokenCache().getToken(provider.tokenEndpoint, { providerName: provider.providerName });
		const seconds = sharedTokenCache().secondsLeft(token);
		const dates = certificateDateWarning(provider.tokenEndpoint.certificateValidity, Date.now());
		return {
			status: 'OK',
			message: scrubText(
				`Connection successful: ${provider.providerName} issued an access token (valid for about ${seconds} s)${dates ? `. ${dates}` : ''}.${warningText(await issuerWarnings(provider, true))}`,
				[...secretsOf(provider.tokenEndpoint), token.accessToken],
			),
		};
	} catch (error) {
		const secrets = secretsOf(provider.tokenEndpoint);
		const message = error instanceof OAuth2Error ? error.message : `Token request failed: ${(error as Error)?.message ?? String(error)}`;
		const hint = error instanceof OAuth2Error && error.hint ? ` ${error.hint}` : '';
		return { status: 'Error', message: scrubText(`${message}.${hint}${warningText(await issuerWarnings(provider, false))}`, secrets) };
	}
}
