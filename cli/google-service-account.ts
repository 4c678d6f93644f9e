/**
 * A Google service account key (the JSON that `gcloud iam service-accounts keys create` writes) → one
 * ready `llmProviderOAuth2Api` credential for Vertex AI's OpenAI-compatible endpoint: the JWT bearer
 * grant (RFC 7523 §2.1) with no client authentication, the scope in the assertion, as Google's token
 * endpoint wants it. Pure; the shared schema checks the result like any other.
 *
 * The key file is untrusted input: its `token_uri` decides where the signed assertion goes, so one that
 * is not https on a googleapis.com host needs --allow-token-uri. No message quotes the key.
 */
import { safeParseProviderFields, type ProviderFieldsInput } from '../nodes/shared/config/provider-config';
import { scrubText } from '../nodes/shared/core/scrub';
import { type ConfigIssue, type ConvertResult, credentialIdFor, CREDENTIAL_TYPE, type LlmProviderCredentialData } from './litellm-config';

export const GOOGLE_CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

export interface GoogleServiceAccountOptions {
	/** `--project`; default: the key's project_id. */
	project?: string;
	/** `--location`: a Vertex AI region such as us-central1, or global. */
	location?: string;
	/** `--name`: the credential's name. */
	name?: string;
	/** `--allow-token-uri`: accept a token_uri that is not https on googleapis.com. */
	allowTokenUri?: boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);

// Google's own rules: project ids are 6–30 lower-case letters, digits and hyphens (older domain-scoped ones have "domain:");
// locations are region names.
const PROJECT_PATTERN = /^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const LOCATION_PATTERN = /^[a-z]+(?:-[a-z0-9]+)*$/;

/** Whether Google's token endpoint is where the assertion goes: https, on googleapis.com or a host under it. */
export function isGoogleTokenUri(value: string): boolean {
	try {
		const url = new URL(value);
		return url.protocol === 'https:' && (url.hostname === 'googleapis.com' || url.hostname.endsWith('.googleapis.com')) && !url.username && !url.password && url.port === '';
	} catch {
		return false;
	}
}

/** Vertex AI's OpenAI-compatible endpoint for a project and location. */
export function vertexOpenAiBaseUrl(project: string, location: string): string {
	const host = location === 'global' ? 'aiplatform.googleapis.com' : `${location}-aiplatform.googleapis.com`;
	return `https://${host}/v1/projects/${project}/locations/${location}/endpoints/openapi`;
}

export function googleServiceAccountToCredentials(root: unknown, options: GoogleServiceAccountOptions): ConvertResult {
	const issues: ConfigIssue[] = [];
	const key = isObject(root) ? root : {};
	if (!isObject(root)) issues.push({ path: '(file)', message: 'is not a service account key: a JSON object was expected' });
	else if (key.type !== 'service_account') issues.push({ path: 'type', message: 'must be "service_account": this file is not a service account key' });
	const clientEmail = text(key.client_email);
	const privateKey = text(key.private_key);
	const privateKeyId = text(key.private_key_id);
	const tokenUri = text(key.token_uri) ?? GOOGLE_TOKEN_URI;
	const project = text(options.project) ?? text(key.project_id);
	const location = text(options.location);
	if (isObject(root) && !clientEmail) issues.push({ path: 'client_email', message: 'is missing: the service account\'s e-mail, the assertion\'s issuer' });
	if (isObject(root) && !privateKey) issues.push({ path: 'private_key', message: 'is missing: the key that signs the assertion' });
	if (isObject(root) && !isGoogleTokenUri(tokenUri) && !options.allowTokenUri) {
		issues.push({
			path: 'token_uri',
			message: 'is not https on a googleapis.com host; the signed assertion would go there. Check the key file; pass --allow-token-uri only for a token endpoint you trust (a private Google endpoint)',
		});
	}
	if (!project) issues.push({ path: '--project', message: 'is required: the Google Cloud project id (the key has no project_id)' });
	else if (!PROJECT_PATTERN.test(project)) issues.push({ path: '--project', message: 'is not a Google Cloud project id (lower-case letters, digits and hyphens, 6 to 30 of them)' });
	if (!location) issues.push({ path: '--location', message: 'is required: the Vertex AI location, e.g. us-central1, europe-west4 or global' });
	else if (!LOCATION_PATTERN.test(location)) issues.push({ path: '--location', message: 'is not a Vertex AI location (e.g. us-central1, europe-west4 or global)' });
	const secrets = [privateKey].filter((value): value is string => !!value);
	if (issues.length > 0 || !clientEmail || !privateKey || !project || !location) return { credentials: [], issues, notes: [], envReferences: [] };

	const name = text(options.name) ?? `Vertex AI ${project} ${location}`;
	const input: ProviderFieldsInput = {
		baseUrl: vertexOpenAiBaseUrl(project, location),
		tokenUrl: tokenUri,
		grantType: 'jwtBearer',
		clientAuthentication: 'none',
		scope: GOOGLE_CLOUD_PLATFORM_SCOPE,
		jwtIssuer: clientEmail,
		jwtScopeClaim: true,
		jwtAlgorithm: 'RS256',
		...(privateKeyId ? { jwtKeyId: privateKeyId } : {}),
		privateKey,
	};
	const result = safeParseProviderFields(input, name, {});
	if (!result.ok) {
		const SOURCE_OF: Record<string, string> = { privateKey: 'private_key', jwtIssuer: 'client_email', jwtKeyId: 'private_key_id', tokenUrl: 'token_uri', baseUrl: '--project / --location' };
		const mapped = result.issues.map((issue) => ({ path: SOURCE_OF[issue.field.split('.')[0]] ?? issue.field, message: scrubText(issue.message, secrets) }));
		return { credentials: [], issues: mapped, notes: [], envReferences: [] };
	}
	const data: LlmProviderCredentialData = {
		baseUrl: result.config.baseUrl,
		tokenUrl: tokenUri,
		clientId: '',
		clientSecret: '',
		scope: GOOGLE_CLOUD_PLATFORM_SCOPE,
		clientAuthentication: 'none',
		basicAuthEncoding: 'formEncoded',
		additionalTokenParameters: '{}',
		refreshToken: '',
		headers: '{}',
		expiryBufferSeconds: result.config.tokenEndpoint.expiryBufferSeconds,
		grantType: 'jwtBearer',
		jwtIssuer: clientEmail,
		jwtScopeClaim: true,
		jwtAlgorithm: 'RS256',
		...(privateKeyId ? { jwtKeyId: privateKeyId } : {}),
		privateKey,
	};
	return {
		credentials: [{ id: credentialIdFor(name), name, type: CREDENTIAL_TYPE, data }],
		issues: [],
		notes: ['Vertex AI model names look like google/gemini-2.5-flash; the service account needs the Vertex AI User role on the project'],
		envReferences: [],
	};
}
