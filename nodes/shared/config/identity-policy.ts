/**
 * Where n8n's OWN identity may go. A credential that uses the platform's identity (a federated token
 * file, Azure managed identity, Google's metadata server) spends something the credential's author
 * does not own: the pod's projected token, the VM's identity. Whoever may create a credential must not
 * be able to send either to a server of their choosing, so:
 * - the federated token goes only to Entra ID's authority (AZURE_AUTHORITY_HOST, as AKS sets it) or to
 *   token endpoints an n8n administrator lists in OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS;
 * - the access tokens these identities get go only to the LLM platforms they are for (Azure OpenAI and
 *   AI Foundry, Vertex AI) or to API origins an administrator lists in OAUTH2_LLM_IDENTITY_ORIGINS.
 * Two lists, because they hand out different things: a gateway allowed to receive an access token must
 * not thereby receive the raw federated token, which Entra accepts for every app that trusts the pod.
 * Both are the environment's, never a credential's: origins separated by commas.
 */
import { azureAuthority, type Environment } from '../keys/workload-identity';

export const IDENTITY_ORIGINS_VARIABLE = 'OAUTH2_LLM_IDENTITY_ORIGINS';
export const FEDERATION_ENDPOINTS_VARIABLE = 'OAUTH2_LLM_FEDERATED_TOKEN_ORIGINS';
/** The API hosts of the platforms these identities are for: Azure OpenAI / AI Foundry and Vertex AI. */
const PLATFORM_API_HOSTS = [/\.openai\.azure\.com$/, /\.cognitiveservices\.azure\.com$/, /\.services\.ai\.azure\.com$/, /^([a-z0-9-]+-)?aiplatform\.googleapis\.com$/];

function originOf(url: string | undefined): string | undefined {
	if (!url) return undefined;
	try {
		const parsed = new URL(url);
		return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
	} catch {
		return undefined;
	}
}

/** The origins an administrator lists in `variable`. */
function adminOrigins(env: Environment, variable: string): string[] {
	return (env[variable] ?? '')
		.split(',')
		.map((entry) => originOf(entry.trim()))
		.filter((origin): origin is string => origin !== undefined);
}

/** Whether the federated token may be sent to this token endpoint. */
export function federatedTokenMayGoTo(tokenUrl: string, env: Environment): boolean {
	const origin = originOf(tokenUrl);
	return origin !== undefined && (origin === originOf(azureAuthority(env)) || adminOrigins(env, FEDERATION_ENDPOINTS_VARIABLE).includes(origin));
}

/** Whether a token got with n8n's own identity may be sent to this API origin. */
export function identityTokenMayGoTo(origin: string, env: Environment): boolean {
	if (adminOrigins(env, IDENTITY_ORIGINS_VARIABLE).includes(origin)) return true;
	const url = new URL(origin);
	return url.protocol === 'https:' && url.port === '' && PLATFORM_API_HOSTS.some((pattern) => pattern.test(url.hostname));
}

export const IDENTITY_ORIGINS_HINT = `an n8n administrator may add API origins to ${IDENTITY_ORIGINS_VARIABLE} (separated by commas) in n8n's environment`;
export const FEDERATED_TOKEN_ORIGINS_HINT = `an n8n administrator may add token endpoint origins to ${FEDERATION_ENDPOINTS_VARIABLE} (separated by commas) in n8n's environment`;
