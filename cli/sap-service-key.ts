/**
 * An SAP AI Core service key (the JSON that BTP's cockpit or `cf service-key` shows) → one ready
 * `llmProviderOAuth2Api` credential. Pure; the shared schema checks the result like any other.
 *
 * What a service key holds (SAP AI Core's and XSUAA's documentation):
 * - `clientid`; then either `clientsecret` (credential-type "binding-secret") or `certificate` + `key`
 *   (credential-type "x509", PEM with literal \n sequences);
 * - `url` (the XSUAA tenant) and, for x509, `certurl` (the same tenant's mTLS host);
 * - `serviceurls.AI_API_URL`, the AI API's root.
 * BTP's CLI prints it wrapped as `{"credentials": {…}}`; both shapes are read.
 *
 * The token URL is `{certurl or url}/oauth/token`. The chat API of a deployment is
 * `{AI_API_URL}/v2/inference/deployments/{id}`, and every call needs the `AI-Resource-Group` header.
 */
import { type ProviderFieldsInput, safeParseProviderFields } from '../nodes/shared/config/provider-config';
import { scrubText } from '../nodes/shared/core/scrub';
import { type ConfigIssue, type ConvertResult, credentialIdFor, CREDENTIAL_TYPE, type LlmProviderCredentialData } from './litellm-config';

export interface ServiceKeyOptions {
	/** `--deployment`: the AI Core deployment id (AI Launchpad → ML Operations → Deployments). */
	deployment?: string;
	/** `--resource-group`; AI Core's default resource group is "default". */
	resourceGroup?: string;
	/** `--api-version`: Azure OpenAI models behind AI Core want `?api-version=…` (e.g. 2024-02-01). */
	apiVersion?: string;
	/** `--name`: the credential's name. */
	name?: string;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);

/** The service key's own object, when the JSON is one (bare or wrapped in "credentials"). */
export function serviceKeyOf(root: unknown): Record<string, unknown> | undefined {
	const candidate = isObject(root) && isObject(root.credentials) ? root.credentials : root;
	return isObject(candidate) && 'clientid' in candidate && ('url' in candidate || 'certurl' in candidate) && 'serviceurls' in candidate
		? candidate
		: undefined;
}

/** Which service-key key (or option) a shared-schema field came from, for messages. */
const SOURCE_OF: Record<string, string> = {
	baseUrl: 'serviceurls.AI_API_URL / --deployment',
	tokenUrl: 'url / certurl',
	clientId: 'clientid',
	clientSecret: 'clientsecret',
	privateKey: 'key',
	certificate: 'certificate',
	headers: '--resource-group',
};

export function serviceKeyToCredentials(key: Record<string, unknown>, options: ServiceKeyOptions): ConvertResult {
	const issues: ConfigIssue[] = [];
	const clientId = text(key.clientid);
	const secret = text(key.clientsecret);
	const certificate = text(key.certificate);
	const privateKey = text(key.key);
	const x509 = certificate !== undefined || privateKey !== undefined || key['credential-type'] === 'x509';
	const authUrl = text(x509 ? (key.certurl ?? key.url) : key.url);
	const apiUrl = isObject(key.serviceurls) ? text(key.serviceurls.AI_API_URL) : undefined;
	const deployment = text(options.deployment);

	if (!clientId) issues.push({ path: 'clientid', message: 'is missing: the service key has no client id' });
	if (x509 && (!certificate || !privateKey)) {
		issues.push({ path: certificate ? 'key' : 'certificate', message: 'is missing: an x509 service key carries both certificate and key' });
	} else if (!x509 && !secret) {
		issues.push({ path: 'clientsecret', message: 'is missing: the service key has neither clientsecret nor certificate and key' });
	}
	if (!authUrl) issues.push({ path: x509 ? 'certurl' : 'url', message: 'is missing: the XSUAA URL that issues tokens' });
	if (!apiUrl) issues.push({ path: 'serviceurls.AI_API_URL', message: 'is missing: the AI API URL of this AI Core instance' });
	if (!deployment) {
		issues.push({
			path: '--deployment',
			message: 'is required with a service key: the id of the AI Core deployment to call (AI Launchpad → ML Operations → Deployments)',
		});
	} else if (!/^[A-Za-z0-9._-]+$/.test(deployment)) {
		issues.push({ path: '--deployment', message: 'is not a deployment id (letters, digits, ".", "_" and "-")' });
	}
	const secrets = [secret, privateKey].filter((value): value is string => !!value);
	if (issues.length > 0 || !clientId || !authUrl || !apiUrl || !deployment) {
		return { credentials: [], issues, notes: [], envReferences: [] };
	}

	const baseUrl = new URL(`${apiUrl.replace(/\/+$/, '')}/v2/inference/deployments/${deployment}`);
	if (options.apiVersion) baseUrl.searchParams.set('api-version', options.apiVersion);
	const input: ProviderFieldsInput = {
		baseUrl: baseUrl.href,
		tokenUrl: `${authUrl.replace(/\/+$/, '')}/oauth/token`,
		clientId,
		headers: { 'AI-Resource-Group': text(options.resourceGroup) ?? 'default' },
		...(x509
			? { clientAuthentication: 'tlsClientAuth', privateKey, certificate }
			: // XSUAA ids hold "!" and "|", which it expects raw inside the Basic header.
				{ clientAuthentication: 'header', basicAuthEncoding: 'raw', clientSecret: secret }),
	};
	const name = text(options.name) ?? `SAP AI Core ${text(key.identityzone) ?? new URL(authUrl).hostname.split('.')[0]}`;
	const result = safeParseProviderFields(input, name, {});
	if (!result.ok) {
		const mapped = result.issues.map((issue) => ({
			path: SOURCE_OF[issue.field.split('.')[0]] ?? issue.field,
			message: scrubText(issue.message, secrets),
		}));
		return { credentials: [], issues: mapped, notes: [], envReferences: [] };
	}
	const data: LlmProviderCredentialData = {
		baseUrl: result.config.baseUrl,
		tokenUrl: result.config.tokenEndpoint.tokenUrl,
		clientId,
		clientSecret: secret ?? '',
		scope: '',
		clientAuthentication: result.config.tokenEndpoint.clientAuthentication,
		basicAuthEncoding: result.config.tokenEndpoint.basicAuthEncoding,
		additionalTokenParameters: '{}',
		refreshToken: '',
		headers: JSON.stringify(result.config.headers),
		expiryBufferSeconds: result.config.tokenEndpoint.expiryBufferSeconds,
		...(x509 ? { privateKey, certificate } : {}),
	};
	const notes = x509 ? [] : ['this service key holds a client secret; SAP recommends x509 service keys (credential-type "x509") for new bindings'];
	return { credentials: [{ id: credentialIdFor(name), name, type: CREDENTIAL_TYPE, data }], issues: [], notes, envReferences: [] };
}
