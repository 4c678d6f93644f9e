/**
 * Tokens from the platform n8n runs on, with no secret stored anywhere: Azure managed identity (IMDS
 * on VMs and AKS; App Service and Container Apps through IDENTITY_ENDPOINT) and Google's metadata
 * server (GCE, GKE workload identity, Cloud Run). Pure: the request to make. token-client.ts sends it
 * and reads the answer like any token response (expires_in and expires_on may come as strings).
 *
 * The endpoints are fixed, or set by an administrator in the environment; never by a credential field.
 * That is what lets these requests (and only these) pass by n8n's SSRF filter, which blocks the
 * link-local 169.254.169.254 that every typed URL must keep being refused.
 */
import type { TokenEndpointConfig } from '../config/provider-config';
import type { Environment } from '../keys/workload-identity';

export const AZURE_IMDS_TOKEN_URL = 'http://169.254.169.254/metadata/identity/oauth2/token';
export const GCE_METADATA_HOST = 'metadata.google.internal';
const GCE_ACCOUNT_PATH = '/computeMetadata/v1/instance/service-accounts/default';
/** Test stand-ins, admin-only: the environment is n8n's, not the credential's. */
export const IMDS_ENDPOINT_VARIABLE = 'OAUTH2_LLM_IMDS_ENDPOINT';
export const GCE_METADATA_HOST_VARIABLE = 'OAUTH2_LLM_GCE_METADATA_HOST';
/**
 * A metadata endpoint on the same host answers within milliseconds; one that does not is not there
 * (n8n is not on that platform), and a short deadline says so quickly. Retries come from the cache.
 */
export const PLATFORM_TOKEN_TIMEOUT_MS = 5_000;

export interface PlatformTokenRequest {
	url: string;
	headers: Record<string, string>;
	/** What the endpoint is, for messages: "Azure's managed identity endpoint (IMDS)". */
	endpointName: string;
	/** Header values to scrub (App Service's X-IDENTITY-HEADER is a secret). */
	secrets: string[];
	hint: string;
}

/** Entra ID v1 resources have no /.default; the v2 scope a user copies from other docs has one. */
export function managedIdentityResource(scope: string | undefined): string {
	return (scope ?? '').trim().replace(/\/\.default$/, '');
}

function overrideUrl(env: Environment, variable: string): URL | undefined {
	const value = env[variable]?.trim();
	if (!value) return undefined;
	try {
		const url = new URL(value.includes('://') ? value : `http://${value}`);
		if (url.protocol === 'http:' || url.protocol === 'https:') return url;
	} catch {
		// reported below
	}
	throw new Error(`${variable} is not a URL (an n8n administrator sets it, for tests only)`);
}

function azureRequest(config: TokenEndpointConfig, env: Environment): PlatformTokenRequest {
	const query = new URLSearchParams();
	const resource = managedIdentityResource(config.scope);
	const identityEndpoint = env.IDENTITY_ENDPOINT?.trim();
	const identityHeader = env.IDENTITY_HEADER?.trim();
	const hint =
		'Azure Managed Identity works only where n8n runs on Azure with a managed identity assigned (a VM, AKS, App Service or Container Apps). ' +
		'For a user-assigned identity, put its client ID in Managed Identity Client ID; give the identity a role on the resource (Cognitive Services OpenAI User).';
	if (identityEndpoint && identityHeader) {
		// App Service and Container Apps: their local endpoint, the 2019-08-01 protocol.
		query.set('api-version', '2019-08-01');
		query.set('resource', resource);
		if (config.managedIdentityClientId) query.set('client_id', config.managedIdentityClientId);
		const url = new URL(identityEndpoint);
		for (const [name, value] of query) url.searchParams.set(name, value);
		return {
			url: url.toString(),
			headers: { 'X-IDENTITY-HEADER': identityHeader, Accept: 'application/json' },
			endpointName: "Azure's managed identity endpoint (IDENTITY_ENDPOINT)",
			secrets: [identityHeader],
			hint,
		};
	}
	const url = overrideUrl(env, IMDS_ENDPOINT_VARIABLE) ?? new URL(AZURE_IMDS_TOKEN_URL);
	if (url.pathname === '/') url.pathname = new URL(AZURE_IMDS_TOKEN_URL).pathname;
	url.searchParams.set('api-version', '2018-02-01');
	url.searchParams.set('resource', resource);
	if (config.managedIdentityClientId) url.searchParams.set('client_id', config.managedIdentityClientId);
	return { url: url.toString(), headers: { Metadata: 'true', Accept: 'application/json' }, endpointName: "Azure's instance metadata service (IMDS)", secrets: [], hint };
}

function googleRequest(config: TokenEndpointConfig, env: Environment): PlatformTokenRequest {
	const base = overrideUrl(env, GCE_METADATA_HOST_VARIABLE) ?? new URL(`http://${GCE_METADATA_HOST}`);
	const url = new URL(`${GCE_ACCOUNT_PATH}/token`, base.origin);
	// The metadata server takes scopes comma-separated; without any it issues the account's default scopes.
	if (config.scope) url.searchParams.set('scopes', config.scope.split(' ').join(','));
	return {
		url: url.toString(),
		headers: { 'Metadata-Flavor': 'Google', Accept: 'application/json' },
		endpointName: "Google's metadata server",
		secrets: [],
		hint:
			"Google Metadata Server works only where n8n runs on Google Cloud (GCE, GKE with workload identity, Cloud Run); on GKE, bind the pod's Kubernetes service account to a Google service account that may call Vertex AI.",
	};
}

/** The request for a platform grant. Throws a plain Error naming the variable when an admin override is not a URL. */
export function platformTokenRequest(config: TokenEndpointConfig, env: Environment): PlatformTokenRequest {
	return config.grantType === 'azureManagedIdentity' ? azureRequest(config, env) : googleRequest(config, env);
}
