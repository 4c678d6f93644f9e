/**
 * What the user stores, validated once into the shape the rest of the package works with.
 * The credential, the nodes and the config import CLI all go through `parseProviderConfig`:
 * one copy of the rules.
 */
import { z } from 'zod';

import type { AssertionSettings } from '../keys/client-assertion';
import { azureWorkloadDefaults, type Environment } from '../keys/workload-identity';
import { IDENTITY_ORIGINS_HINT, identityTokenMayGoTo } from './identity-policy';
import {
	apiUsesClientCertificate,
	CLIENT_AUTHENTICATIONS,
	JWT_ALGORITHMS,
	readClientKeyMaterial,
	type CertificateValidity,
	type ClientAuthentication,
	type ClientKeyInput,
} from '../keys/client-key';
import { OAuth2ValidationError, type ValidationIssue } from '../core/errors';
import type { TlsMaterial } from '../transport/http';
import { pemBlocks } from '../keys/pem';
import { formEncode } from '../core/scrub';

export type { ClientAuthentication } from '../keys/client-key';

export const DEFAULT_EXPIRY_BUFFER_SECONDS = 60;
export const MAX_EXPIRY_BUFFER_SECONDS = 3600;

/**
 * How tokens are obtained. The first two are RFC 6749 §4.4 and §6; `jwtBearer` is RFC 7523 §2.1,
 * `tokenExchange` RFC 8693; the last two ask the platform the workflow runs on, with no secret at all.
 */
export const GRANT_TYPES = ['clientCredentials', 'refreshToken', 'jwtBearer', 'tokenExchange', 'azureManagedIdentity', 'googleMetadataServer'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];
/** Grants that ask a fixed platform endpoint: no Token URL, no client, no client authentication. */
export const PLATFORM_GRANTS: readonly GrantType[] = ['azureManagedIdentity', 'googleMetadataServer'];
export const DEFAULT_SUBJECT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/**
 * The grant a credential uses. One saved before Grant Type existed (or whose n8n filled in the default)
 * keeps what it did: a Refresh Token means the refresh grant.
 */
export function effectiveGrantType(input: { grantType?: unknown; refreshToken?: unknown }): GrantType | undefined {
	const chosen = emptyToUndefined(input.grantType) ?? 'clientCredentials';
	if (!GRANT_TYPES.includes(chosen as GrantType)) return undefined;
	return chosen === 'clientCredentials' && emptyToUndefined(input.refreshToken) !== undefined ? 'refreshToken' : (chosen as GrantType);
}

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they go into the Basic header. */
export type BasicAuthEncoding = 'formEncoded' | 'raw';

/** The JWT bearer grant's own assertion (RFC 7523 §2.1), signed with Private Key. */
export interface GrantAssertionSettings {
	algorithm: AssertionSettings['algorithm'];
	keyId?: string;
	issuer: string;
	subject?: string;
	/** Undefined: the token endpoint's URL. */
	audience?: string;
	/** Google: Scope goes into the assertion's `scope` claim, not the form. */
	scopeInClaim: boolean;
}

export interface TokenEndpointConfig {
	grantType: GrantType;
	/** Empty when the issuer's metadata names it (issuerUrl) or a platform grant needs none. */
	tokenUrl: string;
	/** The authorization server's issuer, for discovery (RFC 8414, OIDC Discovery) when Token URL is empty. */
	issuerUrl?: string;
	/** Empty where the grant goes without one (platform grants; `none` with JWT bearer or token exchange). */
	clientId: string;
	clientSecret: string;
	/** Space-separated scope tokens (RFC 6749 §3.3), normalised; undefined when none. */
	scope?: string;
	clientAuthentication: ClientAuthentication;
	basicAuthEncoding: BasicAuthEncoding;
	/** Extra form parameters of the token request, e.g. `audience` (Auth0) or `resource` (Entra ID v1). */
	additionalTokenParameters: Record<string, string>;
	/** When set, tokens come from the refresh_token grant (RFC 6749 §6) instead of client credentials. */
	refreshToken?: string;
	expiryBufferSeconds: number;
	/** privateKeyJwt and clientSecretJwt: how each token request's client_assertion is made (audience undefined: the token URL). */
	assertion?: Omit<AssertionSettings, 'audience'> & { audience?: string };
	/** jwtBearer: the grant's assertion. */
	grantAssertion?: GrantAssertionSettings;
	/** tokenExchange (RFC 8693 §2.1): the subject token's type and the type asked for. */
	tokenExchange?: { subjectTokenType: string; requestedTokenType?: string };
	/** azureManagedIdentity: a user-assigned identity's client ID; undefined for the system-assigned one. */
	managedIdentityClientId?: string;
	/** privateKeyJwt: the signing key as PEM (still encrypted when it was), and its passphrase. */
	privateKeyPem?: string;
	privateKeyPassphrase?: string;
	/** TLS towards the token endpoint: extra CAs, and the client certificate for tlsClientAuth. */
	tls?: TlsMaterial;
	/** The client certificate's dates, for messages when the provider refuses it. */
	certificateValidity?: CertificateValidity;
}

/**
 * The wire formats an LLM API may speak (credential field API Format); each has one module in
 * ../wire/. Saved credentials name them: a public contract.
 */
export const API_FORMATS = ['chatCompletions', 'responses', 'anthropicMessages', 'anthropicVertex'] as const;
export type ApiFormat = (typeof API_FORMATS)[number];
/** Anthropic's API version header; its value since 2023 and still the current one. */
export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/** How the LLM API is spoken: the format, and the settings that only some formats read. */
export interface ApiSettings {
	format: ApiFormat;
	/** anthropicMessages: the `anthropic-version` header. */
	anthropicVersion: string;
	/** responses: `store`; off unless asked, so that a gateway does not keep prompts by default. */
	storeResponses: boolean;
}

export interface ProviderConfig {
	/** Credential name (or the token URL's host), used in every message about this provider. */
	providerName: string;
	/** Base of the LLM API, e.g. https://llm.example.com/v1 (may carry a query string). */
	baseUrl: string;
	api: ApiSettings;
	/** Extra headers on every LLM request, e.g. `AI-Resource-Group` for SAP AI Core. */
	headers: Record<string, string>;
	/**
	 * Origins (scheme://host:port) that the credential's `authenticate` puts the token and headers on:
	 * the Base URL's own, then the Allowed Origins field's. Any other request fails.
	 */
	allowedOrigins: string[];
	tokenEndpoint: TokenEndpointConfig;
	/** TLS towards the LLM API: extra CAs, and the client certificate when Use Client Certificate for API is on. */
	apiTls?: TlsMaterial;
}

/** The fields of certificate-based client authentication (issue 12). */
export const CERTIFICATE_FIELDS = [
	'privateKey',
	'privateKeyPassphrase',
	'certificate',
	'jwtAlgorithm',
	'jwtKeyId',
	'jwtAudience',
	'jwtCertificateChain',
	'caCertificate',
	'useClientCertificateForApi',
] as const;

/** The fields of the other grants and of discovery (issue 21). */
export const IDENTITY_FIELDS = [
	'grantType',
	'issuerUrl',
	'jwtIssuer',
	'jwtSubject',
	'jwtScopeClaim',
	'subjectTokenType',
	'requestedTokenType',
	'managedIdentityClientId',
] as const;

/** Field names as the credential stores them: a public contract, saved credentials point at them. */
export const PROVIDER_FIELDS = [
	'baseUrl',
	'apiFormat',
	'anthropicVersion',
	'storeResponses',
	'tokenUrl',
	'clientId',
	'clientSecret',
	'scope',
	'clientAuthentication',
	'basicAuthEncoding',
	'additionalTokenParameters',
	'refreshToken',
	'headers',
	'allowedOrigins',
	'expiryBufferSeconds',
	...CERTIFICATE_FIELDS,
	...IDENTITY_FIELDS,
] as const;
export type ProviderField = (typeof PROVIDER_FIELDS)[number];

const RESERVED_TOKEN_PARAMETERS = [
	'grant_type',
	'client_id',
	'client_secret',
	'refresh_token',
	'scope',
	'client_assertion',
	'client_assertion_type',
];
/** Set by these grants only: a saved client-credentials credential that sends one of them keeps doing so. */
const GRANT_TOKEN_PARAMETERS: Partial<Record<GrantType, string[]>> = {
	jwtBearer: ['assertion'],
	tokenExchange: ['subject_token', 'subject_token_type', 'requested_token_type'],
};
// RFC 8693 §3 token type identifiers are URIs; Databricks and Keycloak use the urn:ietf:params:oauth:token-type: ones.
const TOKEN_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7E]+$/;
/**
 * Anthropic Version, from the credential or a node option: it becomes a header, so it is one header
 * value of visible ASCII (no CR or LF can split it), and short.
 */
export const ANTHROPIC_VERSION_PATTERN = /^[\x21-\x7E]{1,64}$/;
// RFC 9110 §5.6.2 token characters.
const HEADER_NAME_PATTERN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 6749 §3.3 scope-token characters: printable ASCII except space, double quote and backslash.
const SCOPE_TOKEN_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

const emptyToUndefined = (value: unknown) =>
	value === null || (typeof value === 'string' && value.trim() === '') ? undefined : value;

function httpUrl(what: string) {
	return z
		.string({ required_error: `is required: the ${what}`, invalid_type_error: 'must be a URL' })
		.trim()
		.min(1, `is required: the ${what}`)
		.superRefine((text, ctx) => {
			if (text === '') return; // "is required" says it already
			let url: URL;
			try {
				url = new URL(text);
			} catch {
				// Not quoted: a mistyped value may be a secret pasted into the wrong field.
				ctx.addIssue({ code: 'custom', message: `is not a URL; enter the full ${what}, e.g. https://host/path` });
				return;
			}
			if (url.protocol !== 'http:' && url.protocol !== 'https:') {
				ctx.addIssue({ code: 'custom', message: 'must start with http:// or https://' });
			}
			if (url.username || url.password) {
				ctx.addIssue({
					code: 'custom',
					message: 'must not contain a user name or password; put them in Client ID and Client Secret',
				});
			}
			// RFC 6749 §3.2: the token endpoint URI MUST NOT include a fragment.
			if (url.hash) ctx.addIssue({ code: 'custom', message: 'must not contain a #fragment' });
		});
}

function noSurroundingWhitespace(what: string) {
	return z
		.string({ required_error: `is required: the ${what}`, invalid_type_error: `must be text` })
		.min(1, `is required: the ${what}`)
		.refine((text) => text === text.trim(), {
			message: 'has leading or trailing whitespace (a copy-paste slip?); remove it',
		});
}

/** A JSON object field: n8n hands `json` properties over as text or as an already parsed object. */
function jsonObject<T extends z.ZodTypeAny>(valueSchema: T, example: string) {
	return z.preprocess(
		(value, ctx) => {
			if (value === undefined || value === null) return {};
			if (typeof value !== 'string') return value;
			if (value.trim() === '') return {};
			try {
				return JSON.parse(value) as unknown;
			} catch {
				// JSON.parse's message quotes the text around the error, which may be a header's secret value.
				ctx.addIssue({
					code: 'custom',
					message: `is not valid JSON; write an object such as ${example}`,
				});
				return z.NEVER;
			}
		},
		z.record(valueSchema, { invalid_type_error: `must be a JSON object such as ${example}` }),
	);
}

const scopeSchema = z.preprocess(
	emptyToUndefined,
	z
		.string({ invalid_type_error: 'must be text' })
		.transform((scope) => scope.trim())
		.superRefine((scope, ctx) => {
			const values = scope.split(' ');
			if (values.some((value) => value === '')) {
				ctx.addIssue({
					code: 'custom',
					message: 'has an empty value; separate scopes with single spaces, e.g. "llm.read llm.write"',
				});
				return;
			}
			const bad = values.findIndex((value) => !SCOPE_TOKEN_PATTERN.test(value));
			if (bad !== -1) {
				ctx.addIssue({
					code: 'custom',
					message: `value ${bad + 1} is not a valid scope value (RFC 6749 §3.3: no quotes, backslashes or control characters)`,
				});
			}
		})
		.optional(),
);

const optionalText = z.preprocess(emptyToUndefined, z.string({ invalid_type_error: 'must be text' }).optional());
const flag = z.preprocess(
	(value) => (value === 'true' ? true : value === 'false' || emptyToUndefined(value) === undefined ? false : value),
	z.boolean({ invalid_type_error: 'must be true or false' }),
);

export const providerFieldsSchema = z
	.object({
		// A pasted endpoint URL is cut back to its base once the format is known (apiBaseUrl below).
		baseUrl: httpUrl('LLM API base URL'),
		apiFormat: z.preprocess(
			emptyToUndefined,
			z.enum(API_FORMATS, { message: 'must be "chatCompletions", "responses", "anthropicMessages" or "anthropicVertex"' }).default('chatCompletions'),
		),
		anthropicVersion: z.preprocess(
			emptyToUndefined,
			z.string({ invalid_type_error: 'must be text' }).trim().regex(ANTHROPIC_VERSION_PATTERN, 'must be a version such as 2023-06-01').default(DEFAULT_ANTHROPIC_VERSION),
		),
		storeResponses: flag,
		tokenUrl: z.preprocess(emptyToUndefined, httpUrl('token endpoint URL').optional()),
		clientId: z.preprocess(emptyToUndefined, noSurroundingWhitespace('OAuth2 client ID').optional()),
		clientSecret: z.preprocess(emptyToUndefined, z.string({ invalid_type_error: 'must be text' }).optional()),
		scope: scopeSchema,
		clientAuthentication: z.preprocess(
			emptyToUndefined,
			z
				.enum(CLIENT_AUTHENTICATIONS, {
					message:
						'must be "body" (client_secret_post), "header" (HTTP Basic), "privateKeyJwt", "clientSecretJwt", "tlsClientAuth", "workloadIdentity" or "none"',
				})
				.default('body'),
		),
		basicAuthEncoding: z.preprocess(
			emptyToUndefined,
			z.enum(['formEncoded', 'raw'], { message: 'must be "formEncoded" (RFC 6749) or "raw"' }).default('formEncoded'),
		),
		additionalTokenParameters: jsonObject(
			z.union([z.string(), z.number(), z.boolean()], {
				invalid_type_error: 'values must be text, numbers or booleans',
			}),
			'{"audience": "https://llm.example.com"}',
		).superRefine((parameters, ctx) => {
			for (const key of Object.keys(parameters)) {
				if (RESERVED_TOKEN_PARAMETERS.includes(key)) {
					ctx.addIssue({
						code: 'custom',
						message: `"${key}" is set by the credential itself; use the ${key === 'scope' ? 'Scope field' : 'dedicated fields'} instead`,
					});
				} else if (key.trim() === '') {
					ctx.addIssue({ code: 'custom', message: 'has an empty parameter name' });
				}
			}
		}),
		refreshToken: z.preprocess(emptyToUndefined, z.string({ invalid_type_error: 'must be text' }).optional()),
		headers: jsonObject(
			z.union([z.string(), z.number()], { invalid_type_error: 'values must be text' }),
			'{"AI-Resource-Group": "default"}',
		).superRefine((headers, ctx) => {
			for (const name of Object.keys(headers)) {
				if (!HEADER_NAME_PATTERN.test(name)) {
					ctx.addIssue({ code: 'custom', message: 'has a name that is not a valid HTTP header name (letters, digits and !#$%&\'*+-.^_`|~ only)' });
				} else if (name.toLowerCase() === 'authorization') {
					ctx.addIssue({
						code: 'custom',
						message: 'must not set Authorization: the credential sends the OAuth2 bearer token there',
					});
				}
			}
		}),
		allowedOrigins: z.preprocess(
			(value) => (emptyToUndefined(value) === undefined ? [] : typeof value === 'string' ? value.split(',') : value),
			z.array(z.string({ invalid_type_error: 'must be origins separated by commas' })).superRefine((entries, ctx) => {
				entries.forEach((entry, index) => {
					const text = entry.trim();
					let url: URL | undefined;
					try {
						url = new URL(text);
					} catch {
						/* reported below */
					}
					const originOnly = url && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
					if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !originOnly) {
						ctx.addIssue({
							code: 'custom',
							message: `entry ${index + 1} is not an origin; write scheme, host and port only, e.g. https://llm-eu.example.com or http://127.0.0.1:8080, separated by commas`,
						});
					}
				});
			}),
		),
		expiryBufferSeconds: z.preprocess(
			(value) => (emptyToUndefined(value) === undefined ? undefined : Number(value)),
			z
				.number({ invalid_type_error: 'must be a number of seconds' })
				.finite('must be a number of seconds')
				.min(0, 'must be 0 or more seconds')
				.max(MAX_EXPIRY_BUFFER_SECONDS, `must be at most ${MAX_EXPIRY_BUFFER_SECONDS} seconds`)
				.default(DEFAULT_EXPIRY_BUFFER_SECONDS),
		),
		privateKey: optionalText,
		privateKeyPassphrase: optionalText,
		certificate: optionalText,
		jwtAlgorithm: z.preprocess(
			emptyToUndefined,
			z.enum(JWT_ALGORITHMS, { message: 'must be "auto", "RS256", "PS256", "ES256" or "HS256"' }).default('auto'),
		),
		jwtKeyId: z.preprocess(emptyToUndefined, noSurroundingWhitespace('key id').optional()),
		jwtAudience: z.preprocess(emptyToUndefined, noSurroundingWhitespace('assertion audience').optional()),
		jwtCertificateChain: flag,
		caCertificate: optionalText,
		useClientCertificateForApi: flag,
		grantType: z.preprocess(
			emptyToUndefined,
			z
				.enum(GRANT_TYPES, {
					message:
						'must be "clientCredentials", "refreshToken", "jwtBearer", "tokenExchange", "azureManagedIdentity" or "googleMetadataServer"',
				})
				.default('clientCredentials'),
		),
		// RFC 8414 §2: an issuer has no query or fragment.
		issuerUrl: z.preprocess(emptyToUndefined, httpUrl('issuer URL').refine((url) => !url.includes('?'), 'must not contain a ?query (RFC 8414 §2)').optional()),
		jwtIssuer: z.preprocess(emptyToUndefined, noSurroundingWhitespace('assertion issuer').optional()),
		jwtSubject: z.preprocess(emptyToUndefined, noSurroundingWhitespace('assertion subject').optional()),
		jwtScopeClaim: flag,
		subjectTokenType: z.preprocess(
			emptyToUndefined,
			z.string({ invalid_type_error: 'must be text' }).trim().regex(TOKEN_TYPE_PATTERN, 'must be a token type URI, e.g. urn:ietf:params:oauth:token-type:jwt').default(DEFAULT_SUBJECT_TOKEN_TYPE),
		),
		requestedTokenType: z.preprocess(
			emptyToUndefined,
			z.string({ invalid_type_error: 'must be text' }).trim().regex(TOKEN_TYPE_PATTERN, 'must be a token type URI, e.g. urn:ietf:params:oauth:token-type:access_token').optional(),
		),
		managedIdentityClientId: z.preprocess(emptyToUndefined, noSurroundingWhitespace('managed identity client ID').optional()),
	});

/**
 * A token got with n8n's own identity (the platform's, or the federated token file's) goes only to the
 * LLM platforms it is for, or to origins an administrator lists (identity-policy.ts): otherwise anyone
 * who may create a credential could send the VM's or the pod's identity to a server of their own.
 */
function identityOriginIssues(input: ProviderFieldsInput, grant: GrantType, env: Environment): ValidationIssue[] {
	const ownIdentity = PLATFORM_GRANTS.includes(grant) || grant === 'tokenExchange' || input.clientAuthentication === 'workloadIdentity';
	if (!ownIdentity) return [];
	const issues: ValidationIssue[] = [];
	const check = (field: ProviderField, text: unknown) => {
		let origin: string;
		try {
			origin = new URL(String(text).trim()).origin;
		} catch {
			return; // the field's own rule reports it
		}
		if (origin !== 'null' && !identityTokenMayGoTo(origin, env)) {
			issues.push({
				field,
				message: `sends a token got with n8n's own identity to ${origin}, which is not an Azure OpenAI, AI Foundry or Vertex AI host (https://*.openai.azure.com, *.cognitiveservices.azure.com, *.services.ai.azure.com, *aiplatform.googleapis.com); ${IDENTITY_ORIGINS_HINT}`,
			});
		}
	};
	if (typeof input.baseUrl === 'string') check('baseUrl', input.baseUrl);
	// In every shape the schema takes: text separated by commas, or a list (an expression resolves to one).
	const further = emptyToUndefined(input.allowedOrigins);
	const entries: unknown[] = typeof further === 'string' ? further.split(',') : Array.isArray(further) ? further : [];
	for (const entry of entries) check('allowedOrigins', entry);
	return issues;
}

/**
 * The rules across fields. Checked beside the schema, not in an object-level refine, because zod
 * skips those as soon as any field fails, and every problem is to be reported at once. `env` fills in
 * what AKS workload identity injects (workload-identity.ts).
 */
function crossFieldIssues(input: ProviderFieldsInput, grant: GrantType | undefined, env: Environment): ValidationIssue[] {
	const blank = (value: unknown) => emptyToUndefined(value) === undefined;
	if (grant === undefined) return []; // the schema names it
	const issues: ValidationIssue[] = [...identityOriginIssues(input, grant, env)];
	if (PLATFORM_GRANTS.includes(grant)) {
		if (grant === 'azureManagedIdentity') {
			const scope = typeof input.scope === 'string' ? input.scope.trim() : '';
			if (scope === '') issues.push({ field: 'scope', message: 'is required for Azure Managed Identity: the resource to get a token for, e.g. https://cognitiveservices.azure.com/.default' });
			else if (scope.includes(' ')) issues.push({ field: 'scope', message: 'must be one value for Azure Managed Identity, which issues a token for one resource' });
		}
		return issues;
	}
	const method = input.clientAuthentication;
	const azure = method === 'workloadIdentity' ? azureWorkloadDefaults(env) : {};
	if (blank(input.tokenUrl) && blank(input.issuerUrl) && !azure.tokenUrl) {
		issues.push({
			field: 'tokenUrl',
			message:
				method === 'workloadIdentity'
					? 'is required: the token endpoint URL (or set AZURE_TENANT_ID in n8n\'s environment, as AKS workload identity does, or fill Issuer URL)'
					: 'is required: the token endpoint URL (or fill Issuer URL to find it in the issuer\'s metadata)',
		});
	}
	// A public client, a Google service account and a Databricks account-wide federation policy send no client_id.
	const clientOptional = method === 'none' && (grant === 'jwtBearer' || grant === 'tokenExchange');
	if (blank(input.clientId) && !azure.clientId && !clientOptional) {
		issues.push({
			field: 'clientId',
			message: method === 'workloadIdentity' ? 'is required: the OAuth2 client ID (or set AZURE_CLIENT_ID in n8n\'s environment, as AKS workload identity does)' : 'is required: the OAuth2 client ID',
		});
	}
	let extra: unknown = input.additionalTokenParameters;
	try {
		if (typeof extra === 'string') extra = JSON.parse(extra);
	} catch {
		extra = undefined; // the schema reports it
	}
	for (const name of GRANT_TOKEN_PARAMETERS[grant] ?? []) {
		if (extra && typeof extra === 'object' && Object.hasOwn(extra, name)) {
			issues.push({ field: 'additionalTokenParameters', message: `"${name}" is set by the grant itself; use the dedicated fields instead` });
		}
	}
	if (grant === 'refreshToken' && blank(input.refreshToken)) {
		issues.push({ field: 'refreshToken', message: 'is required for the Refresh Token grant: the refresh token the provider issued' });
	}
	if (grant === 'jwtBearer' && blank(input.jwtIssuer)) {
		issues.push({ field: 'jwtIssuer', message: 'is required for the JWT Bearer grant: the assertion\'s iss (Google: the service account\'s client_email)' });
	}
	if (method === 'clientSecretJwt' && blank(input.clientSecret)) {
		issues.push({ field: 'clientSecret', message: 'is required for Client Secret JWT: the assertion is signed with it' });
	} else if (grant === 'clientCredentials' && (method === undefined || method === '' || method === 'body' || method === 'header') && blank(input.clientSecret)) {
		issues.push({ field: 'clientSecret', message: 'is required: the OAuth2 client secret (only a refresh-token credential may go without one; a public client chooses Client Authentication None)' });
	}
	return issues;
}

export type ProviderFieldsInput = Partial<Record<ProviderField, unknown>>;

/** Display names of the credential fields, so messages name what the user sees in the dialog. */
export const FIELD_DISPLAY_NAMES: Record<ProviderField, string> = {
	baseUrl: 'Base URL',
	apiFormat: 'API Format',
	anthropicVersion: 'Anthropic Version',
	storeResponses: 'Store Responses',
	tokenUrl: 'Token URL',
	clientId: 'Client ID',
	clientSecret: 'Client Secret',
	scope: 'Scope',
	clientAuthentication: 'Client Authentication',
	basicAuthEncoding: 'Basic Auth Encoding',
	additionalTokenParameters: 'Additional Token Parameters',
	refreshToken: 'Refresh Token',
	headers: 'Headers',
	allowedOrigins: 'Allowed Origins',
	expiryBufferSeconds: 'Expiry Buffer (Seconds)',
	privateKey: 'Private Key',
	privateKeyPassphrase: 'Private Key Passphrase',
	certificate: 'Certificate',
	jwtAlgorithm: 'JWT Algorithm',
	jwtKeyId: 'JWT Key ID',
	jwtAudience: 'JWT Audience',
	jwtCertificateChain: 'Send Certificate Chain (x5c)',
	caCertificate: 'CA Certificate',
	useClientCertificateForApi: 'Use Client Certificate for API',
	grantType: 'Grant Type',
	issuerUrl: 'Issuer URL',
	jwtIssuer: 'JWT Issuer',
	jwtSubject: 'JWT Subject',
	jwtScopeClaim: 'Scope in Assertion',
	subjectTokenType: 'Subject Token Type',
	requestedTokenType: 'Requested Token Type',
	managedIdentityClientId: 'Managed Identity Client ID',
};

function looseKeyInput(input: ProviderFieldsInput): ClientKeyInput {
	const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
	const oneOf = <T extends string>(values: readonly T[], value: unknown, fallback: T): T =>
		values.includes(value as T) ? (value as T) : fallback;
	return {
		clientAuthentication: oneOf(CLIENT_AUTHENTICATIONS, input.clientAuthentication, 'body'),
		privateKey: text(input.privateKey),
		privateKeyPassphrase: text(input.privateKeyPassphrase),
		certificate: text(input.certificate),
		jwtAlgorithm: oneOf(JWT_ALGORITHMS, input.jwtAlgorithm, 'auto'),
		caCertificate: text(input.caCertificate),
		useClientCertificateForApi: input.useClientCertificateForApi === true || input.useClientCertificateForApi === 'true',
	};
}

export type ParseResult = { ok: true; config: ProviderConfig } | { ok: false; issues: ValidationIssue[] };

/**
 * A pasted endpoint URL instead of the API's base is the commonest slip: "…/v1/chat/completions",
 * "…/v1/responses", "…/v1/messages", or Vertex's "…/models/{model}:rawPredict". Its base is kept, so
 * that the model and the path are the node's.
 */
function apiBaseUrl(baseUrl: string, format: ApiFormat): string {
	const endpoint: Record<ApiFormat, RegExp> = {
		chatCompletions: /\/chat\/completions\/?$/,
		responses: /\/responses\/?$/,
		anthropicMessages: /\/messages\/?$/,
		anthropicVertex: /\/[^/]+:(stream)?rawPredict\/?$/i,
	};
	// The path only: a query (Azure's ?api-version=) and the host are kept as they are.
	const url = new URL(baseUrl);
	const path = url.pathname.replace(endpoint[format], '');
	if (path === url.pathname) return baseUrl;
	url.pathname = path;
	return url.toString();
}

/**
 * Validates raw fields. `issues[].field` is the credential field name (the CLI maps it back to its own
 * JSON path); every problem is reported, not just the first.
 */
export function safeParseProviderFields(input: ProviderFieldsInput, providerName?: string, env: Environment = process.env): ParseResult {
	const result = providerFieldsSchema.safeParse(input);
	const grant = effectiveGrantType(input);
	const issues = [
		...(result.success ? [] : result.error.issues).map((issue) => ({
			field: issue.path.map(String).join('.') || '(credential)',
			message: issue.message,
		})),
		...crossFieldIssues(input, grant, env),
	];
	const platform = grant !== undefined && PLATFORM_GRANTS.includes(grant);
	// The key checks run on the raw fields too, so that every problem is reported at once. A platform
	// grant has no client authentication: a key left behind in a hidden field is not read.
	const keyInput = { ...(result.success ? result.data : looseKeyInput(input)), signsGrantAssertion: grant === 'jwtBearer' };
	const { material, issues: keyIssues } = readClientKeyMaterial(
		platform ? { ...keyInput, clientAuthentication: 'none', signsGrantAssertion: false, useClientCertificateForApi: false } : keyInput,
		emptyToUndefined(input.clientSecret) !== undefined,
	);
	issues.push(...keyIssues);
	if (!result.success || issues.length > 0 || grant === undefined) return { ok: false, issues };
	const fields = result.data;
	const method = platform ? 'none' : fields.clientAuthentication;
	const azure = method === 'workloadIdentity' ? azureWorkloadDefaults(env) : {};
	const tokenUrl = platform ? '' : (fields.tokenUrl ?? (fields.issuerUrl ? '' : (azure.tokenUrl ?? '')));
	const clientTls: TlsMaterial = {
		certificatePem: material.certificatePem,
		privateKeyPem: material.privateKeyPem,
		passphrase: material.privateKeyPassphrase,
	};
	const tlsFor = (withClientCertificate: boolean): TlsMaterial | undefined =>
		material.caPems || withClientCertificate ? { caPems: material.caPems, ...(withClientCertificate ? clientTls : {}) } : undefined;
	const endpointHost = [tokenUrl, fields.issuerUrl, fields.baseUrl].find((url) => !!url)!;
	const name = providerName?.trim() || new URL(endpointHost).host;
	const signsWithKey = method === 'privateKeyJwt' || grant === 'jwtBearer';
	return {
		ok: true,
		config: {
			providerName: name,
			baseUrl: apiBaseUrl(fields.baseUrl, fields.apiFormat),
			api: { format: fields.apiFormat, anthropicVersion: fields.anthropicVersion, storeResponses: fields.storeResponses },
			headers: Object.fromEntries(Object.entries(fields.headers).map(([key, value]) => [key, String(value)])),
			allowedOrigins: [...new Set([new URL(fields.baseUrl).origin, ...fields.allowedOrigins.map((entry) => new URL(entry.trim()).origin)])],
			tokenEndpoint: {
				grantType: grant,
				tokenUrl,
				...(fields.issuerUrl && !platform ? { issuerUrl: fields.issuerUrl } : {}),
				clientId: platform ? '' : (fields.clientId ?? azure.clientId ?? ''),
				clientSecret: platform ? '' : (fields.clientSecret ?? ''),
				scope: fields.scope,
				clientAuthentication: method,
				basicAuthEncoding: fields.basicAuthEncoding,
				additionalTokenParameters: platform
					? {}
					: Object.fromEntries(Object.entries(fields.additionalTokenParameters).map(([key, value]) => [key, String(value)])),
				refreshToken: grant === 'refreshToken' ? fields.refreshToken : undefined,
				expiryBufferSeconds: fields.expiryBufferSeconds,
				...((material.algorithm && method === 'privateKeyJwt') || method === 'clientSecretJwt'
					? {
							assertion: {
								// With the JWT bearer grant, Private Key's algorithm is the grant's; Client Secret JWT is always HS256.
								algorithm: method === 'clientSecretJwt' ? 'HS256' : material.algorithm!,
								audience: fields.jwtAudience,
								keyId: fields.jwtKeyId,
								...(method === 'privateKeyJwt' ? { x5tS256: material.x5tS256, x5t: material.x5t } : {}),
								...(method === 'privateKeyJwt' && fields.jwtCertificateChain ? { x5c: material.x5c } : {}),
							},
						}
					: {}),
				...(grant === 'jwtBearer' && material.algorithm
					? {
							grantAssertion: {
								algorithm: material.algorithm,
								keyId: fields.jwtKeyId,
								issuer: fields.jwtIssuer!,
								subject: fields.jwtSubject,
								audience: fields.jwtAudience,
								scopeInClaim: fields.jwtScopeClaim,
							},
						}
					: {}),
				...(grant === 'tokenExchange'
					? { tokenExchange: { subjectTokenType: fields.subjectTokenType, requestedTokenType: fields.requestedTokenType } }
					: {}),
				...(grant === 'azureManagedIdentity' && fields.managedIdentityClientId ? { managedIdentityClientId: fields.managedIdentityClientId } : {}),
				...(signsWithKey ? { privateKeyPem: material.privateKeyPem, privateKeyPassphrase: material.privateKeyPassphrase } : {}),
				tls: platform ? undefined : tlsFor(method === 'tlsClientAuth'),
				certificateValidity: material.certificateValidity,
			},
			apiTls: tlsFor(apiUsesClientCertificate({ ...fields, clientAuthentication: method })),
		},
	};
}

/** Like safeParseProviderFields, but throws one OAuth2ValidationError naming every bad field. */
export function parseProviderConfig(input: ProviderFieldsInput, providerName?: string, env: Environment = process.env): ProviderConfig {
	const result = safeParseProviderFields(input, providerName, env);
	if (result.ok) return result.config;
	const issues = result.issues.map((issue) => ({
		field: FIELD_DISPLAY_NAMES[issue.field as ProviderField] ?? issue.field,
		message: issue.message,
	}));
	throw new OAuth2ValidationError(issues, {
		providerName,
		hint: 'Open the OAuth2 LLM Provider credential and correct the fields named above.',
	});
}

const secretsByConfig = new WeakMap<TokenEndpointConfig, string[]>();

/**
 * Every secret a provider config holds, for scrubbing: the client secret, the refresh token, and the
 * `id:secret` pairs a Basic header is the base64 of (raw and form-encoded), whose base64 forms
 * scrub.ts then finds too.
 */
export function secretsOf(config: TokenEndpointConfig): string[] {
	let secrets = secretsByConfig.get(config);
	if (secrets === undefined) {
		const pairs = config.clientSecret
			? [`${config.clientId}:${config.clientSecret}`, `${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`]
			: [];
		// A key is never sent, but a message from our own code must not carry it either, whole or as its base64 body.
		const keys = [config.privateKeyPem, config.tls?.privateKeyPem].flatMap((pem) => (pem ? [pem, ...pemBlocks(pem).map((block) => block.base64)] : []));
		secrets = [config.clientSecret, config.refreshToken, ...pairs, config.privateKeyPassphrase, config.tls?.passphrase, ...keys].filter(
			(value): value is string => !!value,
		);
		secretsByConfig.set(config, secrets);
	}
	return secrets;
}
