/**
 * litellm_config.json → n8n credentials of type `llmProviderOAuth2Api`, as a pure function of the file's
 * text, the environment and the options. Every field rule is the shared schema's
 * (nodes/shared/config/provider-config.ts); this file only maps snake_case keys to credential fields, resolves
 * `os.environ/NAME`, finds the base URL, and maps the schema's field names back to JSON paths.
 *
 * What n8n 2.41 does with what we write (read in n8n 2.41.0's own code):
 * - `n8n import:credentials` upserts each entry by `id` (commands/import/credentials.js:
 *   `transactionManager.upsert(CredentialsEntity, credential, ['id'])`), and keeps the existing owner.
 *   The id column is a varchar (varchar(36) on Postgres); n8n generates 16 characters of
 *   [0-9A-Za-z] itself. The public API's POST /api/v1/credentials accepts a caller's id of 1–16
 *   characters of [A-Za-z0-9_-] and answers 409 when it is taken. So the id here is 16 characters of
 *   [0-9A-Za-z] from a SHA-256 of the provider name: valid for both, and the same on every run, so a
 *   second import updates the credential instead of adding a copy.
 * - Credential fields may hold expressions: CredentialsHelper.applyDefaultsAndOverwrites resolves them
 *   every time a credential is used. `$env` inside them is the workflow data proxy's env provider, which
 *   throws "access to env vars denied" unless n8n runs with N8N_BLOCK_ENV_ACCESS_IN_NODE=false (blocked
 *   by default since n8n 2.0). Hence `keepEnvReferences` writes `={{ $env.NAME }}` and the CLI says
 *   which setting n8n then needs.
 */
import { createHash } from 'node:crypto';

import { maskQueryValues, PUBLIC_HEADER_NAMES, REDACTED, scrubText } from '../nodes/shared/core/scrub';
import {
	CERTIFICATE_FIELDS,
	IDENTITY_FIELDS,
	type ProviderConfig,
	type ProviderField,
	type ProviderFieldsInput,
	safeParseProviderFields,
} from '../nodes/shared/config/provider-config';
import { formatJsonPath, type JsonPath, readJson, type SourcePosition } from './json-source';

/** The credential type's `name` (credentials/LlmProviderOAuth2Api.credentials.ts): a public contract. */
export const CREDENTIAL_TYPE = 'llmProviderOAuth2Api';

/** LiteLLM's syntax for "read this environment variable" (litellm/secret_managers/main.py). */
export const ENV_PREFIX = 'os.environ/';

/** n8n's `name` column is varchar(128). */
const MAX_CREDENTIAL_NAME_LENGTH = 128;

/** n8n's own id alphabet and length (@n8n/constants NANOID_ALPHABET, generateNanoId: 16). */
const ID_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 16;
const ID_NAMESPACE = 'n8n-nodes-oauth2-llm/litellm-provider/';

/** What a stored `llmProviderOAuth2Api` credential holds: the credential's field names, n8n's value types. */
export interface LlmProviderCredentialData {
	baseUrl: string;
	tokenUrl: string;
	clientId: string;
	clientSecret: string;
	scope: string;
	clientAuthentication: string;
	basicAuthEncoding: string;
	/** A JSON object as text, as n8n's `json` fields hold it (or an `={{ … }}` expression). */
	additionalTokenParameters: string;
	refreshToken: string;
	/** A JSON object as text (or an `={{ … }}` expression). */
	headers: string;
	/** Further origins, separated by commas; left out when there are none (an n8n with an older package version rejects unknown fields). */
	allowedOrigins?: string;
	expiryBufferSeconds: number;
	// Issue 22's fields, only when they say something a credential without them does not.
	apiFormat?: string;
	anthropicVersion?: string;
	storeResponses?: boolean;
	// Issue 12's fields, likewise only when set.
	privateKey?: string;
	privateKeyPassphrase?: string;
	certificate?: string;
	jwtAlgorithm?: string;
	jwtKeyId?: string;
	jwtAudience?: string;
	jwtCertificateChain?: boolean;
	caCertificate?: string;
	useClientCertificateForApi?: boolean;
	// Issue 21's fields, likewise only when set.
	grantType?: string;
	issuerUrl?: string;
	jwtIssuer?: string;
	jwtSubject?: string;
	jwtScopeClaim?: boolean;
	subjectTokenType?: string;
	requestedTokenType?: string;
	managedIdentityClientId?: string;
}

/** One entry of the array that `n8n import:credentials --input <file>` reads. */
export interface N8nCredential {
	id: string;
	name: string;
	type: typeof CREDENTIAL_TYPE;
	data: LlmProviderCredentialData;
}

export interface ConfigIssue {
	/** Where in the file (`oauth2_providers.my_provider.token_url`), or the command-line option. */
	path: string;
	message: string;
	line?: number;
	column?: number;
}

export interface ConvertOptions {
	/** `--base-url`: for providers whose base URL is neither in their entry nor in `model_list`. */
	defaultBaseUrl?: string;
	/** Write `={{ $env.NAME }}` for `os.environ/NAME` instead of the variable's value. */
	keepEnvReferences?: boolean;
}

export interface ConvertResult {
	/** Empty whenever `issues` is not: nothing may be written from a file with problems. */
	credentials: N8nCredential[];
	issues: ConfigIssue[];
	/** Things the user should know that do not stop the import (never a value). */
	notes: string[];
	/** Environment variables written as `$env` references (keepEnvReferences): n8n must have them. */
	envReferences: string[];
}

/** Stable credential id: 16 characters of n8n's alphabet from SHA-256 of the provider name. */
export function credentialIdFor(providerName: string): string {
	const digest = createHash('sha256').update(ID_NAMESPACE + providerName, 'utf8').digest();
	let id = '';
	for (let i = 0; i < ID_LENGTH; i++) id += ID_ALPHABET[digest[i] % ID_ALPHABET.length];
	return id;
}

// ---------------------------------------------------------------------------------------------
// Keys of a provider entry
// ---------------------------------------------------------------------------------------------

/** snake_case key in the file → credential field. Two keys for one field are aliases. */
export const PROVIDER_KEYS: Readonly<Record<string, ProviderField>> = {
	base_url: 'baseUrl',
	api_base: 'baseUrl',
	api_format: 'apiFormat',
	anthropic_version: 'anthropicVersion',
	store_responses: 'storeResponses',
	token_url: 'tokenUrl',
	client_id: 'clientId',
	client_secret: 'clientSecret',
	scope: 'scope',
	client_authentication: 'clientAuthentication',
	basic_auth_encoding: 'basicAuthEncoding',
	additional_token_parameters: 'additionalTokenParameters',
	extra_token_params: 'additionalTokenParameters',
	refresh_token: 'refreshToken',
	headers: 'headers',
	allowed_origins: 'allowedOrigins',
	expiry_buffer_seconds: 'expiryBufferSeconds',
	private_key: 'privateKey',
	private_key_passphrase: 'privateKeyPassphrase',
	certificate: 'certificate',
	jwt_algorithm: 'jwtAlgorithm',
	jwt_key_id: 'jwtKeyId',
	jwt_audience: 'jwtAudience',
	jwt_certificate_chain: 'jwtCertificateChain',
	ca_certificate: 'caCertificate',
	use_client_certificate_for_api: 'useClientCertificateForApi',
	grant_type: 'grantType',
	issuer_url: 'issuerUrl',
	jwt_issuer: 'jwtIssuer',
	jwt_subject: 'jwtSubject',
	jwt_scope_claim: 'jwtScopeClaim',
	subject_token_type: 'subjectTokenType',
	requested_token_type: 'requestedTokenType',
	managed_identity_client_id: 'managedIdentityClientId',
};

/** The seed schema's `provider_name` (CrewAI fills it from the key): allowed when it repeats the key. */
const PROVIDER_NAME_KEY = 'provider_name';

/** The key a message about a missing field points at. */
const PREFERRED_KEY: Record<ProviderField, string> = {
	baseUrl: 'base_url',
	apiFormat: 'api_format',
	anthropicVersion: 'anthropic_version',
	storeResponses: 'store_responses',
	tokenUrl: 'token_url',
	clientId: 'client_id',
	clientSecret: 'client_secret',
	scope: 'scope',
	clientAuthentication: 'client_authentication',
	basicAuthEncoding: 'basic_auth_encoding',
	additionalTokenParameters: 'additional_token_parameters',
	refreshToken: 'refresh_token',
	headers: 'headers',
	allowedOrigins: 'allowed_origins',
	expiryBufferSeconds: 'expiry_buffer_seconds',
	privateKey: 'private_key',
	privateKeyPassphrase: 'private_key_passphrase',
	certificate: 'certificate',
	jwtAlgorithm: 'jwt_algorithm',
	jwtKeyId: 'jwt_key_id',
	jwtAudience: 'jwt_audience',
	jwtCertificateChain: 'jwt_certificate_chain',
	caCertificate: 'ca_certificate',
	useClientCertificateForApi: 'use_client_certificate_for_api',
	grantType: 'grant_type',
	issuerUrl: 'issuer_url',
	jwtIssuer: 'jwt_issuer',
	jwtSubject: 'jwt_subject',
	jwtScopeClaim: 'jwt_scope_claim',
	subjectTokenType: 'subject_token_type',
	requestedTokenType: 'requested_token_type',
	managedIdentityClientId: 'managed_identity_client_id',
};

/** Names other tools use for the same values (RFC 7591 token_endpoint_auth_method, snake_case). */
const VALUE_ALIASES: Partial<Record<ProviderField, Record<string, string>>> = {
	clientAuthentication: {
		client_secret_post: 'body',
		client_secret_basic: 'header',
		private_key_jwt: 'privateKeyJwt',
		client_secret_jwt: 'clientSecretJwt',
		tls_client_auth: 'tlsClientAuth',
		// The client's side of RFC 8705 §2.2 is the same: a certificate on the connection.
		self_signed_tls_client_auth: 'tlsClientAuth',
		workload_identity: 'workloadIdentity',
	},
	grantType: {
		client_credentials: 'clientCredentials',
		refresh_token: 'refreshToken',
		jwt_bearer: 'jwtBearer',
		'urn:ietf:params:oauth:grant-type:jwt-bearer': 'jwtBearer',
		token_exchange: 'tokenExchange',
		'urn:ietf:params:oauth:grant-type:token-exchange': 'tokenExchange',
		azure_managed_identity: 'azureManagedIdentity',
		google_metadata_server: 'googleMetadataServer',
	},
	basicAuthEncoding: { form_encoded: 'formEncoded' },
	apiFormat: {
		chat_completions: 'chatCompletions',
		anthropic_messages: 'anthropicMessages',
		anthropic_vertex: 'anthropicVertex',
	},
};

/**
 * Fields n8n stores as `options` or `number`. Its public API type-checks them (an `={{ … }}` string is
 * neither an allowed option nor a number), and they are not secrets: resolved now even with
 * keepEnvReferences.
 */
const RESOLVED_NOW_FIELDS: ReadonlySet<ProviderField> = new Set([
	'clientAuthentication',
	'basicAuthEncoding',
	'expiryBufferSeconds',
	'jwtAlgorithm',
	'jwtCertificateChain',
	'useClientCertificateForApi',
	'grantType',
	'jwtScopeClaim',
	'apiFormat',
	'storeResponses',
]);
const SECRET_FIELDS: ReadonlySet<ProviderField> = new Set(['clientSecret', 'refreshToken', 'privateKey', 'privateKeyPassphrase']);
const JSON_FIELDS: ReadonlySet<ProviderField> = new Set(['headers', 'additionalTokenParameters']);

/**
 * Values the shared schema accepts, standing in for a field whose real value cannot be checked here (an
 * `$env` reference to a variable this shell lacks). Never written anywhere.
 */
const STAND_INS: Partial<Record<ProviderField, string>> = {
	baseUrl: 'https://unchecked.invalid/v1',
	tokenUrl: 'https://unchecked.invalid/token',
	clientId: 'unchecked',
	clientSecret: 'unchecked',
	refreshToken: 'unchecked',
};

function suggestionFor(key: string): string {
	const squash = (text: string) => text.toLowerCase().replace(/[_-]/g, '');
	const match = Object.keys(PROVIDER_KEYS).find((known) => squash(known) === squash(key));
	const known = Object.keys(PROVIDER_KEYS).join(', ');
	return match ? `; did you mean "${match}"?` : `; known keys: ${known}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `os.environ/NAME` → NAME (maybe invalid), else undefined. */
function envReferenceName(value: unknown): string | undefined {
	return typeof value === 'string' && value.startsWith(ENV_PREFIX) ? value.slice(ENV_PREFIX.length).trim() : undefined;
}

// ---------------------------------------------------------------------------------------------
// The conversion
// ---------------------------------------------------------------------------------------------

/** Where a field's value came from, for messages and for `$env` references. */
interface FieldSource {
	path: JsonPath | string;
	/** Whole-field `os.environ/NAME`. */
	envName?: string;
	/**
	 * Not validated: the variable is absent here and kept as a reference (n8n resolves it), or the
	 * reference itself was already reported as a problem.
	 */
	unchecked?: boolean;
	/** JSON fields given as an object whose values use `os.environ/NAME`: the object as written. */
	rawObject?: Record<string, unknown>;
}

interface ProviderContext {
	name: string;
	path: JsonPath;
	env: Readonly<Record<string, string | undefined>>;
	keepEnvReferences: boolean;
	issues: ConfigIssue[];
	notes: string[];
	secrets: string[];
	positionOf(path: JsonPath | string): SourcePosition | undefined;
}

function issueAt(ctx: Pick<ProviderContext, 'positionOf'>, path: JsonPath | string, message: string): ConfigIssue {
	const text = typeof path === 'string' ? path : formatJsonPath(path);
	const position = ctx.positionOf(path);
	return position ? { path: text, message, line: position.line, column: position.column } : { path: text, message };
}

/**
 * Resolves one `os.environ/NAME` value. Returns the value to validate, or `undefined` with `unchecked`
 * when the reference is kept and the variable is absent here; records an issue when it must be resolved
 * and is absent. The value is never put into any message.
 */
function resolveEnv(
	ctx: ProviderContext,
	path: JsonPath,
	name: string,
	mustResolve: boolean,
): { ok: true; value: string | undefined; unchecked: boolean } | { ok: false } {
	if (!ENV_NAME_PATTERN.test(name)) {
		ctx.issues.push(
			issueAt(ctx, path, `"${ENV_PREFIX}${name}" does not name an environment variable (letters, digits and _; not starting with a digit)`),
		);
		return { ok: false };
	}
	const value = ctx.env[name];
	if (value === undefined) {
		if (ctx.keepEnvReferences && !mustResolve) {
			ctx.notes.push(
				`${formatJsonPath(path)}: environment variable ${name} is not set here, so provider "${ctx.name}"'s value is not checked; n8n must have it`,
			);
			return { ok: true, value: undefined, unchecked: true };
		}
		ctx.issues.push(issueAt(ctx, path, `environment variable ${name} is not set (needed by provider "${ctx.name}")`));
		return { ok: false };
	}
	return { ok: true, value, unchecked: false };
}

function readProviderEntry(
	ctx: ProviderContext,
	entry: Record<string, unknown>,
): { input: ProviderFieldsInput; sources: Map<ProviderField, FieldSource> } {
	const input: ProviderFieldsInput = {};
	const sources = new Map<ProviderField, FieldSource>();

	for (const [key, rawValue] of Object.entries(entry)) {
		const path = [...ctx.path, key];
		if (key === PROVIDER_NAME_KEY) {
			if (rawValue !== ctx.name) {
				ctx.issues.push(
					issueAt(ctx, path, `is "${String(rawValue)}" but the provider's key is "${ctx.name}"; the key names the provider, remove ${PROVIDER_NAME_KEY}`),
				);
			}
			continue;
		}
		const field = Object.hasOwn(PROVIDER_KEYS, key) ? PROVIDER_KEYS[key] : undefined;
		if (field === undefined) {
			ctx.issues.push(issueAt(ctx, path, `unknown key "${key}"${suggestionFor(key)}`));
			continue;
		}
		const earlier = sources.get(field);
		if (earlier) {
			ctx.issues.push(issueAt(ctx, path, `sets the same field as ${formatJsonPath(earlier.path as JsonPath)}; keep one of them`));
			continue;
		}

		const source: FieldSource = { path };
		sources.set(field, source);
		let value: unknown = rawValue;

		const envName = envReferenceName(rawValue);
		if (envName !== undefined) {
			const resolved = resolveEnv(ctx, path, envName, RESOLVED_NOW_FIELDS.has(field));
			if (!resolved.ok) {
				source.unchecked = true; // its problem is reported; do not report the field again
				continue;
			}
			source.envName = envName;
			source.unchecked = resolved.unchecked;
			value = resolved.value;
		} else if (JSON_FIELDS.has(field) && isPlainObject(rawValue)) {
			value = resolveJsonLeaves(ctx, path, rawValue, source);
		} else if (field === 'scope' && Array.isArray(rawValue) && rawValue.every((item) => typeof item === 'string')) {
			// A list of scopes is the same thing as RFC 6749's space-separated string.
			value = rawValue.join(' ');
		}

		const aliases = VALUE_ALIASES[field];
		if (aliases && typeof value === 'string' && Object.hasOwn(aliases, value)) value = aliases[value];
		if (SECRET_FIELDS.has(field) && typeof value === 'string') ctx.secrets.push(value);
		input[field] = value;
	}
	return { input, sources };
}

/** `{"AI-Resource-Group": "os.environ/RG"}` → the object with values resolved (or stand-ins when kept). */
function resolveJsonLeaves(
	ctx: ProviderContext,
	path: JsonPath,
	object: Record<string, unknown>,
	source: FieldSource,
): Record<string, unknown> {
	const resolved: Record<string, unknown> = {};
	for (const [key, leaf] of Object.entries(object)) {
		const name = envReferenceName(leaf);
		if (name === undefined) {
			resolved[key] = leaf;
			continue;
		}
		source.rawObject = object;
		const result = resolveEnv(ctx, [...path, key], name, false);
		// Any text is a valid value here, so a stand-in lets the names and the other values be checked;
		// a failed reference is already reported, and an unchecked one is n8n's to resolve at run time.
		resolved[key] = result.ok && !result.unchecked ? result.value : 'unchecked';
		if (result.ok && !result.unchecked && result.value) ctx.secrets.push(result.value);
	}
	return resolved;
}

/** Base URL from LiteLLM's model_list: the api_base of the models `<provider>/…`. */
function baseUrlFromModelList(
	ctx: ProviderContext,
	modelList: unknown,
): { value: unknown; source: FieldSource } | undefined {
	if (!Array.isArray(modelList)) return undefined;
	const found: Array<{ path: JsonPath; raw: unknown }> = [];
	modelList.forEach((model, index) => {
		const params = isPlainObject(model) ? model.litellm_params : undefined;
		if (!isPlainObject(params) || typeof params.model !== 'string' || !params.model.startsWith(`${ctx.name}/`)) return;
		for (const key of ['api_base', 'base_url']) {
			if (params[key] !== undefined && params[key] !== null) {
				found.push({ path: ['model_list', index, 'litellm_params', key], raw: params[key] });
				return;
			}
		}
	});
	if (found.length === 0) return undefined;
	const first = found[0];
	const conflicting = found.find((candidate) => candidate.raw !== first.raw);
	if (conflicting) {
		ctx.issues.push(
			issueAt(
				ctx,
				conflicting.path,
				`differs from ${formatJsonPath(first.path)}, and provider "${ctx.name}" becomes one credential with one base URL; set base_url in ${formatJsonPath(ctx.path)}`,
			),
		);
		return { value: undefined, source: { path: first.path, unchecked: true } };
	}
	const source: FieldSource = { path: first.path };
	const envName = envReferenceName(first.raw);
	if (envName === undefined) return { value: first.raw, source };
	const resolved = resolveEnv(ctx, first.path, envName, false);
	if (!resolved.ok) return { value: undefined, source: { ...source, unchecked: true } };
	return { value: resolved.value, source: { ...source, envName, unchecked: resolved.unchecked } };
}

/** Runs the shared schema; reports every field's problems, including the cross-field rule. */
function validate(
	ctx: ProviderContext,
	input: ProviderFieldsInput,
	sources: Map<ProviderField, FieldSource>,
): ProviderConfig | undefined {
	const skip = new Set<ProviderField>([...sources].filter(([, source]) => source.unchecked).map(([field]) => field));
	const withStandIns = (fields: Iterable<ProviderField>): ProviderFieldsInput => {
		const copy: ProviderFieldsInput = { ...input };
		for (const field of fields) copy[field] = STAND_INS[field];
		return copy;
	};

	// The environment of n8n, not of this shell, fills in AKS's defaults (workload-identity.ts).
	const result = safeParseProviderFields(withStandIns(skip), ctx.name, {});
	if (result.ok) return result.config;

	for (const issue of result.issues) {
		// "headers.X-Name": the field, then one key inside it (header names may contain dots).
		const dot = issue.field.indexOf('.');
		const head = dot === -1 ? issue.field : issue.field.slice(0, dot);
		const rest = dot === -1 ? [] : [issue.field.slice(dot + 1)];
		const field = head as ProviderField;
		if (skip.has(field)) continue;
		const source = sources.get(field);
		let path: JsonPath | string;
		if (source === undefined) path = [...ctx.path, Object.hasOwn(PREFERRED_KEY, field) ? PREFERRED_KEY[field] : head];
		else if (typeof source.path === 'string') path = source.path;
		else path = [...source.path, ...rest];
		let message = issue.message;
		if (field === 'baseUrl' && source === undefined) {
			message =
				`no LLM API base URL for provider "${ctx.name}": set base_url (or api_base) here, ` +
				`give a model_list entry with model "${ctx.name}/…" an api_base, or pass --base-url`;
		}
		if (source?.envName) message += ` (value from environment variable ${source.envName})`;
		// Missing keys have no position of their own: point at the provider's entry (not for --base-url).
		const position = typeof path === 'string' ? undefined : (ctx.positionOf(path) ?? ctx.positionOf(ctx.path));
		const text = typeof path === 'string' ? path : formatJsonPath(path);
		ctx.issues.push(position ? { path: text, message, line: position.line, column: position.column } : { path: text, message });
	}
	return undefined;
}


const emptyToUndefinedText = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value : undefined);

const envExpression = (name: string) => `={{ $env.${name} }}`;

/** A JSON field whose object uses `os.environ/NAME` values, as an n8n expression producing the JSON text. */
function jsonExpression(object: Record<string, unknown>): string {
	const members = Object.entries(object).map(([key, value]) => {
		const name = envReferenceName(value);
		return `${JSON.stringify(key)}: ${name !== undefined ? `$env.${name}` : JSON.stringify(value)}`;
	});
	return `={{ JSON.stringify({ ${members.join(', ')} }) }}`;
}

function credentialData(
	config: ProviderConfig,
	input: ProviderFieldsInput,
	sources: Map<ProviderField, FieldSource>,
	keepEnvReferences: boolean,
	envReferences: Set<string>,
): LlmProviderCredentialData {
	const token = config.tokenEndpoint;
	const data: LlmProviderCredentialData = {
		baseUrl: config.baseUrl,
		tokenUrl: token.tokenUrl,
		clientId: token.clientId,
		clientSecret: token.clientSecret,
		scope: token.scope ?? '',
		clientAuthentication: token.clientAuthentication,
		basicAuthEncoding: token.basicAuthEncoding,
		additionalTokenParameters: JSON.stringify(token.additionalTokenParameters),
		refreshToken: token.refreshToken ?? '',
		headers: JSON.stringify(config.headers),
		expiryBufferSeconds: token.expiryBufferSeconds,
	};
	// The API format's fields, written only when they differ from what a credential without them means
	// (an n8n with an older version of this package rejects unknown fields).
	if (config.api.format !== 'chatCompletions') data.apiFormat = config.api.format;
	if (emptyToUndefinedText(input.anthropicVersion) !== undefined) data.anthropicVersion = config.api.anthropicVersion;
	if (config.api.storeResponses) data.storeResponses = true;
	// The Base URL's origin is always allowed; only the further ones are stored.
	const furtherOrigins = config.allowedOrigins.filter((origin) => origin !== new URL(config.baseUrl).origin);
	if (furtherOrigins.length > 0) data.allowedOrigins = furtherOrigins.join(',');
	// The certificate fields, written only when set (an n8n with an older version of this package rejects
	// unknown fields), as given: PEM text, or a boolean / option value.
	const written = data as unknown as Record<string, unknown>;
	for (const field of [...CERTIFICATE_FIELDS, ...IDENTITY_FIELDS]) {
		const value = input[field];
		if (typeof value === 'boolean') {
			if (value) written[field] = true;
		} else if (value === 'true') {
			written[field] = true;
		} else if (typeof value === 'string' && value.trim() !== '' && value !== 'false') {
			written[field] = value;
		}
	}
	if (!keepEnvReferences) return data;
	for (const [field, source] of sources) {
		if (RESOLVED_NOW_FIELDS.has(field)) continue;
		if (source.envName) {
			(data as unknown as Record<string, unknown>)[field] = envExpression(source.envName);
			envReferences.add(source.envName);
		} else if (source.rawObject && JSON_FIELDS.has(field)) {
			(data as unknown as Record<string, unknown>)[field] = jsonExpression(source.rawObject);
			for (const value of Object.values(source.rawObject)) {
				const name = envReferenceName(value);
				if (name !== undefined) envReferences.add(name);
			}
		}
	}
	return data;
}

/**
 * The whole conversion: `jsonText` is the file's content. Pure: reads nothing but its arguments
 * (environment variables come from `env`), writes nothing, and never puts a secret into a message.
 */
export function configToCredentials(
	jsonText: string,
	env: Readonly<Record<string, string | undefined>>,
	options: ConvertOptions = {},
): ConvertResult {
	const keepEnvReferences = options.keepEnvReferences === true;
	const parsed = readJson(jsonText);
	if (!parsed.ok) {
		const { line, column, message } = parsed.error;
		return {
			credentials: [],
			issues: [{ path: '(file)', message: `invalid JSON at line ${line}, column ${column}: ${message}`, line, column }],
			notes: [],
			envReferences: [],
		};
	}

	const issues: ConfigIssue[] = [];
	const notes: string[] = [];
	const secrets: string[] = [];
	const positionOf = (path: JsonPath | string) =>
		typeof path === 'string' ? undefined : parsed.positions.get(formatJsonPath(path));
	const at = (path: JsonPath, message: string) => issues.push(issueAt({ positionOf }, path, message));

	for (const duplicate of parsed.duplicateKeys) {
		if (duplicate.path[0] !== 'oauth2_providers' && duplicate.path[0] !== 'model_list') continue;
		issues.push({
			path: formatJsonPath(duplicate.path),
			message: `appears twice (first at line ${duplicate.firstPosition.line}); JSON keeps only the last one, remove the other`,
			...duplicate.position,
		});
	}

	const root = parsed.value;
	if (!isPlainObject(root)) {
		at([], 'must be a JSON object with "oauth2_providers"');
		return { credentials: [], issues, notes, envReferences: [] };
	}
	const providers = root.oauth2_providers;
	if (!isPlainObject(providers)) {
		if (providers === undefined) issues.push({ path: 'oauth2_providers', message: 'is missing: the file must have an "oauth2_providers" object, one entry per provider' });
		else at(['oauth2_providers'], 'must be an object, one entry per provider: {"my_provider": {"client_id": …}}');
		return { credentials: [], issues, notes, envReferences: [] };
	}
	if (Object.keys(providers).length === 0) at(['oauth2_providers'], 'is empty: there is no provider to import');
	if (root.model_list !== undefined && !Array.isArray(root.model_list)) {
		at(['model_list'], "must be a list of models (LiteLLM's model_list), e.g. [{\"model_name\": …, \"litellm_params\": {…}}]");
	}

	const credentials: N8nCredential[] = [];
	const envReferences = new Set<string>();
	const ids = new Map<string, string>();
	for (const [name, entry] of Object.entries(providers)) {
		const path: JsonPath = ['oauth2_providers', name];
		const ctx: ProviderContext = { name, path, env, keepEnvReferences, issues: [], notes, secrets, positionOf };
		if (name.trim() === '' || name !== name.trim()) {
			ctx.issues.push(issueAt(ctx, path, 'provider names must not be empty or start or end with whitespace: the name becomes the credential name'));
		} else if (name.length > MAX_CREDENTIAL_NAME_LENGTH) {
			ctx.issues.push(issueAt(ctx, path, `provider name is longer than n8n's ${MAX_CREDENTIAL_NAME_LENGTH}-character credential name limit`));
		}
		if (!isPlainObject(entry)) {
			ctx.issues.push(issueAt(ctx, path, 'must be an object with client_id, client_secret and token_url'));
			issues.push(...ctx.issues);
			continue;
		}

		const { input, sources } = readProviderEntry(ctx, entry);
		if (!sources.has('baseUrl')) {
			const fromModels = baseUrlFromModelList(ctx, root.model_list);
			if (fromModels) {
				input.baseUrl = fromModels.value;
				sources.set('baseUrl', fromModels.source);
			} else if (options.defaultBaseUrl !== undefined) {
				input.baseUrl = options.defaultBaseUrl;
				sources.set('baseUrl', { path: '--base-url' });
			}
		}

		const config = validate(ctx, input, sources);
		if (config === undefined && ctx.issues.length === 0) {
			ctx.issues.push(issueAt(ctx, path, 'could not be checked (an internal error of this tool); please report it'));
		}
		issues.push(...ctx.issues);
		if (config === undefined || ctx.issues.length > 0) continue;

		const id = credentialIdFor(name);
		const clash = ids.get(id);
		if (clash !== undefined) {
			// 2^-95 per pair; checked because a silent overwrite would be far worse than a message.
			at(path, `derives the same credential id as provider "${clash}"; rename one of them`);
			continue;
		}
		ids.set(id, name);
		credentials.push({ id, name, type: CREDENTIAL_TYPE, data: credentialData(config, input, sources, keepEnvReferences, envReferences) });
	}

	const scrubbed = issues.map((issue) => ({ ...issue, message: scrubText(issue.message, secrets) }));
	return {
		credentials: scrubbed.length > 0 ? [] : credentials,
		issues: scrubbed,
		notes: notes.map((note) => scrubText(note, secrets)),
		envReferences: scrubbed.length > 0 ? [] : [...envReferences].sort(),
	};
}

// ---------------------------------------------------------------------------------------------
// Showing credentials without their secrets
// ---------------------------------------------------------------------------------------------

/** The same for every secret, whatever its length (a mask must not tell how long the secret is): the package's one mask. */
export const SECRET_MASK = REDACTED;
const SENSITIVE_NAME = /secret|token|password|passwd|auth|api[-_]?key|cookie|assertion|credential|key|signature|sig/i;
const ENV_EXPRESSION = /^=\{\{ \$env\.[A-Za-z_][A-Za-z0-9_]* \}\}$/;
// One `"key": value` member of an expression written by jsonExpression().
const EXPRESSION_MEMBER = /("(?:[^"\\]|\\.)*"): ("(?:[^"\\]|\\.)*"|\$env\.[A-Za-z_][A-Za-z0-9_]*|[^,}\s]+)/g;

/** `shown(name)`: whether a member's value may be printed. `$env` references always are (they hold no value). */
function maskJsonText(text: string, shown: (name: string) => boolean): string {
	if (text.startsWith('={{')) {
		return text.replace(EXPRESSION_MEMBER, (member, key: string, value: string) =>
			shown(JSON.parse(key) as string) || value.startsWith('$env.') ? member : `${key}: ${JSON.stringify(SECRET_MASK)}`,
		);
	}
	try {
		const object = JSON.parse(text) as Record<string, unknown>;
		const masked = Object.fromEntries(Object.entries(object).map(([key, value]) => [key, shown(key) ? value : SECRET_MASK]));
		return JSON.stringify(masked);
	} catch {
		return SECRET_MASK;
	}
}

/** A URL field as --dry-run shows it: query values masked; an `={{ … }}` expression names no value. */
const maskUrlQuery = (text: string) => (text.startsWith('={{') ? text : maskQueryValues(text));

/**
 * A copy safe to print: client secret and refresh token replaced by the mask (or left as a `$env`
 * reference, which names a variable and holds no value); every header value masked but for a short
 * allow-list of public header names; token-parameter values masked when their name looks like a
 * secret's; URL query values masked.
 */
export function maskCredential(credential: N8nCredential): N8nCredential {
	const maskSecret = (value: string) => (value === '' || ENV_EXPRESSION.test(value) ? value : SECRET_MASK);
	return {
		...credential,
		data: {
			...credential.data,
			baseUrl: maskUrlQuery(credential.data.baseUrl),
			tokenUrl: maskUrlQuery(credential.data.tokenUrl),
			clientSecret: maskSecret(credential.data.clientSecret),
			refreshToken: maskSecret(credential.data.refreshToken),
			...(credential.data.privateKey === undefined ? {} : { privateKey: maskSecret(credential.data.privateKey) }),
			...(credential.data.privateKeyPassphrase === undefined ? {} : { privateKeyPassphrase: maskSecret(credential.data.privateKeyPassphrase) }),
			headers: maskJsonText(credential.data.headers, (name) => PUBLIC_HEADER_NAMES.has(name.toLowerCase())),
			additionalTokenParameters: maskJsonText(credential.data.additionalTokenParameters, (name) => !SENSITIVE_NAME.test(name)),
		},
	};
}
