/**
 * Runs this package's nodes inside n8n-core's real execution engine, in-process, without a server,
 * a database or n8n-nodes-base.
 *
 * What is real: n8n-workflow's `Workflow` (parameter defaults, expressions with the default "legacy"
 * engine), n8n-core's `WorkflowExecute` (manual mode, v1 execution order, pairedItem handling,
 * onError/continueOnFail, error wrapping), its `ExecuteContext` (`getNodeParameter`, `getCredentials`,
 * `continueOnFail`, `getExecutionCancelSignal`, `helpers.httpRequestWithAuthentication` through
 * @n8n/backend-network's OutboundHttp), `ExecutionLifecycleHooks`, `InstanceSettings` (in a temporary
 * user folder), `ErrorReporter` and `LoggerProxy`.
 *
 * What is the harness's own: the node/credential type registries, a credentials helper that returns
 * the given credential data by id (nothing is encrypted or decrypted; n8n's defaults for missing
 * credential fields are applied like n8n's CredentialsHelper does) and calls the credential type's
 * `authenticate`, a logger that collects every line n8n logs, and a few test-only nodes.
 *
 * Logs: n8n-core reaches its logger through the DI container (`this.logger` in a node, the
 * ErrorReporter) and through n8n-workflow's `LoggerProxy`. Both are process-wide, so one collecting
 * logger is installed for the process and each line goes to the run it belongs to through an
 * AsyncLocalStorage (concurrent runs keep their own `logs`); every line also lands in `allLogs()`.
 * Set HARNESS_ECHO_LOGS=1 to also print them to stderr.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { Logger } from '@n8n/backend-common';
import type { InstanceSettingsConfig } from '@n8n/config';
import { Container } from '@n8n/di';
import { Credentials, ExecutionLifecycleHooks, ExternalSecretsProxy, InstanceSettings, WorkflowExecute } from 'n8n-core';
import {
	ApplicationError,
	ICredentialsHelper,
	LoggerProxy,
	NodeConnectionTypes,
	NodeHelpers,
	Workflow,
	deepCopy,
	type ExecutionError,
	type ICredentialDataDecryptedObject,
	type ICredentialType,
	type ICredentialTypes,
	type ICredentials,
	type IConnections,
	type IDataObject,
	type IExecuteFunctions,
	type IHttpRequestHelper,
	type IHttpRequestOptions,
	type INode,
	type INodeCredentialsDetails,
	type INodeExecutionData,
	type INodeParameters,
	type INodeProperties,
	type INodeType,
	type INodeTypes,
	type IRequestOptionsSimplified,
	type IRun,
	type IRunData,
	type IVersionedNodeType,
	type IWorkflowBase,
	type IWorkflowExecuteAdditionalData,
	type LogMetadata,
	type WorkflowExecuteMode,
} from 'n8n-workflow';

import { LlmProviderOAuth2Api } from '../../credentials/LlmProviderOAuth2Api.credentials';
import { OAuth2LlmChat } from '../../nodes/OAuth2LlmChat/OAuth2LlmChat.node.js';

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

type LogLevel = 'error' | 'warn' | 'info' | 'debug';

interface LogSink {
	logs: string[];
}

const logContext = new AsyncLocalStorage<LogSink>();
const processLogs: string[] = [];

/** Every line logged in this process through the harness's logger (all runs, and outside runs). */
export function allLogs(): readonly string[] {
	return processLogs;
}

/** JSON of anything, Errors included with all their fields (message, stack, cause, description…). */
function serialize(value: unknown): string {
	const seen = new WeakSet<object>();
	try {
		return JSON.stringify(value, function replacer(_key, current: unknown) {
			if (typeof current === 'bigint') return current.toString();
			if (typeof current === 'function') return undefined;
			if (current === null || typeof current !== 'object') return current;
			if (seen.has(current)) return '[Circular]';
			seen.add(current);
			if (current instanceof Error) {
				const plain: Record<string, unknown> = { name: current.name, message: current.message, stack: current.stack };
				for (const key of Object.getOwnPropertyNames(current)) plain[key] = (current as unknown as Record<string, unknown>)[key];
				if (current.cause !== undefined) plain.cause = current.cause;
				return plain;
			}
			return current;
		});
	} catch (error) {
		return `[unserializable: ${(error as Error).message}]`;
	}
}

function record(level: LogLevel, message: unknown, metadata?: unknown): void {
	const text = typeof message === 'string' ? message : serialize(message);
	const line = `[${level}] ${text}${metadata === undefined ? '' : ` ${serialize(metadata)}`}`;
	processLogs.push(line);
	logContext.getStore()?.logs.push(line);
	if (process.env.HARNESS_ECHO_LOGS) process.stderr.write(`[n8n ${level}] ${line}\n`);
}

/**
 * Stands in for @n8n/backend-common's Logger (registered in the DI container under that class) and
 * for LoggerProxy's target.
 */
class CollectingLogger {
	error(message: string, metadata?: LogMetadata): void {
		record('error', message, metadata);
	}

	warn(message: string, metadata?: LogMetadata): void {
		record('warn', message, metadata);
	}

	info(message: string, metadata?: LogMetadata): void {
		record('info', message, metadata);
	}

	debug(message: string, metadata?: LogMetadata): void {
		record('debug', message, metadata);
	}

	scoped(): this {
		return this;
	}
}

// ---------------------------------------------------------------------------------------------
// Process-wide n8n-core setup (once)
// ---------------------------------------------------------------------------------------------

let environmentReady = false;
let userFolder: string | undefined;

/**
 * What n8n's CLI would set up at start, reduced to what executing nodes needs:
 * - Logger in the DI container (NodeExecutionContext.logger and ErrorReporter get it from there);
 * - LoggerProxy (n8n-workflow and n8n-core log through it);
 * - InstanceSettings (every NodeExecutionContext's constructor gets it from the container; the real
 *   class writes `<n8nFolder>/config` with an encryption key, so it gets a temporary folder here).
 * Everything else (ErrorReporter, OutboundHttp, Cipher, ExecutionContextService…) the container builds
 * on first use from these.
 */
export function ensureN8nEnvironment(): void {
	if (environmentReady) return;
	const logger = new CollectingLogger();
	Container.set(Logger, logger as unknown as Logger);
	LoggerProxy.init(logger);

	userFolder = mkdtempSync(path.join(tmpdir(), 'n8n-harness-'));
	const settingsConfig = {
		n8nFolder: userFolder,
		userHome: userFolder,
		encryptionKey: 'harness-encryption-key-not-a-secret',
		enforceSettingsFilePermissions: false,
	} as InstanceSettingsConfig;
	Container.set(InstanceSettings, new InstanceSettings(settingsConfig, logger as unknown as Logger));
	process.once('exit', () => {
		if (userFolder) rmSync(userFolder, { recursive: true, force: true });
	});
	environmentReady = true;
}

// ---------------------------------------------------------------------------------------------
// Test-only nodes
// ---------------------------------------------------------------------------------------------

export const SOURCE_NODE_TYPE = 'harnessSource';
export const PASSTHROUGH_NODE_TYPE = 'harnessPassthrough';
export const CHAT_NODE_TYPE = 'oAuth2LlmChat';
/** The name n8n gives the node when it loads this package as a community package. */
export const CHAT_NODE_PACKAGE_TYPE = 'n8n-nodes-oauth2-llm.oAuth2LlmChat';

/** Emits the items of its `items` parameter (a JSON array of objects, or a string holding one). */
export class HarnessSource implements INodeType {
	description: INodeType['description'] = {
		displayName: 'Harness Source',
		name: SOURCE_NODE_TYPE,
		group: ['input'],
		version: 1,
		description: 'Test only: emits the items given as JSON',
		defaults: { name: 'Source' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		properties: [{ displayName: 'Items', name: 'items', type: 'json', default: '[]' }],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const raw = this.getNodeParameter('items', 0) as unknown;
		const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as unknown;
		if (!Array.isArray(parsed)) throw new ApplicationError('Harness Source: "items" must be a JSON array');
		return [parsed.map((json) => ({ json: json as IDataObject, pairedItem: { item: 0 } }))];
	}
}

/** Passes its input through unchanged (like n8n's No Operation node). */
export class HarnessPassthrough implements INodeType {
	description: INodeType['description'] = {
		displayName: 'Harness Passthrough',
		name: PASSTHROUGH_NODE_TYPE,
		group: ['transform'],
		version: 1,
		description: 'Test only: passes items through',
		defaults: { name: 'Passthrough' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		properties: [],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return [this.getInputData()];
	}
}

// ---------------------------------------------------------------------------------------------
// Node and credential type registries
// ---------------------------------------------------------------------------------------------

export class HarnessNodeTypes implements INodeTypes {
	private readonly types = new Map<string, INodeType | IVersionedNodeType>();

	constructor(types: Record<string, INodeType | IVersionedNodeType>) {
		for (const [name, type] of Object.entries(types)) this.types.set(name, type);
	}

	getByName(nodeType: string): INodeType | IVersionedNodeType {
		const type = this.types.get(nodeType);
		if (!type) throw new ApplicationError(`Unknown node type "${nodeType}" (not registered in the harness)`);
		return type;
	}

	getByNameAndVersion(nodeType: string, version?: number): INodeType {
		return NodeHelpers.getVersionedNodeType(this.getByName(nodeType), version);
	}

	getKnownTypes(): IDataObject {
		return Object.fromEntries([...this.types.keys()].map((name) => [name, { className: name, sourcePath: '' }]));
	}
}

/**
 * This package's chat node (as `oAuth2LlmChat` and as n8n names it in a community install), the
 * test-only source and passthrough nodes, plus `extra` (which wins on a name clash).
 */
export function nodeTypesFor(extra: Record<string, INodeType | IVersionedNodeType> = {}): HarnessNodeTypes {
	const chat = new OAuth2LlmChat();
	return new HarnessNodeTypes({
		[CHAT_NODE_TYPE]: chat,
		[CHAT_NODE_PACKAGE_TYPE]: chat,
		[SOURCE_NODE_TYPE]: new HarnessSource(),
		[PASSTHROUGH_NODE_TYPE]: new HarnessPassthrough(),
		...extra,
	});
}

export class HarnessCredentialTypes implements ICredentialTypes {
	private readonly types = new Map<string, ICredentialType>();

	constructor(types: ICredentialType[]) {
		for (const type of types) this.types.set(type.name, type);
	}

	recognizes(credentialType: string): boolean {
		return this.types.has(credentialType);
	}

	getByName(credentialType: string): ICredentialType {
		const type = this.types.get(credentialType);
		if (!type) throw new ApplicationError(`Unknown credential type "${credentialType}" (not registered in the harness)`);
		return type;
	}

	getSupportedNodes(type: string): string[] {
		return this.types.get(type)?.supportedNodes ?? [];
	}

	/** Every ancestor through `extends`, nearest first. */
	getParentTypes(typeName: string): string[] {
		const parents: string[] = [];
		const queue = [...(this.types.get(typeName)?.extends ?? [])];
		while (queue.length > 0) {
			const parent = queue.shift()!;
			if (parents.includes(parent)) continue;
			parents.push(parent);
			queue.push(...(this.types.get(parent)?.extends ?? []));
		}
		return parents;
	}
}

/** This package's credential type plus `extra` (which wins on a name clash). */
export function credentialTypesFor(extra: ICredentialType[] = []): HarnessCredentialTypes {
	return new HarnessCredentialTypes([new LlmProviderOAuth2Api(), ...extra]);
}

// ---------------------------------------------------------------------------------------------
// Credentials helper
// ---------------------------------------------------------------------------------------------

export interface HarnessCredential {
	type: string;
	name: string;
	data: ICredentialDataDecryptedObject;
}

/** Resolves `={{ $credentials.field }}`-style templates of a generic `authenticate` (the common forms only). */
function resolveCredentialTemplate(template: unknown, credentials: ICredentialDataDecryptedObject): unknown {
	if (typeof template !== 'string' || !template.startsWith('=')) return template;
	const body = template.slice(1);
	const whole = /^\{\{\s*\$credentials\.([A-Za-z0-9_]+)\s*\}\}$/.exec(body);
	if (whole) return credentials[whole[1]];
	return body.replace(/\{\{\s*\$credentials\.([A-Za-z0-9_]+)\s*\}\}/g, (_match, key: string) =>
		String(credentials[key] ?? ''),
	);
}

/**
 * n8n's ICredentialsHelper for tests: credentials come from memory by id; `authenticate` runs the
 * credential type's own function (or a generic header/qs/body/auth description).
 */
export class HarnessCredentialsHelper extends ICredentialsHelper {
	private readonly store = new Map<string, HarnessCredential>();

	constructor(
		private readonly credentialTypes: HarnessCredentialTypes,
		credentials: Record<string, HarnessCredential> = {},
	) {
		super();
		for (const [id, credential] of Object.entries(credentials)) this.store.set(id, deepCopy(credential));
	}

	/** The credential as the helper holds it now (after any update a node or preAuthentication made). */
	stored(id: string): HarnessCredential | undefined {
		return this.store.get(id);
	}

	private lookup(nodeCredentials: INodeCredentialsDetails, type: string): HarnessCredential {
		const id = nodeCredentials.id;
		const credential = id === null ? undefined : this.store.get(id);
		if (!credential || credential.type !== type) {
			// n8n's own message for this case (CredentialNotFoundError).
			throw new ApplicationError(`Credential with ID "${id}" does not exist for type "${type}".`);
		}
		return credential;
	}

	getParentTypes(name: string): string[] {
		return this.credentialTypes.getParentTypes(name);
	}

	isCredentialUsableByNode(credentialType: string, nodeType: string): boolean {
		if (!this.credentialTypes.recognizes(credentialType)) return true;
		const type = this.credentialTypes.getByName(credentialType);
		if (!(type as ICredentialType & { restrictToSupportedNodes?: boolean }).restrictToSupportedNodes) return true;
		return this.credentialTypes.getSupportedNodes(credentialType).includes(nodeType);
	}

	async authenticate(
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
		requestOptions: IHttpRequestOptions | IRequestOptionsSimplified,
	): Promise<IHttpRequestOptions> {
		const options = requestOptions as IHttpRequestOptions;
		for (const name of [typeName, ...this.getParentTypes(typeName)]) {
			if (!this.credentialTypes.recognizes(name)) continue;
			const { authenticate } = this.credentialTypes.getByName(name);
			if (authenticate === undefined) continue;
			if (typeof authenticate === 'function') return await authenticate(credentials, options);
			if (authenticate.type === 'generic') {
				const { headers, qs, body, auth } = authenticate.properties;
				if (headers) {
					options.headers ??= {};
					for (const [key, value] of Object.entries(headers)) {
						options.headers[key] = resolveCredentialTemplate(value, credentials) as string;
					}
				}
				if (qs) {
					options.qs ??= {};
					for (const [key, value] of Object.entries(qs)) options.qs[key] = resolveCredentialTemplate(value, credentials) as string;
				}
				if (body) {
					const target = (typeof options.body === 'object' && options.body !== null ? options.body : {}) as IDataObject;
					for (const [key, value] of Object.entries(body)) target[key] = resolveCredentialTemplate(value, credentials) as string;
					options.body = target;
				}
				if (auth) {
					options.auth = {
						username: String(resolveCredentialTemplate(auth.username, credentials) ?? ''),
						password: String(resolveCredentialTemplate(auth.password, credentials) ?? ''),
					};
				}
			}
			return options;
		}
		return options;
	}

	async preAuthentication(
		helpers: IHttpRequestHelper,
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
		node: INode,
		credentialsExpired: boolean,
	): Promise<ICredentialDataDecryptedObject | undefined> {
		if (!this.credentialTypes.recognizes(typeName)) return undefined;
		const type = this.credentialTypes.getByName(typeName);
		if (typeof type.preAuthentication !== 'function') return undefined;
		const expirable = type.properties.find((property) => property.typeOptions?.expirable === true);
		if (!expirable) return undefined;
		if (!credentialsExpired && credentials[expirable.name] !== '' && credentials[expirable.name] !== undefined) {
			return undefined;
		}
		const output = (await type.preAuthentication.call(helpers, credentials)) as ICredentialDataDecryptedObject;
		// n8n saves what preAuthentication returned into the credential.
		const id = node.credentials?.[typeName]?.id;
		const stored = id ? this.store.get(id) : undefined;
		if (stored && stored.type === typeName) stored.data = { ...stored.data, ...deepCopy(output) };
		return output;
	}

	async runPreAuthentication(
		helpers: IHttpRequestHelper,
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
	): Promise<ICredentialDataDecryptedObject | undefined> {
		const type = this.credentialTypes.getByName(typeName);
		if (typeof type.preAuthentication !== 'function') return undefined;
		return (await type.preAuthentication.call(helpers, credentials)) as ICredentialDataDecryptedObject;
	}

	async getCredentials(nodeCredentials: INodeCredentialsDetails, type: string): Promise<ICredentials> {
		const credential = this.lookup(nodeCredentials, type);
		const credentials = new Credentials({ id: nodeCredentials.id, name: credential.name }, type);
		await credentials.setData(deepCopy(credential.data));
		return credentials;
	}

	/**
	 * The stored data with the credential type's defaults filled in (as n8n's CredentialsHelper does:
	 * fields the type does not declare are dropped, hidden ones too). A fresh copy per call.
	 */
	async getDecrypted(
		_additionalData: IWorkflowExecuteAdditionalData,
		nodeCredentials: INodeCredentialsDetails,
		type: string,
		_mode: WorkflowExecuteMode,
		_executeData?: unknown,
		raw?: boolean,
	): Promise<ICredentialDataDecryptedObject> {
		const credential = this.lookup(nodeCredentials, type);
		const data = deepCopy(credential.data);
		if (raw || !this.credentialTypes.recognizes(type)) return data;
		const withDefaults = NodeHelpers.getNodeParameters(
			this.getCredentialsProperties(type),
			data as INodeParameters,
			true,
			false,
			null,
			null,
		) as ICredentialDataDecryptedObject | null;
		const result = withDefaults ?? {};
		if (data.oauthTokenData !== undefined) result.oauthTokenData = data.oauthTokenData;
		return result;
	}

	async updateCredentials(
		nodeCredentials: INodeCredentialsDetails,
		type: string,
		data: ICredentialDataDecryptedObject,
	): Promise<void> {
		const credential = this.lookup(nodeCredentials, type);
		credential.data = deepCopy(data);
	}

	async updateCredentialsOauthTokenData(
		nodeCredentials: INodeCredentialsDetails,
		type: string,
		data: ICredentialDataDecryptedObject,
	): Promise<void> {
		const credential = this.lookup(nodeCredentials, type);
		credential.data = { ...credential.data, oauthTokenData: deepCopy(data.oauthTokenData) };
	}

	/** The type's properties after its parents' (a child's property replaces a parent's of the same name). */
	getCredentialsProperties(type: string): INodeProperties[] {
		const chain = [type, ...this.getParentTypes(type)].reverse();
		const byName = new Map<string, INodeProperties>();
		for (const name of chain) {
			if (!this.credentialTypes.recognizes(name)) continue;
			for (const property of this.credentialTypes.getByName(name).properties) byName.set(property.name, property);
		}
		return [...byName.values()];
	}
}

// ---------------------------------------------------------------------------------------------
// Running a workflow
// ---------------------------------------------------------------------------------------------

export interface RunWorkflowOptions {
	nodes: INode[];
	connections: IConnections;
	/** By credential id, as the nodes' `credentials: { <type>: { id, name } }` point at them. */
	credentials?: Record<string, HarnessCredential>;
	/** Extra node types by type name (added to nodeTypesFor()'s). */
	nodeTypes?: Record<string, INodeType | IVersionedNodeType>;
	/** Extra credential types (added to credentialTypesFor()'s). */
	credentialTypes?: ICredentialType[];
	/** Default: the only node without a parent on the main input (or n8n's own choice if several). */
	startNodeName?: string;
	/** Aborts the execution (as the Stop button would): nodes see it in getExecutionCancelSignal(). */
	signal?: AbortSignal;
}

export interface RunWorkflowResult {
	runData: IRunData;
	error?: ExecutionError;
	lastNodeExecuted?: string;
	/** What n8n logged during this run (level, message and metadata as JSON). */
	logs: string[];
	status: IRun['status'];
	/** Nodes in the order they finished. */
	nodeExecutionOrder: string[];
	/** The whole IRun WorkflowExecute returned. */
	run: IRun;
}

let executionCounter = 0;

function pickStartNode(workflow: Workflow, startNodeName?: string): INode {
	if (startNodeName !== undefined) {
		const node = workflow.getNode(startNodeName);
		if (!node) throw new ApplicationError(`Start node "${startNodeName}" is not in the workflow`);
		return node;
	}
	const roots = Object.values(workflow.nodes).filter(
		(node) => !node.disabled && workflow.getParentNodes(node.name, NodeConnectionTypes.Main, 1).length === 0,
	);
	if (roots.length === 1) return roots[0];
	const fromN8n = workflow.getStartNode();
	if (fromN8n) return fromN8n;
	if (roots.length > 0) return roots[0];
	throw new ApplicationError('No node to start the workflow from could be found');
}

function createAdditionalData(
	credentialsHelper: ICredentialsHelper,
	hooks: ExecutionLifecycleHooks,
	executionId: string,
	workflowId: string,
): IWorkflowExecuteAdditionalData {
	const unsupported = (what: string) => () => {
		throw new ApplicationError(`${what} is not available in the workflow-execute test harness`);
	};
	const baseUrl = 'http://localhost:5678';
	return {
		credentialsHelper,
		hooks,
		executionId,
		workflowId,
		externalSecretsProxy: new ExternalSecretsProxy(),
		executeWorkflow: unsupported('Executing sub-workflows'),
		getRunExecutionData: async () => undefined,
		getRuntimeCredential: async () => undefined,
		startRunnerTask: unsupported('The task runner (Code node)'),
		logAiEvent: () => undefined,
		currentNodeExecutionIndex: 0,
		currentNodeParameters: undefined,
		variables: {},
		restApiUrl: `${baseUrl}/rest`,
		instanceBaseUrl: baseUrl,
		formBaseUrl: `${baseUrl}/form`,
		formWaitingBaseUrl: `${baseUrl}/form-waiting`,
		formTestBaseUrl: `${baseUrl}/form-test`,
		webhookBaseUrl: `${baseUrl}/webhook`,
		webhookWaitingBaseUrl: `${baseUrl}/webhook-waiting`,
		webhookTestBaseUrl: `${baseUrl}/webhook-test`,
		mcpBaseUrl: `${baseUrl}/mcp`,
		mcpTestBaseUrl: `${baseUrl}/mcp-test`,
	} as IWorkflowExecuteAdditionalData;
}

/**
 * Runs a workflow in manual mode with n8n-core's WorkflowExecute and returns its run data. Nodes and
 * connections are copied first (n8n writes parameter defaults into the nodes it gets).
 */
export async function runWorkflow(opts: RunWorkflowOptions): Promise<RunWorkflowResult> {
	ensureN8nEnvironment();
	const sink: LogSink = { logs: [] };
	return await logContext.run(sink, async () => {
		const executionId = `harness-${process.pid}-${++executionCounter}`;
		const workflowId = `harness-workflow-${executionCounter}`;
		const nodes = deepCopy(opts.nodes);
		const connections = deepCopy(opts.connections);
		const settings = { executionOrder: 'v1' as const };
		const workflow = new Workflow({
			id: workflowId,
			name: 'Harness workflow',
			nodes,
			connections,
			active: false,
			nodeTypes: nodeTypesFor(opts.nodeTypes),
			settings,
		});
		const credentialsHelper = new HarnessCredentialsHelper(
			credentialTypesFor(opts.credentialTypes),
			opts.credentials ?? {},
		);
		const workflowData: IWorkflowBase = {
			id: workflowId,
			name: 'Harness workflow',
			active: false,
			activeVersionId: null,
			isArchived: false,
			nodes,
			connections,
			settings,
			createdAt: new Date(),
			updatedAt: new Date(),
		} as IWorkflowBase;
		const hooks = new ExecutionLifecycleHooks('manual', executionId, workflowData);
		const nodeExecutionOrder: string[] = [];
		hooks.addHandler('nodeExecuteAfter', (nodeName) => {
			nodeExecutionOrder.push(nodeName);
		});
		// A cancelled execution's promise stays pending (n8n-core sets shouldReject = false); n8n learns
		// the outcome from this hook, which runs on success, failure and cancellation alike.
		let finished!: (run: IRun) => void;
		const afterHook = new Promise<IRun>((resolve) => (finished = resolve));
		hooks.addHandler('workflowExecuteAfter', (fullRunData) => finished(fullRunData));
		const additionalData = createAdditionalData(credentialsHelper, hooks, executionId, workflowId);

		const workflowExecute = new WorkflowExecute(additionalData, 'manual');
		const execution = workflowExecute.run({ workflow, startNode: pickStartNode(workflow, opts.startNodeName) });
		const onAbort = () => execution.cancel();
		if (opts.signal?.aborted) onAbort();
		opts.signal?.addEventListener('abort', onAbort, { once: true });
		let run: IRun;
		try {
			run = await Promise.race([execution, afterHook]);
		} finally {
			opts.signal?.removeEventListener('abort', onAbort);
		}
		const { resultData } = run.data;
		return {
			runData: resultData.runData,
			error: resultData.error,
			lastNodeExecuted: resultData.lastNodeExecuted,
			logs: sink.logs,
			status: run.status,
			nodeExecutionOrder,
			run,
		};
	});
}

// ---------------------------------------------------------------------------------------------
// The chat node behind a source node
// ---------------------------------------------------------------------------------------------

export const CHAT_NODE_NAME = 'OAuth2 LLM Chat';
export const SOURCE_NODE_NAME = 'Source';
export const CHAT_CREDENTIAL_ID = 'harness-llm-credential';
export const DEFAULT_CREDENTIAL_NAME = 'OAuth2 LLM Provider (test)';

export interface RunChatNodeOptions {
	items: IDataObject[];
	parameters: INodeParameters;
	credentialData: ICredentialDataDecryptedObject;
	credentialName?: string;
	/** The node's Settings → On Error = "Continue" (onError: 'continueRegularOutput'). */
	continueOnFail?: boolean;
	nodeTypeVersion?: number;
	signal?: AbortSignal;
	/** Node types to use instead of the harness's (the benchmark runs the built `dist` node this way). */
	nodeTypes?: Record<string, INodeType | IVersionedNodeType>;
}

export interface RunChatNodeResult {
	/** The chat node's first output (empty when it failed without continueOnFail). */
	items: INodeExecutionData[];
	error?: ExecutionError;
	runData: IRunData;
	logs: string[];
}

/** Source (emits `items`) → OAuth2 LLM Chat (with the given parameters and credential). */
export async function runChatNode(opts: RunChatNodeOptions): Promise<RunChatNodeResult> {
	const chatNode: INode = {
		id: 'harness-chat-node',
		name: CHAT_NODE_NAME,
		type: CHAT_NODE_TYPE,
		typeVersion: opts.nodeTypeVersion ?? 1,
		position: [220, 0],
		parameters: opts.parameters,
		credentials: {
			llmProviderOAuth2Api: { id: CHAT_CREDENTIAL_ID, name: opts.credentialName ?? DEFAULT_CREDENTIAL_NAME },
		},
		...(opts.continueOnFail ? { onError: 'continueRegularOutput' as const } : {}),
	};
	const result = await runWorkflow({
		nodes: [
			{
				id: 'harness-source-node',
				name: SOURCE_NODE_NAME,
				type: SOURCE_NODE_TYPE,
				typeVersion: 1,
				position: [0, 0],
				parameters: { items: JSON.stringify(opts.items) },
			},
			chatNode,
		],
		connections: {
			[SOURCE_NODE_NAME]: { main: [[{ node: CHAT_NODE_NAME, type: NodeConnectionTypes.Main, index: 0 }]] },
		},
		credentials: {
			[CHAT_CREDENTIAL_ID]: {
				type: 'llmProviderOAuth2Api',
				name: opts.credentialName ?? DEFAULT_CREDENTIAL_NAME,
				data: opts.credentialData,
			},
		},
		signal: opts.signal,
		nodeTypes: opts.nodeTypes,
	});
	return {
		items: outputItems(result.runData, CHAT_NODE_NAME),
		error: result.error,
		runData: result.runData,
		logs: result.logs,
	};
}

/** The name of the node an execution error belongs to (ExpressionError and friends have none). */
export function errorNodeName(error: ExecutionError | undefined): string | undefined {
	return (error as { node?: INode } | undefined)?.node?.name;
}

/** A node's items on one output of one run (default: first output, last run). */
export function outputItems(runData: IRunData, nodeName: string, outputIndex = 0, runIndex?: number): INodeExecutionData[] {
	const runs = runData[nodeName];
	if (!runs || runs.length === 0) return [];
	const task = runs[runIndex ?? runs.length - 1];
	return task?.data?.main?.[outputIndex] ?? [];
}
