import * as path from 'node:path';
import type {
	ICredentialDataDecryptedObject,
	ICredentialTestRequest,
	ICredentialType,
	IDataObject,
	IHttpRequestHelper,
	IHttpRequestOptions,
	INodeProperties,
} from 'n8n-workflow';

import { OAuth2AuthenticationError, OAuth2Error } from '../nodes/shared/core/errors';
import { CLIENT_AUTHENTICATIONS } from '../nodes/shared/keys/client-key';
import { n8nAtLeast } from '../nodes/shared/n8n/n8n-version';
import { isOwnSecureContext, secureContextFor } from '../nodes/shared/transport/http';
import { requestOptionsRefusal } from '../nodes/shared/n8n/request-guard';
import {
	API_FORMATS,
	DEFAULT_ANTHROPIC_VERSION,
	DEFAULT_EXPIRY_BUFFER_SECONDS,
	DEFAULT_SUBJECT_TOKEN_TYPE,
	MAX_EXPIRY_BUFFER_SECONDS,
	parseProviderConfig,
	GRANT_TYPES,
	PLATFORM_GRANTS,
	type ClientAuthentication,
	type GrantType,
	type ProviderConfig,
} from '../nodes/shared/config/provider-config';
import { sharedTokenCache } from '../nodes/shared/auth/token-cache';
import type { AccessToken } from '../nodes/shared/auth/token-policy';

/**
 * The credential's CA (and client certificate, when Use Client Certificate for API is on) for n8n's own
 * HTTP Request node, as a TLS context: it adds the CA to Node's store instead of replacing it, and
 * holds no PEM text that n8n could show. Nothing else of the node's agent options is kept beyond what
 * request-guard.ts lets through (keep-alive and the like).
 */
function tlsOptionsFor(provider: ProviderConfig, requestOptions: IHttpRequestOptions): Partial<IHttpRequestOptions> {
	const own = { ...((requestOptions.agentOptions ?? {}) as Record<string, unknown>) };
	delete own.secureContext;
	return { agentOptions: (provider.apiTls ? { ...own, secureContext: secureContextFor(provider.apiTls) } : own) as IHttpRequestOptions['agentOptions'] };
}

/**
 * Where a request made with this credential goes, by n8n's own precedence (n8n 2.41's request
 * conversion: `url ?? uri`, resolved against `baseURL`): n8n's HTTP Request node passes `uri`,
 * declarative requests `url` + `baseURL`.
 */
function requestOrigin(requestOptions: IHttpRequestOptions): string | undefined {
	const target = requestOptions.url ?? (requestOptions as { uri?: unknown }).uri ?? requestOptions.baseURL;
	if (typeof target !== 'string' || (target === '' && !requestOptions.baseURL)) return undefined;
	try {
		return new URL(target, requestOptions.baseURL).origin;
	} catch {
		return undefined;
	}
}

/**
 * The credential dialog's Test, when n8n cannot use the nodes' `testedBy` function (which obtains a
 * token and reports the provider's OAuth error). n8n 2.41 finds that function only for packages
 * (installed from npm, under a node_modules folder): from a custom extensions folder
 * (N8N_CUSTOM_EXTENSIONS) it records no supported nodes for a credential and would answer "No testing
 * function found". There, this request stands in: `authenticate` obtains the token (a token error
 * shows with the provider's message), then GET {baseUrl}/models must accept it. A declared `test`
 * always wins over `testedBy`, so it is declared only where `testedBy` cannot work.
 */
const MODELS_TEST_REQUEST: ICredentialTestRequest = {
	request: { baseURL: '={{ $credentials.baseUrl }}', url: '/models', method: 'GET' },
	rules: [
		{
			type: 'responseCode',
			properties: {
				value: 404,
				message:
					'An access token was issued, but GET {Base URL}/models answered 404: check Base URL (this provider may have no model list; then the credential can still work for chat calls)',
			},
		},
	],
};
const LOADED_AS_PACKAGE = __dirname.split(path.sep).includes('node_modules');

/**
 * Whether n8n's expirable-credential replay (preAuthentication) is safe to offer here:
 * - n8n 2.41 persists only the expirable field; older n8n (all of 1.x) writes the whole RESOLVED
 *   credential back, which would store `{{ $env.X }}` values in clear;
 * - from a custom extensions folder the credential declares a request test, on which n8n runs
 *   preAuthentication and fails for an unsaved credential ("Found credential with no ID").
 */
const REPLAY_ON_FAILURE = LOADED_AS_PACKAGE && n8nAtLeast(2, 41);

/** Grants that take no Token URL, client or client authentication: the platform's endpoint is fixed. */
const HIDE_FOR_PLATFORM = { grantType: [...PLATFORM_GRANTS] };

/**
 * Every condition here is written as `hide` for all the other values, never as `show`: n8n 1.123's public
 * API turns the `show` conditions into a JSON schema that requires all the fields of one value and
 * forbids them for every other (a missing field matches too), so it refused credentials with Basic or a
 * key, and would refuse every credential saved without Grant Type. Neither 1.123 nor 2.41 builds a
 * schema from `hide`; the dialog and n8n's execution treat both alike.
 */
function onlyFor(grants: GrantType[]): { grantType: GrantType[] } {
	return { grantType: GRANT_TYPES.filter((grant) => !grants.includes(grant)) };
}

/** Shown for these client authentications, and never for the platform grants (which have none). */
function forMethods(methods: ClientAuthentication[]): INodeProperties['displayOptions'] {
	return { hide: { clientAuthentication: CLIENT_AUTHENTICATIONS.filter((method) => !methods.includes(method)), ...HIDE_FOR_PLATFORM } };
}

/**
 * A field of the signing key, shown for the client authentications that use it and again for the JWT
 * bearer grant, which signs its assertion with Private Key whatever the client authentication. n8n
 * keeps only the values of fields it shows (also when it runs a workflow), and a property shows when
 * ALL its conditions hold; so the second case is a second property of the same name, shown exactly when
 * the first is not (n8n's node-helpers treats same-named properties that way).
 */
function alsoForJwtBearer(methods: ClientAuthentication[], property: INodeProperties): INodeProperties[] {
	return [
		{ ...property, displayOptions: forMethods(methods) },
		{ ...property, displayOptions: { hide: { ...onlyFor(['jwtBearer']), clientAuthentication: methods } } },
	];
}

/** What n8n stores in the hidden Token Renewal field: a marker, never a token. */
const TOKEN_RENEWAL_MARKER = 'in-process-cache';

/**
 * The token `authenticate` put on a request, by the credentials object n8n passed it: n8n hands the same
 * object to preAuthentication after that request failed, so the token dropped is the one it sent.
 */
const sentTokens = new WeakMap<ICredentialDataDecryptedObject, string>();

const TOKEN_RENEWAL_PROPERTY: INodeProperties = {
	// n8n calls preAuthentication again after a request made with this credential fails, and replays
	// the request once when it returns this field (expirable). It holds no token: the token stays in
	// the process-wide cache; this only tells n8n that a replay is worth it.
	displayName: 'Token Renewal',
	name: 'tokenRenewal',
	type: 'hidden',
	typeOptions: { expirable: true },
	default: '',
};

/**
 * n8n 2.41 runs this before the first request when Token Renewal is empty, and again after any failed
 * request with this credential (its HTTP Request node's legacy path does not look at the status).
 * Then the token that request carried is dropped, at most once per 30 s per configuration
 * (token-cache.ts), and n8n's single replay gets a new one. Otherwise (that token was replaced already,
 * or one was dropped moments ago) it answers without the field,
 * and n8n neither replays nor writes to the credential: a request that never carried a token (a
 * foreign origin, a failed token fetch) costs nothing, and neither does a renewal moments ago.
 */
export async function replayAfterFailure(this: IHttpRequestHelper, credentials: ICredentialDataDecryptedObject): Promise<IDataObject> {
	const firstUse = typeof credentials.tokenRenewal !== 'string' || credentials.tokenRenewal === '';
	if (firstUse) return { tokenRenewal: TOKEN_RENEWAL_MARKER };
	const sent = sentTokens.get(credentials);
	if (sent === undefined) return {};
	sentTokens.delete(credentials);
	// Only when this call dropped the token: every answer with the field costs n8n a credential write and a
	// replay, so failures that carried an already replaced token (or one renewed moments ago) get neither.
	return sharedTokenCache().invalidate(parseProviderConfig(credentials).tokenEndpoint, sent) === 'dropped' ? { tokenRenewal: TOKEN_RENEWAL_MARKER } : {};
}

/**
 * An OpenAI-compatible LLM API behind OAuth2 client credentials (RFC 6749 §4.4). Field names are a
 * public contract: saved credentials point at them.
 */
export class LlmProviderOAuth2Api implements ICredentialType {
	name = 'llmProviderOAuth2Api';

	// A public contract (the issue fixes this name); n8n's "append API" naming rule does not get to rename it.
	// eslint-disable-next-line n8n-nodes-base/cred-class-field-display-name-missing-api
	displayName = 'OAuth2 LLM Provider';

	icon = { light: 'file:oauth2llm.svg', dark: 'file:oauth2llm.dark.svg' } as const;

	documentationUrl = 'https://www.npmjs.com/package/n8n-nodes-oauth2-llm#credential-oauth2-llm-provider';

	test = LOADED_AS_PACKAGE ? undefined : MODELS_TEST_REQUEST;

	// Lets n8n's HTTP Request node use this credential type ("Predefined Credential Type").
	httpRequestNode = {
		name: 'OAuth2 LLM Provider',
		docsUrl: 'https://www.npmjs.com/package/n8n-nodes-oauth2-llm',
		apiBaseUrlPlaceholder: 'https://llm.example.com/v1/chat/completions',
	};

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'https://llm.example.com/v1',
			hint: 'The API root, e.g. …/v1 — /chat/completions (or /responses, /messages) and /models are appended to it',
			description:
				'Base of the LLM API: the API Format\'s path and /models are appended to it. A query string (Azure\'s ?api-version=…) is kept. For Claude on Vertex AI: https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}/publishers/anthropic/models (the global location: https://aiplatform.googleapis.com/v1/projects/{project}/locations/global/publishers/anthropic/models)',
		},
		{
			displayName: 'API Format',
			name: 'apiFormat',
			type: 'options',
			default: 'chatCompletions',
			description: 'The format the LLM API speaks. Every node of this package uses it.',
			options: [
				{ name: 'OpenAI Chat Completions', value: 'chatCompletions', description: 'POST {Base URL}/chat/completions: OpenAI-compatible gateways, Azure OpenAI, SAP AI Core, vLLM…' },
				{ name: 'OpenAI Responses', value: 'responses', description: 'POST {Base URL}/responses: OpenAI\'s Responses API (Azure OpenAI v1, LiteLLM, Portkey, Kong)' },
				{ name: 'Anthropic Messages', value: 'anthropicMessages', description: 'POST {Base URL}/messages: Claude through a gateway that speaks Anthropic\'s API' },
				{ name: 'Claude on Vertex AI', value: 'anthropicVertex', description: 'POST {Base URL}/{model}:rawPredict, with a Google token' },
			],
		},
		{
			displayName: 'Anthropic Version',
			name: 'anthropicVersion',
			type: 'string',
			default: DEFAULT_ANTHROPIC_VERSION,
			displayOptions: { hide: { apiFormat: API_FORMATS.filter((format) => format !== 'anthropicMessages') } },
			description: 'The anthropic-version header sent with every request',
		},
		{
			displayName: 'Store Responses',
			name: 'storeResponses',
			type: 'boolean',
			default: false,
			displayOptions: { hide: { apiFormat: API_FORMATS.filter((format) => format !== 'responses') } },
			description: 'Whether the provider may keep the prompts and answers (the Responses API\'s store). Off: every request says store: false, which a company gateway usually wants.',
		},
		{
			displayName: 'Grant Type',
			name: 'grantType',
			type: 'options',
			default: 'clientCredentials',
			options: [
				{
					name: 'Client Credentials',
					value: 'clientCredentials',
					description: 'The client\'s own token (RFC 6749 §4.4). A credential that has a Refresh Token uses it, as before Grant Type existed.',
				},
				{ name: 'Refresh Token', value: 'refreshToken', description: 'A refresh token issued to you (RFC 6749 §6); rotated ones are followed' },
				{
					name: 'JWT Bearer (Service Account)',
					value: 'jwtBearer',
					description: 'An assertion signed with Private Key (RFC 7523): Google service accounts for Vertex AI, Salesforce, SAP',
				},
				{
					name: 'Token Exchange (Federation)',
					value: 'tokenExchange',
					description: 'Exchanges the workload\'s federated token (RFC 8693): Databricks token federation, Keycloak',
				},
				{
					name: 'Azure Managed Identity',
					value: 'azureManagedIdentity',
					description: 'The identity of the Azure VM, AKS node, App Service or Container App n8n runs on; no secret',
				},
				{
					name: 'Google Metadata Server',
					value: 'googleMetadataServer',
					description: 'The service account of the GCE VM, GKE workload or Cloud Run service n8n runs on; no secret',
				},
			],
		},
		{
			displayName: 'Token URL',
			name: 'tokenUrl',
			type: 'string',
			default: '',
			displayOptions: { hide: HIDE_FOR_PLATFORM },
			placeholder: 'https://login.example.com/oauth2/token',
			hint: 'Leave empty to find it from Issuer URL, or (Workload Identity) from AZURE_TENANT_ID',
			description: 'The OAuth2 token endpoint that issues access tokens',
		},
		{
			displayName: 'Issuer URL',
			name: 'issuerUrl',
			type: 'string',
			default: '',
			displayOptions: { hide: HIDE_FOR_PLATFORM },
			placeholder: 'https://login.example.com/realms/llm',
			hint: 'Optional. When Token URL is empty, the token endpoint comes from this issuer\'s metadata (RFC 8414 or OpenID Connect discovery); the Test also warns about methods the issuer does not advertise.',
		},
		{
			displayName: 'Client ID',
			name: 'clientId',
			type: 'string',
			default: '',
			displayOptions: { hide: HIDE_FOR_PLATFORM },
			hint: 'Required, except with Client Authentication None for JWT Bearer (Google) or Token Exchange, and with Workload Identity where AZURE_CLIENT_ID is set',
		},
		{
			displayName: 'Managed Identity Client ID',
			name: 'managedIdentityClientId',
			type: 'string',
			default: '',
			displayOptions: { hide: onlyFor(['azureManagedIdentity']) },
			hint: 'Optional. The client ID of a user-assigned managed identity; empty uses the system-assigned one.',
		},
		{
			displayName: 'Client Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			// Not `required`: a refresh-token credential goes without one, and n8n 2.41 would then refuse to
			// create it (it checks required fields that have displayOptions). provider-config.ts says when it is needed.
			displayOptions: { hide: { clientAuthentication: ['privateKeyJwt', 'tlsClientAuth', 'workloadIdentity', 'none'], ...HIDE_FOR_PLATFORM } },
		},
		{
			displayName: 'Scope',
			name: 'scope',
			type: 'string',
			default: '',
			placeholder: 'e.g. all-apis or https://cognitiveservices.azure.com/.default',
			hint: 'Space-separated. Leave empty if your provider needs none. Azure Managed Identity: the one resource, e.g. https://cognitiveservices.azure.com/.default',
			description: 'Space-separated scopes to ask for; leave empty if the provider needs none',
		},
		{
			displayName: 'Client Authentication',
			name: 'clientAuthentication',
			type: 'options',
			default: 'body',
			displayOptions: { hide: HIDE_FOR_PLATFORM },
			options: [
				{
					name: 'Send Credentials in Body',
					value: 'body',
					description: 'client_id and client_secret as form fields (client_secret_post): Entra ID, Auth0, Kong',
				},
				{
					name: 'Send as Basic Auth Header',
					value: 'header',
					description: 'HTTP Basic (client_secret_basic): SAP AI Core, Apigee, Databricks',
				},
				{
					name: 'Private Key JWT (Certificate)',
					value: 'privateKeyJwt',
					description: 'A JWT signed with your private key, no secret (private_key_jwt, RFC 7523): Entra ID certificates, Okta, Keycloak',
				},
				{
					name: 'Client Secret JWT',
					value: 'clientSecretJwt',
					description: 'A JWT signed with the client secret (client_secret_jwt, HS256); the secret itself is not sent',
				},
				{
					name: 'TLS Client Certificate (mTLS)',
					value: 'tlsClientAuth',
					description: 'The client certificate on the TLS connection, no secret (tls_client_auth, RFC 8705): SAP x509 service keys, Keycloak, Auth0',
				},
				{
					name: 'Workload Identity (Federated Token)',
					value: 'workloadIdentity',
					description: 'The JWT in the file that AZURE_FEDERATED_TOKEN_FILE (or OAUTH2_LLM_FEDERATED_TOKEN_FILE) names, re-read for every token: AKS workload identity to Entra ID',
				},
				{
					name: 'None',
					value: 'none',
					description: 'Only client_id, or nothing when Client ID is empty: public clients, Google service accounts, federation policies',
				},
			],
		},
		{
			displayName: 'Basic Auth Encoding',
			name: 'basicAuthEncoding',
			type: 'options',
			default: 'formEncoded',
			displayOptions: forMethods(['header']),
			options: [
				{
					name: 'Form-Encoded (RFC 6749)',
					value: 'formEncoded',
					description: 'Client ID and secret are form-encoded before Base64, as RFC 6749 §2.3.1 says',
				},
				{
					name: 'Raw',
					value: 'raw',
					description: 'Sent as they are; for servers such as SAP XSUAA whose IDs contain ! or |',
				},
			],
		},
		...alsoForJwtBearer(['privateKeyJwt', 'tlsClientAuth'], {
			displayName: 'Private Key',
			name: 'privateKey',
			type: 'string',
			typeOptions: { password: true, rows: 4 },
			default: '',
			// Not `required`: n8n 2.41's public API would then require it of every credential (it has no
			// displayOptions `show` to scope it). provider-config.ts names it when the method needs it.
			placeholder: '-----BEGIN PRIVATE KEY-----',
			description:
				'PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC P-256). Line breaks written as \\n, as SAP service keys carry them, are accepted.',
		}),
		...alsoForJwtBearer(['privateKeyJwt', 'tlsClientAuth'], {
			displayName: 'Private Key Passphrase',
			name: 'privateKeyPassphrase',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			hint: 'Only for an encrypted key (-----BEGIN ENCRYPTED PRIVATE KEY-----)',
		}),
		{
			displayName: 'Certificate',
			name: 'certificate',
			type: 'string',
			// Public, but n8n's convention (its SSL Certificates credential) masks certificates like keys.
			typeOptions: { password: true, rows: 4 },
			default: '',
			displayOptions: forMethods(['privateKeyJwt', 'tlsClientAuth']),
			placeholder: '-----BEGIN CERTIFICATE-----',
			hint: 'Required for TLS Client Certificate. With Private Key JWT it adds the x5t#S256 thumbprint that Entra ID needs.',
			description: 'PEM client certificate for the Private Key, leaf first (a chain is allowed)',
		},
		...alsoForJwtBearer(['privateKeyJwt', 'clientSecretJwt'], {
			displayName: 'JWT Algorithm',
			name: 'jwtAlgorithm',
			type: 'options',
			default: 'auto',
			options: [
				{ name: 'From the Key', value: 'auto', description: 'RS256 for an RSA key, ES256 for an EC key, HS256 for Client Secret JWT' },
				{ name: 'RS256', value: 'RS256', description: 'RSA PKCS#1 v1.5 with SHA-256' },
				{ name: 'PS256', value: 'PS256', description: 'RSA-PSS with SHA-256: what Entra ID recommends for certificates' },
				{ name: 'ES256', value: 'ES256', description: 'ECDSA P-256 with SHA-256' },
				{ name: 'HS256', value: 'HS256', description: 'HMAC SHA-256 with the client secret (Client Secret JWT only)' },
			],
		}),
		...alsoForJwtBearer(['privateKeyJwt', 'clientSecretJwt'], {
			displayName: 'JWT Key ID',
			name: 'jwtKeyId',
			// A key's public name (the JWS kid header), not a secret: the rule goes by the word "Key".
			// eslint-disable-next-line n8n-nodes-base/cred-class-field-type-options-password-missing
			type: 'string',
			default: '',
			hint: 'Optional. The kid header, when the provider holds several keys for this client.',
		}),
		...alsoForJwtBearer(['privateKeyJwt', 'clientSecretJwt'], {
			displayName: 'JWT Audience',
			name: 'jwtAudience',
			type: 'string',
			default: '',
			placeholder: 'Default: the Token URL',
			hint: 'Optional. The assertion\'s aud. Entra ID, Okta and Keycloak take the Token URL; Auth0 wants its issuer URL with a trailing slash.',
		}),
		{
			displayName: 'JWT Issuer',
			name: 'jwtIssuer',
			type: 'string',
			default: '',
			displayOptions: { hide: onlyFor(['jwtBearer']) },
			placeholder: 'e.g. n8n-vertex@my-project.iam.gserviceaccount.com',
			hint: 'The assertion\'s iss. Google: the service account key\'s client_email.',
		},
		{
			displayName: 'JWT Subject',
			name: 'jwtSubject',
			type: 'string',
			default: '',
			displayOptions: { hide: onlyFor(['jwtBearer']) },
			hint: 'Optional. The assertion\'s sub: the user or account the token is for (Salesforce: the user name). Google: leave empty.',
		},
		{
			displayName: 'Scope in Assertion',
			name: 'jwtScopeClaim',
			type: 'boolean',
			default: false,
			displayOptions: { hide: onlyFor(['jwtBearer']) },
			description: 'Whether Scope goes into the assertion\'s scope claim instead of the token request, as Google requires',
		},
		// A token type's URI (RFC 8693 §3), not a token: the rule goes by the word "Token".
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{
			displayName: 'Subject Token Type',
			name: 'subjectTokenType',
			// eslint-disable-next-line n8n-nodes-base/cred-class-field-type-options-password-missing
			type: 'string',
			default: DEFAULT_SUBJECT_TOKEN_TYPE,
			displayOptions: { hide: onlyFor(['tokenExchange']) },
			hint: 'The subject token is the JWT in the file that OAUTH2_LLM_FEDERATED_TOKEN_FILE (or AZURE_FEDERATED_TOKEN_FILE) names, read anew for every token.',
		},
		// A token type's URI (RFC 8693 §3), not a token: the rule goes by the word "Token".
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{
			displayName: 'Requested Token Type',
			name: 'requestedTokenType',
			// eslint-disable-next-line n8n-nodes-base/cred-class-field-type-options-password-missing
			type: 'string',
			default: '',
			displayOptions: { hide: onlyFor(['tokenExchange']) },
			placeholder: 'e.g. urn:ietf:params:oauth:token-type:access_token',
			hint: 'Optional. Leave empty to take what the server issues by default.',
		},
		// A switch, not a secret: the rule goes by the word "Certificate" in its name.
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{
			displayName: 'Send Certificate Chain (x5c)',
			name: 'jwtCertificateChain',
			type: 'boolean',
			default: false,
			displayOptions: forMethods(['privateKeyJwt']),
			description: 'Whether to put the Certificate chain in the assertion\'s x5c header (Entra ID subject name + issuer authentication)',
		},
		// A switch, not a secret: the rule goes by the word "Certificate" in its name.
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{
			displayName: 'Use Client Certificate for API',
			name: 'useClientCertificateForApi',
			type: 'boolean',
			default: false,
			displayOptions: forMethods(['privateKeyJwt', 'tlsClientAuth']),
			description: 'Whether to present the client certificate to the LLM API too, for gateways that require mTLS',
		},
		{
			displayName: 'CA Certificate',
			name: 'caCertificate',
			type: 'string',
			typeOptions: { password: true, rows: 3 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			hint: 'Optional. Your company\'s CA (PEM, several allowed), trusted in addition to the system CAs for the token endpoint and the LLM API.',
		},
		// Non-secret form fields such as audience/resource; the rule guesses "secret" from the word "Token".
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{
			displayName: 'Additional Token Parameters',
			name: 'additionalTokenParameters',
			type: 'json',
			displayOptions: { hide: HIDE_FOR_PLATFORM },
			default: '{}',
			hint: 'Optional. Extra fields for the token request, e.g. {"audience": "https://llm.example.com"}',
			description:
				'Extra form fields for the token request, as a JSON object, e.g. {"audience": "https://llm.example.com"} or {"resource": "https://cognitiveservices.azure.com"}',
		},
		{
			displayName: 'Refresh Token',
			name: 'refreshToken',
			type: 'string',
			typeOptions: { password: true },
			displayOptions: { hide: onlyFor(['clientCredentials', 'refreshToken']) },
			default: '',
			hint: 'Required for the Refresh Token grant. With Client Credentials, a Refresh Token set here switches to the refresh grant (as before Grant Type existed).',
			description:
				'Optional. When set, access tokens come from the refresh_token grant instead of client credentials; a rotated refresh token is used from then on (until n8n restarts).',
		},
		{
			displayName: 'Headers',
			name: 'headers',
			type: 'json',
			default: '{}',
			hint: 'Optional. Sent with every LLM API call (not the token request), e.g. {"AI-Resource-Group": "default"}',
			description: 'Extra headers on every LLM API request, as a JSON object, e.g. {"AI-Resource-Group": "default"}',
		},
		{
			displayName: 'Allowed Origins',
			name: 'allowedOrigins',
			type: 'string',
			default: '',
			placeholder: 'e.g. https://llm-eu.example.com, https://llm-us.example.com',
			hint: 'Optional. The token goes only to the Base URL\'s origin and to these (scheme://host:port, separated by commas).',
			description:
				'Further origins that requests made with this credential (e.g. by the HTTP Request node) may send the access token and Headers to. The Base URL\'s origin is always allowed; any other request fails.',
		},
		{
			displayName: 'Expiry Buffer (Seconds)',
			name: 'expiryBufferSeconds',
			type: 'number',
			default: DEFAULT_EXPIRY_BUFFER_SECONDS,
			typeOptions: { minValue: 0, maxValue: MAX_EXPIRY_BUFFER_SECONDS },
			description:
				'A token counts as expired this long before its end (at most half its lifetime), and is renewed in the background shortly before that',
		},
		...(REPLAY_ON_FAILURE ? [TOKEN_RENEWAL_PROPERTY] : []),
	];

	preAuthentication = REPLAY_ON_FAILURE ? replayAfterFailure : undefined;

	/**
	 * Puts the cached bearer token (and the extra headers) on a request made with this credential,
	 * e.g. by n8n's own HTTP Request node, when it goes to the Base URL's origin or an Allowed Origin.
	 * The token comes from the same process-wide cache as the nodes'.
	 */
	async authenticate(
		credentials: ICredentialDataDecryptedObject,
		requestOptions: IHttpRequestOptions,
	): Promise<IHttpRequestOptions> {
		sentTokens.delete(credentials);
		const provider = parseProviderConfig(credentials);
		// The token is for the provider's API only: a user who may merely use a shared credential must
		// not be able to send it (or the Headers, e.g. an APIM subscription key) to a server of their own.
		const origin = requestOrigin(requestOptions);
		if (origin === undefined || !provider.allowedOrigins.includes(origin)) {
			throw new OAuth2Error(
				`The OAuth2 LLM Provider credential sends its access token only to ${provider.allowedOrigins.join(', ')}; this request goes ${origin ? `to ${origin}` : 'to no absolute URL'}. ` +
					'To allow another origin, add it to Allowed Origins in the credential.',
				{ providerName: provider.providerName },
			);
		}
		// The right origin is not enough: the node's own options decide where the bytes go and whom n8n trusts.
		const refusal = requestOptionsRefusal(requestOptions, isOwnSecureContext, provider.headers);
		if (refusal !== undefined) {
			throw new OAuth2Error(`The OAuth2 LLM Provider credential for ${provider.providerName} does not send its access token here: ${refusal}.`, { providerName: provider.providerName });
		}
		let token: AccessToken;
		try {
			token = await sharedTokenCache().getToken(provider.tokenEndpoint, { providerName: provider.providerName });
		} catch (error) {
			// n8n wraps what this throws into its own NodeApiError, which replaces the message by a
			// generic one ("Authorization failed - please check your credentials") as soon as the error
			// carries an HTTP status. Hand over the provider's words and the hint without the status.
			if (error instanceof OAuth2AuthenticationError) {
				throw new OAuth2Error(`${error.message}. ${error.hint ?? ''}`.trim(), { providerName: error.providerName });
			}
			throw error;
		}
		sentTokens.set(credentials, token.accessToken);
		// A new object: n8n's HTTP Request node shows the options it got in the browser's console, and
		// that copy must not carry the token (n8n redacts only what it knows).
		return {
			...requestOptions,
			headers: { ...provider.headers, ...(requestOptions.headers ?? {}), Authorization: `Bearer ${token.accessToken}` },
			// A redirect from an allowed origin must not carry the token and Headers on: n8n's HTTP Request
			// node follows redirects by default and keeps credential headers on cross-origin hops unless told not to.
			disableFollowRedirect: true,
			followRedirect: false,
			followAllRedirects: false,
			maxRedirects: 0,
			sendCredentialsOnCrossOriginRedirect: false,
			skipSslCertificateValidation: false,
			...tlsOptionsFor(provider, requestOptions),
		} as IHttpRequestOptions;
	}
}
