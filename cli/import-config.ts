#!/usr/bin/env node
/**
 * `npx n8n-nodes-oauth2-llm <litellm_config.json>`: every provider of the file's `oauth2_providers`
 * becomes an "OAuth2 LLM Provider" credential, written to a file for `n8n import:credentials` and/or
 * created through n8n's public API. The conversion is cli/litellm-config.ts (pure); this file does the
 * I/O: arguments, reading, the atomic write, the API calls, what is printed, the exit code.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { boundedServerText } from '../nodes/shared/core/scrub';
import { type ConfigIssue, configToCredentials, CREDENTIAL_TYPE, maskCredential, type N8nCredential } from './litellm-config';
import { writeFileAtomically } from './atomic-write';
import { publicApiBase, upsertCredentials } from './n8n-api';
import { defaultReceiptsFile, Receipts } from './receipts';
import { serviceKeyOf, serviceKeyToCredentials, type ServiceKeyOptions } from './sap-service-key';
import { googleServiceAccountToCredentials, type GoogleServiceAccountOptions } from './google-service-account';

export const EXIT = {
	OK: 0,
	INVALID_CONFIG: 1,
	USAGE: 2,
	IO: 3,
	API_FAILED: 4,
} as const;

const COMMAND = 'n8n-nodes-oauth2-llm';
const DEFAULT_OUTPUT = 'n8n-credentials.json';

export const HELP = `Usage: npx ${COMMAND} <litellm_config.json | sap-service-key.json> [options]
       npx ${COMMAND} --google-service-account <key.json> --location <loc> [--project <id>] [options]

Turns every provider under "oauth2_providers" in a LiteLLM-style config file into an n8n
"OAuth2 LLM Provider" credential (type ${CREDENTIAL_TYPE}), named after the provider.

Output (at least one; by default the file):
  -o, --output <file>        Write the credentials for \`n8n import:credentials --input <file>\`
                             (default: ./${DEFAULT_OUTPUT}). Written atomically, mode 0600; it
                             holds the secrets in clear text: import it, then delete it.
      --n8n-url <url>        Create or update the credentials through n8n's public API instead,
                             e.g. http://localhost:5678 (or .../api/v1). Writes no file unless
                             --output is given too.
      --api-key <key>        n8n API key (Settings > n8n API); better: environment variable
                             N8N_API_KEY, which keeps it out of the process list. Scopes:
                             credential:create, credential:update, and credential:list (an
                             owner's or admin's key) to update what an earlier run created.
      --state-file <file>    Where the ids this CLI created through the API are recorded; only
                             those are ever updated (default:
                             $XDG_STATE_HOME/n8n-nodes-oauth2-llm/created-credentials.json,
                             else ~/.local/state/...). Holds no secret.
      --dry-run              Validate and print what would be imported, secrets masked; writes
                             and sends nothing.

Input:
      --base-url <url>       LLM API base URL for providers that have none (see below).
      --keep-env-references  Write "os.environ/NAME" values as the n8n expression ={{ $env.NAME }}
                             instead of the variable's value. n8n then reads NAME from its own
                             environment whenever the credential is used, which n8n 2.x allows
                             only with N8N_BLOCK_ENV_ACCESS_IN_NODE=false. client_authentication,
                             basic_auth_encoding and expiry_buffer_seconds are always resolved now.
  -h, --help                 Show this help.

SAP AI Core service key (the JSON of a service key, bare or as {"credentials": {…}}):
      --deployment <id>      The AI Core deployment to call (required); the Base URL becomes
                             {AI_API_URL}/v2/inference/deployments/<id>.
      --resource-group <rg>  AI-Resource-Group header (default: default).
      --api-version <v>      Adds ?api-version=<v> (Azure OpenAI models behind AI Core).
      --name <name>          Credential name (default: SAP AI Core <identityzone>).
  An x509 key (certificate + key) becomes a TLS Client Certificate credential on its certurl; a
  secret key becomes HTTP Basic (raw) on its url. The token URL is {certurl or url}/oauth/token.

Google service account key, for Vertex AI (a JWT Bearer credential, no client secret):
      --google-service-account <key.json>
                             The key JSON (type service_account). Its private_key signs the
                             assertion; client_email is its issuer; scope cloud-platform.
      --project <id>         The Google Cloud project (default: the key's project_id).
      --location <loc>       The Vertex AI location (us-central1, europe-west4, global…); the
                             Base URL is Vertex AI's OpenAI-compatible endpoint there.
      --name <name>          Credential name (default: Vertex AI <project> <location>).
      --allow-token-uri      Accept a token_uri that is not https on googleapis.com.

Provider keys (snake_case): client_id, client_secret, token_url (required); scope, refresh_token
(a refresh-token provider may go without client_secret), base_url or api_base,
client_authentication ("body" | "header" | "privateKeyJwt" | "clientSecretJwt" | "tlsClientAuth",
or client_secret_post | client_secret_basic | private_key_jwt | client_secret_jwt |
tls_client_auth), basic_auth_encoding ("formEncoded" | "raw"), additional_token_parameters (or
extra_token_params), headers, allowed_origins, expiry_buffer_seconds, private_key,
private_key_passphrase, certificate, ca_certificate (PEM; literal \\n accepted), jwt_algorithm,
jwt_key_id, jwt_audience, jwt_certificate_chain, use_client_certificate_for_api. Any other key is an
error. A value "os.environ/NAME" is read from environment variable NAME now (an unset variable is
an error).

The LLM API base URL of a provider comes from, in this order: its base_url / api_base; the api_base
of the model_list entries whose litellm_params.model is "<provider>/..."; --base-url.

Each credential's id is derived from the provider name, so importing again updates the same
credential instead of adding a copy. Through the public API, only a credential this CLI created
there (see --state-file) is updated: one with that id made by anyone else is reported as a
conflict and left as it is.

Exit codes:
  0  done (with --dry-run: the file is valid)
  1  the config file has problems (all are listed, with their JSON path); nothing written or sent
  2  wrong command-line usage
  3  the config file cannot be read, or the output file cannot be written
  4  n8n's API failed for at least one provider (the others were still created or updated)
  70 an unexpected internal error

Example:
  MY_CLIENT_SECRET=... npx ${COMMAND} litellm_config.json -o creds.json --base-url https://llm.example.com/v1
  n8n import:credentials --input creds.json && rm creds.json
`;

interface Io {
	env: Readonly<Record<string, string | undefined>>;
	stdout: (text: string) => void;
	stderr: (text: string) => void;
}

class UsageError extends Error {}

interface Args {
	configPath: string;
	output?: string;
	baseUrl?: string;
	keepEnvReferences: boolean;
	dryRun: boolean;
	n8nUrl?: string;
	apiKey?: string;
	/** Where the ids this CLI created through the public API are recorded (receipts.ts). */
	stateFile: string;
	serviceKey: ServiceKeyOptions;
	/** Set with --google-service-account: configPath is then the key file. */
	google?: GoogleServiceAccountOptions;
}

function parse(argv: string[], env: Io['env']): Args | 'help' {
	let parsed;
	try {
		parsed = parseArgs({
			args: argv,
			allowPositionals: true,
			strict: true,
			options: {
				output: { type: 'string', short: 'o' },
				'base-url': { type: 'string' },
				'keep-env-references': { type: 'boolean' },
				'dry-run': { type: 'boolean' },
				'n8n-url': { type: 'string' },
				'api-key': { type: 'string' },
				'state-file': { type: 'string' },
				deployment: { type: 'string' },
				'resource-group': { type: 'string' },
				'api-version': { type: 'string' },
				name: { type: 'string' },
				'google-service-account': { type: 'string' },
				project: { type: 'string' },
				location: { type: 'string' },
				'allow-token-uri': { type: 'boolean' },
				help: { type: 'boolean', short: 'h' },
			},
		});
	} catch (error) {
		throw new UsageError((error as Error).message);
	}
	const { values, positionals } = parsed;
	if (values.help) return 'help';
	const googleKey = values['google-service-account'];
	if (googleKey !== undefined) {
		if (positionals.length > 0) throw new UsageError(`--google-service-account takes the key file; no other file at once (got ${positionals.join(', ')})`);
		for (const option of ['deployment', 'resource-group', 'api-version', 'base-url', 'keep-env-references'] as const) {
			if (values[option] !== undefined) throw new UsageError(`--${option} is not used with --google-service-account`);
		}
		positionals.push(googleKey);
	} else {
		for (const option of ['project', 'location', 'allow-token-uri'] as const) {
			if (values[option] !== undefined) throw new UsageError(`--${option} is only used with --google-service-account`);
		}
	}
	if (positionals.length === 0) throw new UsageError('no config file given');
	if (positionals.length > 1) throw new UsageError(`one config file at a time (got ${positionals.length}: ${positionals.join(', ')})`);
	const n8nUrl = values['n8n-url'];
	const apiKey = values['api-key'] ?? env.N8N_API_KEY;
	if (n8nUrl !== undefined) {
		try {
			publicApiBase(n8nUrl);
		} catch (error) {
			throw new UsageError(`--n8n-url: ${(error as Error).message}`);
		}
		if (!apiKey && !values['dry-run']) throw new UsageError('--n8n-url needs an API key: --api-key <key> or environment variable N8N_API_KEY');
	} else if (values['api-key'] !== undefined) {
		throw new UsageError('--api-key is only used with --n8n-url');
	} else if (values['state-file'] !== undefined) {
		throw new UsageError('--state-file is only used with --n8n-url');
	}
	const output = values.output ?? (n8nUrl === undefined ? DEFAULT_OUTPUT : undefined);
	const configPath = positionals[0];
	if (output !== undefined && path.resolve(output) === path.resolve(configPath)) {
		throw new UsageError('--output is the config file itself; choose another file');
	}
	return {
		configPath,
		output,
		baseUrl: values['base-url'],
		keepEnvReferences: values['keep-env-references'] === true,
		dryRun: values['dry-run'] === true,
		n8nUrl,
		apiKey,
		stateFile: path.resolve(values['state-file'] ?? defaultReceiptsFile(env as NodeJS.ProcessEnv)),
		serviceKey: { deployment: values.deployment, resourceGroup: values['resource-group'], apiVersion: values['api-version'], name: values.name },
		...(googleKey !== undefined
			? { google: { project: values.project, location: values.location, name: values.name, allowTokenUri: values['allow-token-uri'] === true } }
			: {}),
	};
}

/** A service key, or a litellm_config.json; options that belong to the other kind are reported, not ignored. */
function convert(text: string, args: Args, env: Io['env']) {
	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch {
		parsed = undefined; // configToCredentials reports where
	}
	if (args.google) {
		// Never JSON.parse's message: it quotes the text around the error, which is the private key.
		if (parsed === undefined) return { credentials: [], issues: [{ path: '(file)', message: 'is not valid JSON; give the service account key file as Google wrote it' }], notes: [], envReferences: [] };
		return googleServiceAccountToCredentials(parsed, args.google);
	}
	const serviceKey = serviceKeyOf(parsed);
	if (serviceKey) return serviceKeyToCredentials(serviceKey, args.serviceKey);
	const result = configToCredentials(text, env, { defaultBaseUrl: args.baseUrl, keepEnvReferences: args.keepEnvReferences });
	const stray = Object.entries({ '--deployment': args.serviceKey.deployment, '--resource-group': args.serviceKey.resourceGroup, '--api-version': args.serviceKey.apiVersion, '--name': args.serviceKey.name })
		.filter(([, value]) => value !== undefined)
		.map(([option]) => ({ path: option, message: 'is only for an SAP AI Core service key; this file is a litellm_config.json' }));
	return stray.length > 0 ? { ...result, credentials: [], issues: [...result.issues, ...stray] } : result;
}

function formatIssue(issue: ConfigIssue): string {
	if (issue.path === '(file)') return `  ${issue.message}`;
	const where = issue.line !== undefined ? ` (line ${issue.line}, column ${issue.column})` : '';
	return `  ${issue.path}${where}: ${issue.message}`;
}

const ENV_EXPRESSION = /^=\{\{ \$env\.[A-Za-z_][A-Za-z0-9_]* \}\}$/;
const holdsSecretsInClear = (credentials: N8nCredential[]) =>
	credentials.some(({ data }) =>
		[data.clientSecret, data.refreshToken, data.privateKey, data.privateKeyPassphrase].some((value) => !!value && !ENV_EXPRESSION.test(value)),
	);

function isLoopback(url: URL): boolean {
	return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.');
}

export async function main(argv: string[], io: Io): Promise<number> {
	let args: Args | 'help';
	try {
		args = parse(argv, io.env);
	} catch (error) {
		if (!(error instanceof UsageError)) throw error;
		io.stderr(`${COMMAND}: ${error.message}\nRun "${COMMAND} --help" for usage.\n`);
		return EXIT.USAGE;
	}
	if (args === 'help') {
		io.stdout(HELP);
		return EXIT.OK;
	}

	let text: string;
	try {
		text = await fs.readFile(args.configPath, 'utf8');
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		io.stderr(`${COMMAND}: cannot read ${args.configPath}: ${code === 'ENOENT' ? 'no such file' : ((error as Error).message ?? code)}\n`);
		return EXIT.IO;
	}

	const result = convert(text, args, io.env);
	for (const note of result.notes) io.stderr(`note: ${note}\n`);
	if (result.issues.length > 0) {
		const count = result.issues.length;
		io.stderr(`${args.configPath}: ${count} problem${count === 1 ? '' : 's'}; nothing was written${args.n8nUrl ? ' or sent' : ''}:\n`);
		io.stderr(`${result.issues.map(formatIssue).join('\n')}\n`);
		return EXIT.INVALID_CONFIG;
	}
	const { credentials, envReferences } = result;
	const envNote =
		envReferences.length > 0
			? `note: the credentials read ${envReferences.join(', ')} with $env when used: n8n must run with ` +
				`N8N_BLOCK_ENV_ACCESS_IN_NODE=false (n8n 2.x blocks $env by default) and have ${envReferences.length === 1 ? 'it' : 'them'} set.\n`
			: '';

	if (args.dryRun) {
		const targets = [
			args.output !== undefined ? `write ${args.output}` : undefined,
			args.n8nUrl !== undefined ? `create or update through ${publicApiBase(args.n8nUrl).href}` : undefined,
		].filter(Boolean);
		io.stderr(`Dry run: would ${targets.join(' and ')} with ${credentials.length} credential${credentials.length === 1 ? '' : 's'} (secrets masked); nothing written or sent.\n`);
		io.stderr(envNote);
		io.stdout(`${JSON.stringify(credentials.map(maskCredential), null, 2)}\n`);
		return EXIT.OK;
	}

	if (args.output !== undefined) {
		try {
			await writeFileAtomically(args.output, `${JSON.stringify(credentials, null, 2)}\n`);
		} catch (error) {
			io.stderr(`${COMMAND}: cannot write ${args.output}: ${(error as Error).message}\n`);
			return EXIT.IO;
		}
		io.stdout(`Wrote ${credentials.length} credential${credentials.length === 1 ? '' : 's'} to ${args.output}:\n`);
		const width = Math.max(...credentials.map(({ name }) => name.length));
		for (const { name, id } of credentials) io.stdout(`  ${name.padEnd(width)}  (id ${id})\n`);
		io.stdout(`Import them with: n8n import:credentials --input ${args.output}\n`);
		if (holdsSecretsInClear(credentials)) io.stderr(`note: ${args.output} holds secrets (client secrets or private keys) in clear text; delete it once imported.\n`);
	}
	io.stderr(envNote);
	if (args.n8nUrl === undefined) return EXIT.OK;

	const base = publicApiBase(args.n8nUrl);
	if (base.protocol === 'http:' && !isLoopback(base)) {
		io.stderr(`note: ${base.host} is reached over plain HTTP; the secrets (client secrets, private keys) travel unencrypted.\n`);
	}
	let receipts: Receipts;
	try {
		receipts = await Receipts.open(args.stateFile);
	} catch (error) {
		io.stderr(`${COMMAND}: cannot read ${args.stateFile}: ${(error as Error).message}; nothing was sent\n`);
		return EXIT.IO;
	}
	const outcomes = await upsertCredentials(credentials, { n8nUrl: args.n8nUrl, apiKey: args.apiKey ?? '', receipts });
	try {
		await receipts.save();
	} catch (error) {
		io.stderr(`${COMMAND}: cannot write ${args.stateFile}: ${(error as Error).message}; the credentials created now cannot be updated by a later run\n`);
	}
	io.stdout(`n8n public API at ${base.href}:\n`);
	const width = Math.max(...outcomes.map(({ name }) => name.length));
	for (const outcome of outcomes) {
		io.stdout(`  ${outcome.status.padEnd(7)}  ${outcome.name.padEnd(width)}  (id ${outcome.id})${outcome.detail ? `: ${outcome.detail}` : ''}\n`);
	}
	const failed = outcomes.filter((outcome) => outcome.status === 'failed').length;
	const count = (status: string) => outcomes.filter((outcome) => outcome.status === status).length;
	io.stdout(`${count('created')} created, ${count('updated')} updated, ${failed} failed.\n`);
	return failed > 0 ? EXIT.API_FAILED : EXIT.OK;
}

if (require.main === module) {
	main(process.argv.slice(2), {
		env: process.env,
		stdout: (text) => process.stdout.write(text),
		stderr: (text) => process.stderr.write(text),
	}).then(
		(code) => {
			process.exitCode = code;
		},
		(error: unknown) => {
			// Unexpected: say what, not the stack's data (which could hold a value).
			process.stderr.write(`${COMMAND}: unexpected error: ${boundedServerText((error as Error)?.message ?? String(error), [process.env.N8N_API_KEY])}\n`);
			process.exitCode = 70;
		},
	);
}
