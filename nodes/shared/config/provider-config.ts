/**
 * What the user stores, validated once into the shape the rest of the package works with.
 * The credential, the nodes and the config import CLI all go through `parseProviderConfig`:
 * one copy of the rules.
 */
import { z } from 'zod';

import type { AssertionSettings } from '../keys/client-assertion';
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

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they go into the Basic header. */
export type BasicAuthEncoding = 'formEncoded' | 'raw';

export interface TokenEndpointConfig {
	tokenUrl: string;
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
	/** privateKeyJwt and clientSecretJwt: how each token request's client_assertion is made. */
	assertion?: AssertionSettings;
	/** privateKeyJwt: the signing key as PEM (still encrypted when it was), and its passphrase. */
	privateKeyPem?: string;
	privateKeyPassphrase?: string;
	/** TLS towards the token endpoint: extra CAs, and the client certificate for tlsClientAuth. */
	tls?: TlsMaterial;
	/** The client certificate's dates, for messages when the provider refuses it. */
	certificateValidity?: CertificateValidity;
}

export interface ProviderConfig {
	/** Credential name (or the token URL's host), used in every message about this provider. */
	providerName: string;
	/** Base of the OpenAI-compatible API, e.g. https://llm.example.com/v1 (may carry a query string). */
	baseUrl: string;
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

/** Field names as the credential stores them: a public contract, saved credentials point at them. */
export const PROVIDER_FIELDS = [
	'baseUrl',
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
] as const;
export type ProviderField = (typeof PROVIDER_FIELDS)[number];

const RESERVED_TOKEN_PARAMETERS = ['grant_type', 'client_id', 'client_secret', 'refresh_token', 'scope', 'client_assertion', 'client_assertion_type'];
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
		// A pasted endpoint URL ("…/v1/chat/completions") is the commonest slip: keep its base.
		baseUrl: httpUrl('LLM API base URL').transform((url) => url.replace(/\/chat\/completions\/?(?=$|\?)/, '')),
		tokenUrl: httpUrl('token endpoint URL'),
		clientId: noSurroundingWhitespace('OAuth2 client ID'),
		clientSecret: z.preprocess(emptyToUndefined, z.string({ invalid_type_error: 'must be text' }).optional()),
		scope: scopeSchema,
		clientAuthentication: z.preprocess(
			emptyToUndefined,
			z
				.enum(CLIENT_AUTHENTICATIONS, {
					message:
						'must be "body" (client_secret_post), "header" (HTTP Basic), "privateKeyJwt", "clientSecretJwt" or "tlsClientAuth"',
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
	});

/**
 * The one rule across fields. Checked beside the schema, not in an object-level refine, because zod
 * skips those as soon as any field fails, and every problem is to be reported at once.
 */
function crossFieldIssues(input: ProviderFieldsInput): ValidationIssue[] {
	const blank = (value: unknown) => emptyToUndefined(value) === undefined;
	const method = input.clientAuthentication;
	if (method === 'privateKeyJwt' || method === 'tlsClientAuth') return [];
	if (method === 'clientSecretJwt' && blank(input.clientSecret)) {
		return [{ field: 'clientSecret', message: 'is required for Client Secret JWT: the assertion is signed with it' }];
	}
	return blank(input.clientSecret) && blank(input.refreshToken)
		? [{ field: 'clientSecret', message: 'is required: the OAuth2 client secret (only a refresh-token credential may go without one)' }]
		: [];
}

export type ProviderFieldsInput = Partial<Record<ProviderField, unknown>>;

/** Display names of the credential fields, so messages name what the user sees in the dialog. */
export const FIELD_DISPLAY_NAMES: Record<ProviderField, string> = {
	baseUrl: 'Base URL',
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
 * Validates raw fields. `issues[].field` is the credential field name (the CLI maps it back to its own
 * JSON path); every problem is reported, not just the first.
 */
export function safeParseProviderFields(input: ProviderFieldsInput, providerName?: string): ParseResult {
	const result = providerFieldsSchema.safeParse(input);
	const issues = [
		...(result.success ? [] : result.error.issues).map((issue) => ({
			field: issue.path.map(String).join('.') || '(credential)',
			message: issue.message,
		})),
		...crossFieldIssues(input),
	];
	// The key checks run on the raw fields too, so that every problem is reported at once.
	const { material, issues: keyIssues } = readClientKeyMaterial(
		result.success ? result.data : looseKeyInput(input),
		emptyToUndefined(input.clientSecret) !== undefined,
	);
	issues.push(...keyIssues);
	if (!result.success || issues.length > 0) return { ok: false, issues };
	const fields = result.data;
	const method = fields.clientAuthentication;
	const clientTls: TlsMaterial = {
		certificatePem: material.certificatePem,
		privateKeyPem: material.privateKeyPem,
		passphrase: material.privateKeyPassphrase,
	};
	const tlsFor = (withClientCertificate: boolean): TlsMaterial | undefined =>
		material.caPems || withClientCertificate ? { caPems: material.caPems, ...(withClientCertificate ? clientTls : {}) } : undefined;
	const name = providerName?.trim() || new URL(fields.tokenUrl).host;
	return {
		ok: true,
		config: {
			providerName: name,
			baseUrl: fields.baseUrl,
			headers: Object.fromEntries(Object.entries(fields.headers).map(([key, value]) => [key, String(value)])),
			allowedOrigins: [...new Set([new URL(fields.baseUrl).origin, ...fields.allowedOrigins.map((entry) => new URL(entry.trim()).origin)])],
			tokenEndpoint: {
				tokenUrl: fields.tokenUrl,
				clientId: fields.clientId,
				clientSecret: fields.clientSecret ?? '',
				scope: fields.scope,
				clientAuthentication: fields.clientAuthentication,
				basicAuthEncoding: fields.basicAuthEncoding,
				additionalTokenParameters: Object.fromEntries(
					Object.entries(fields.additionalTokenParameters).map(([key, value]) => [key, String(value)]),
				),
				refreshToken: fields.refreshToken,
				expiryBufferSeconds: fields.expiryBufferSeconds,
				...(material.algorithm && (method === 'privateKeyJwt' || method === 'clientSecretJwt')
					? {
							assertion: {
								algorithm: material.algorithm,
								audience: fields.jwtAudience ?? fields.tokenUrl,
								keyId: fields.jwtKeyId,
								...(method === 'privateKeyJwt' ? { x5tS256: material.x5tS256, x5t: material.x5t } : {}),
								...(method === 'privateKeyJwt' && fields.jwtCertificateChain ? { x5c: material.x5c } : {}),
							},
						}
					: {}),
				...(method === 'privateKeyJwt' ? { privateKeyPem: material.privateKeyPem, privateKeyPassphrase: material.privateKeyPassphrase } : {}),
				tls: tlsFor(method === 'tlsClientAuth'),
				certificateValidity: material.certificateValidity,
			},
			apiTls: tlsFor(apiUsesClientCertificate(fields)),
		},
	};
}

/** Like safeParseProviderFields, but throws one OAuth2ValidationError naming every bad field. */
export function parseProviderConfig(input: ProviderFieldsInput, providerName?: string): ProviderConfig {
	const result = safeParseProviderFields(input, providerName);
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
