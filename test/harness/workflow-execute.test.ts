/**
 * Proves the in-process n8n execution harness (workflow-execute.ts) itself, with test-only nodes and
 * no network. The one run of the real OAuth2 LLM Chat node is a smoke run against a closed port.
 *
 *   node --import tsx --test test/harness/workflow-execute.test.ts
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import {
	NodeConnectionTypes,
	NodeOperationError,
	type ICredentialType,
	type IConnections,
	type IDataObject,
	type IExecuteFunctions,
	type IHttpRequestOptions,
	type INode,
	type INodeExecutionData,
	type INodeType,
} from 'n8n-workflow';

import type { Clock } from '../../nodes/shared/core/clock';
import { replaceSharedTokenCache, type TokenCache } from '../../nodes/shared/auth/token-cache';
import {
	CHAT_NODE_NAME,
	HarnessCredentialsHelper,
	SOURCE_NODE_TYPE,
	allLogs,
	credentialTypesFor,
	errorNodeName,
	nodeTypesFor,
	outputItems,
	runChatNode,
	runWorkflow,
} from './workflow-execute';

// ---------------------------------------------------------------------------------------------
// Test-only nodes and a credential type
// ---------------------------------------------------------------------------------------------

const TEST_CREDENTIAL_TYPE = 'harnessTestApi';

/** What the test credential's authenticate() saw, newest last. */
const authenticateCalls: Array<{ credentials: IDataObject; url: string }> = [];

class HarnessTestApi implements ICredentialType {
	name = TEST_CREDENTIAL_TYPE;

	displayName = 'Harness Test API';

	properties = [
		{ displayName: 'API Key', name: 'apiKey', type: 'string' as const, typeOptions: { password: true }, default: '' },
		{ displayName: 'Region', name: 'region', type: 'string' as const, default: 'eu-default' },
	];

	async authenticate(credentials: IDataObject, requestOptions: IHttpRequestOptions): Promise<IHttpRequestOptions> {
		authenticateCalls.push({ credentials: { ...credentials }, url: requestOptions.url });
		requestOptions.headers = { ...(requestOptions.headers ?? {}), 'X-Api-Key': String(credentials.apiKey) };
		return requestOptions;
	}
}

function testNode(
	name: string,
	properties: INodeType['description']['properties'],
	execute: (this: IExecuteFunctions) => Promise<INodeExecutionData[][]>,
	extra: Partial<INodeType['description']> = {},
): INodeType {
	return {
		description: {
			displayName: name,
			name,
			group: ['transform'],
			version: 1,
			description: `Test only: ${name}`,
			defaults: { name },
			inputs: [NodeConnectionTypes.Main],
			outputs: [NodeConnectionTypes.Main],
			properties,
			...extra,
		},
		execute,
	};
}

/** Uppercases `field` of every item and appends `suffix` (an expression, evaluated per item). */
const uppercaseNode = testNode(
	'testUppercase',
	[
		{ displayName: 'Field', name: 'field', type: 'string', default: 'name' },
		{ displayName: 'Suffix', name: 'suffix', type: 'string', default: '' },
	],
	async function (this: IExecuteFunctions) {
		return [
			this.getInputData().map((item, itemIndex) => {
				const field = this.getNodeParameter('field', itemIndex) as string;
				const suffix = this.getNodeParameter('suffix', itemIndex) as string;
				return {
					json: { ...item.json, [field]: `${String(item.json[field]).toUpperCase()}${suffix}` },
					pairedItem: { item: itemIndex },
				};
			}),
		];
	},
);

/**
 * Fails: throws a NodeOperationError ('operation') or a plain Error ('plain'); or ('perItem') fails
 * every item the way n8n nodes do it, an error item per input when this.continueOnFail() is true.
 */
const throwerNode = testNode(
	'testThrower',
	[{ displayName: 'Kind', name: 'kind', type: 'string', default: 'operation' }],
	async function (this: IExecuteFunctions) {
		const kind = this.getNodeParameter('kind', 0);
		if (kind === 'plain') throw new Error('Plain failure on purpose');
		if (kind === 'perItem') {
			return [
				this.getInputData().map((_item, itemIndex) => {
					const error = new NodeOperationError(this.getNode(), `Item ${itemIndex} failed on purpose`, { itemIndex });
					if (!this.continueOnFail()) throw error;
					return { json: { error: error.message }, pairedItem: { item: itemIndex } };
				}),
			];
		}
		throw new NodeOperationError(this.getNode(), 'Thrower failed on purpose', { itemIndex: 0 });
	},
);

/** Outputs the credential it gets, and what an authenticated request to a closed port did. */
const credentialReaderNode = testNode(
	'testCredentialReader',
	[{ displayName: 'Probe', name: 'probe', type: 'boolean', default: false }],
	async function (this: IExecuteFunctions) {
		const credentials = await this.getCredentials(TEST_CREDENTIAL_TYPE);
		const json: IDataObject = { credentials };
		if (this.getNodeParameter('probe', 0)) {
			try {
				await this.helpers.httpRequestWithAuthentication.call(this, TEST_CREDENTIAL_TYPE, {
					url: 'http://127.0.0.1:9/probe',
					method: 'GET',
					timeout: 5000,
				});
				json.requestError = 'none';
			} catch (error) {
				json.requestError = (error as Error).message;
				json.requestErrorName = (error as Error).name;
			}
		}
		return [[{ json, pairedItem: { item: 0 } }]];
	},
	{ credentials: [{ name: TEST_CREDENTIAL_TYPE, required: true }] },
);

/** Logs through this.logger, waits a little, logs again: for log separation between concurrent runs. */
const slowLoggerNode = testNode(
	'testSlowLogger',
	[
		{ displayName: 'Tag', name: 'tag', type: 'string', default: '' },
		{ displayName: 'Delay', name: 'delay', type: 'number', default: 0 },
	],
	async function (this: IExecuteFunctions) {
		const tag = this.getNodeParameter('tag', 0) as string;
		this.logger.info(`slow logger ${tag} starts`);
		await new Promise((resolve) => setTimeout(resolve, this.getNodeParameter('delay', 0) as number));
		this.logger.warn(`slow logger ${tag} ends`, { tag });
		return [this.getInputData()];
	},
);

/** Waits until the execution is cancelled (or 10 s). */
const waitForCancelNode = testNode('testWaitForCancel', [], async function (this: IExecuteFunctions) {
	const signal = this.getExecutionCancelSignal();
	await new Promise<void>((resolve) => {
		const timer = setTimeout(resolve, 10_000);
		signal?.addEventListener('abort', () => {
			clearTimeout(timer);
			resolve();
		});
	});
	return [this.getInputData()];
});

const testNodeTypes: Record<string, INodeType> = {
	testUppercase: uppercaseNode,
	testThrower: throwerNode,
	testCredentialReader: credentialReaderNode,
	testSlowLogger: slowLoggerNode,
	testWaitForCancel: waitForCancelNode,
};

// ---------------------------------------------------------------------------------------------
// Workflow builders
// ---------------------------------------------------------------------------------------------

function sourceNode(items: IDataObject[]): INode {
	return {
		id: 'source',
		name: 'Source',
		type: SOURCE_NODE_TYPE,
		typeVersion: 1,
		position: [0, 0],
		parameters: { items: JSON.stringify(items) },
	};
}

function node(name: string, type: string, parameters: INode['parameters'] = {}, extra: Partial<INode> = {}): INode {
	return { id: name, name, type, typeVersion: 1, position: [200, 0], parameters, ...extra };
}

/** As n8n stores it (JSON): pairedItem objects may carry `input: undefined`. */
function plain<T>(value: T): T {
	return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function chain(...names: string[]): IConnections {
	const connections: IConnections = {};
	for (let i = 0; i + 1 < names.length; i++) {
		connections[names[i]] = { main: [[{ node: names[i + 1], type: NodeConnectionTypes.Main, index: 0 }]] };
	}
	return connections;
}

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

describe('workflow-execute harness (n8n-core WorkflowExecute, in-process)', () => {
	it('runs source → uppercase: items, expressions per item, pairedItem, execution order', async () => {
		const result = await runWorkflow({
			nodes: [
				sourceNode([
					{ id: 1, name: 'ada' },
					{ id: 2, name: 'grace' },
					{ id: 3, name: 'linus' },
				]),
				node('Upper', 'testUppercase', { field: 'name', suffix: '=-{{ $json.id }}' }),
			],
			connections: chain('Source', 'Upper'),
			nodeTypes: testNodeTypes,
		});
		assert.equal(result.error, undefined);
		assert.equal(result.status, 'success');
		assert.equal(result.lastNodeExecuted, 'Upper');
		assert.deepEqual(result.nodeExecutionOrder, ['Source', 'Upper']);

		const upper = outputItems(result.runData, 'Upper');
		assert.deepEqual(
			upper.map((item) => item.json),
			[
				{ id: 1, name: 'ADA-1' },
				{ id: 2, name: 'GRACE-2' },
				{ id: 3, name: 'LINUS-3' },
			],
		);
		assert.deepEqual(
			upper.map((item) => plain(item.pairedItem)),
			[{ item: 0 }, { item: 1 }, { item: 2 }],
		);
		// The source node's items all come from its single (empty) start item.
		assert.deepEqual(
			outputItems(result.runData, 'Source').map((item) => plain(item.pairedItem)),
			[{ item: 0 }, { item: 0 }, { item: 0 }],
		);
		assert.ok(result.logs.some((line) => line.includes('Running node "Upper" finished successfully')), result.logs.join('\n'));
	});

	it('passes items through the built-in passthrough node and leaves the given nodes untouched', async () => {
		const nodes = [sourceNode([{ a: 1 }, { a: 2 }]), node('Pass', 'harnessPassthrough')];
		const before = JSON.stringify(nodes);
		const result = await runWorkflow({ nodes, connections: chain('Source', 'Pass') });
		assert.equal(result.error, undefined);
		assert.deepEqual(
			outputItems(result.runData, 'Pass').map((item) => [item.json, plain(item.pairedItem)]),
			[
				[{ a: 1 }, { item: 0 }],
				[{ a: 2 }, { item: 1 }],
			],
		);
		assert.equal(JSON.stringify(nodes), before, 'runWorkflow must not write defaults into the caller\'s nodes');
	});

	it('a node that throws: the execution error is set and names the node', async () => {
		const result = await runWorkflow({
			nodes: [sourceNode([{ a: 1 }]), node('Thrower', 'testThrower'), node('After', 'harnessPassthrough')],
			connections: chain('Source', 'Thrower', 'After'),
			nodeTypes: testNodeTypes,
		});
		assert.ok(result.error, 'error expected');
		assert.equal(result.status, 'error');
		assert.equal(result.error.message, 'Thrower failed on purpose');
		assert.equal(errorNodeName(result.error), 'Thrower');
		assert.equal(result.lastNodeExecuted, 'Thrower');
		assert.equal(result.runData.Thrower?.[0]?.error?.message, 'Thrower failed on purpose');
		assert.equal(result.runData.After, undefined, 'nothing runs after the failed node');
		assert.deepEqual(outputItems(result.runData, 'Thrower'), []);
	});

	it('a node that throws a plain Error: the execution fails at that node too', async () => {
		const result = await runWorkflow({
			nodes: [sourceNode([{ a: 1 }]), node('Thrower', 'testThrower', { kind: 'plain' })],
			connections: chain('Source', 'Thrower'),
			nodeTypes: testNodeTypes,
		});
		assert.ok(result.error, 'error expected');
		assert.match(result.error.message, /Plain failure on purpose/);
		assert.equal(result.lastNodeExecuted, 'Thrower');
		assert.match(result.runData.Thrower?.[0]?.error?.message ?? '', /Plain failure on purpose/);
	});

	it('continueOnFail (onError: continueRegularOutput): this.continueOnFail() is true, error items go on', async () => {
		const result = await runWorkflow({
			nodes: [
				sourceNode([{ a: 1 }, { a: 2 }]),
				node('Thrower', 'testThrower', { kind: 'perItem' }, { onError: 'continueRegularOutput' }),
				node('After', 'harnessPassthrough'),
			],
			connections: chain('Source', 'Thrower', 'After'),
			nodeTypes: testNodeTypes,
		});
		assert.equal(result.error, undefined);
		assert.equal(result.status, 'success');
		const items = outputItems(result.runData, 'Thrower');
		assert.deepEqual(
			items.map((item) => [item.json, plain(item.pairedItem)]),
			[
				[{ error: 'Item 0 failed on purpose' }, { item: 0 }],
				[{ error: 'Item 1 failed on purpose' }, { item: 1 }],
			],
		);
		assert.equal(outputItems(result.runData, 'After').length, 2, 'the next node gets the error items');
	});

	it('the same node without continueOnFail fails the execution at its first item', async () => {
		const result = await runWorkflow({
			nodes: [sourceNode([{ a: 1 }, { a: 2 }]), node('Thrower', 'testThrower', { kind: 'perItem' })],
			connections: chain('Source', 'Thrower'),
			nodeTypes: testNodeTypes,
		});
		assert.equal(result.error?.message, 'Item 0 failed on purpose');
		assert.equal(errorNodeName(result.error), 'Thrower');
	});

	it('continueOnFail with a node that throws: n8n passes the input through and records the error on the task', async () => {
		const result = await runWorkflow({
			nodes: [
				sourceNode([{ a: 1 }]),
				node('Thrower', 'testThrower', {}, { onError: 'continueRegularOutput' }),
				node('After', 'harnessPassthrough'),
			],
			connections: chain('Source', 'Thrower', 'After'),
			nodeTypes: testNodeTypes,
		});
		// The engine itself makes no {error} item: it forwards the node's input (n8n-core 2.41 behaviour).
		assert.equal(result.error, undefined);
		const task = result.runData.Thrower?.[0];
		assert.equal(task?.executionStatus, 'error');
		assert.equal(task?.error?.message, 'Thrower failed on purpose');
		assert.deepEqual(
			outputItems(result.runData, 'Thrower').map((item) => item.json),
			[{ a: 1 }],
		);
		assert.equal(outputItems(result.runData, 'After').length, 1);
	});

	it('credentials reach a node through getCredentials, by id, with the type\'s defaults filled in', async () => {
		const result = await runWorkflow({
			nodes: [
				sourceNode([{}]),
				node('Reader', 'testCredentialReader', {}, { credentials: { [TEST_CREDENTIAL_TYPE]: { id: 'cred-7', name: 'Test cred' } } }),
			],
			connections: chain('Source', 'Reader'),
			nodeTypes: testNodeTypes,
			credentialTypes: [new HarnessTestApi()],
			credentials: {
				'cred-6': { type: TEST_CREDENTIAL_TYPE, name: 'Other', data: { apiKey: 'wrong-one' } },
				'cred-7': { type: TEST_CREDENTIAL_TYPE, name: 'Test cred', data: { apiKey: 'key-seven' } },
			},
		});
		assert.equal(result.error, undefined, result.error?.message);
		assert.deepEqual(outputItems(result.runData, 'Reader')[0].json.credentials, { apiKey: 'key-seven', region: 'eu-default' });
	});

	it('a credential id that is not given fails the node the way n8n does', async () => {
		const result = await runWorkflow({
			nodes: [
				sourceNode([{}]),
				node('Reader', 'testCredentialReader', {}, { credentials: { [TEST_CREDENTIAL_TYPE]: { id: 'missing', name: 'Gone' } } }),
			],
			connections: chain('Source', 'Reader'),
			nodeTypes: testNodeTypes,
			credentialTypes: [new HarnessTestApi()],
		});
		assert.ok(result.error);
		assert.match(result.error.message, /Credential with ID "missing" does not exist/);
		assert.equal(result.lastNodeExecuted, 'Reader');
	});

	it('httpRequestWithAuthentication runs the credential type\'s authenticate() with the credential data', async () => {
		authenticateCalls.length = 0;
		const result = await runWorkflow({
			nodes: [
				sourceNode([{}]),
				node('Reader', 'testCredentialReader', { probe: true }, { credentials: { [TEST_CREDENTIAL_TYPE]: { id: 'c', name: 'C' } } }),
			],
			connections: chain('Source', 'Reader'),
			nodeTypes: testNodeTypes,
			credentialTypes: [new HarnessTestApi()],
			credentials: { c: { type: TEST_CREDENTIAL_TYPE, name: 'C', data: { apiKey: 'probe-key', region: 'us' } } },
		});
		assert.equal(result.error, undefined, result.error?.message);
		assert.deepEqual(authenticateCalls, [{ credentials: { apiKey: 'probe-key', region: 'us' }, url: 'http://127.0.0.1:9/probe' }]);
		const json = outputItems(result.runData, 'Reader')[0].json;
		// Nothing listens on port 9: the request itself was sent (after authenticate) and refused.
		assert.equal(json.requestErrorName, 'NodeApiError');
		assert.notEqual(json.requestError, 'none');
	});

	it('registers this package\'s credential type: properties, defaults and authenticate() are n8n\'s to use', async () => {
		const types = credentialTypesFor();
		assert.ok(types.recognizes('llmProviderOAuth2Api'));
		assert.equal(typeof types.getByName('llmProviderOAuth2Api').authenticate, 'function');
		const helper = new HarnessCredentialsHelper(types, {
			llm: {
				type: 'llmProviderOAuth2Api',
				name: 'LLM',
				data: { baseUrl: 'https://llm.example.com/v1', tokenUrl: 'https://login.example.com/token', clientId: 'id', clientSecret: 's' },
			},
		});
		const names = helper.getCredentialsProperties('llmProviderOAuth2Api').map((property) => property.name);
		for (const name of ['baseUrl', 'tokenUrl', 'clientId', 'clientSecret', 'scope', 'clientAuthentication']) {
			assert.ok(names.includes(name), name);
		}
		const decrypted = await helper.getDecrypted({} as never, { id: 'llm', name: 'LLM' }, 'llmProviderOAuth2Api', 'manual');
		assert.equal(decrypted.clientSecret, 's');
		assert.equal(decrypted.clientAuthentication, 'body', 'defaults filled in as n8n does');
		assert.ok(nodeTypesFor().getByNameAndVersion('oAuth2LlmChat', 1).execute);
	});

	it('an aborted signal cancels the execution (nodes see getExecutionCancelSignal abort)', async () => {
		const controller = new AbortController();
		const started = Date.now();
		setTimeout(() => controller.abort(), 100);
		const result = await runWorkflow({
			nodes: [sourceNode([{}]), node('Wait', 'testWaitForCancel')],
			connections: chain('Source', 'Wait'),
			nodeTypes: testNodeTypes,
			signal: controller.signal,
		});
		assert.equal(result.status, 'canceled');
		assert.ok(Date.now() - started < 5000);
	});

	it('keeps each run\'s logs apart when 10 runs execute concurrently', async () => {
		const runs = await Promise.all(
			Array.from({ length: 10 }, (_, index) =>
				runWorkflow({
					nodes: [sourceNode([{ index }]), node('Slow', 'testSlowLogger', { tag: `run-${index}`, delay: 10 + ((index * 7) % 40) })],
					connections: chain('Source', 'Slow'),
					nodeTypes: testNodeTypes,
				}),
			),
		);
		runs.forEach((result, index) => {
			assert.equal(result.error, undefined);
			assert.deepEqual(outputItems(result.runData, 'Slow')[0].json, { index });
			const tagged = result.logs.filter((line) => line.includes('slow logger'));
			assert.deepEqual(tagged, [
				`[info] slow logger run-${index} starts`,
				`[warn] slow logger run-${index} ends {"tag":"run-${index}"}`,
			]);
			// n8n's own LoggerProxy lines land in the run too.
			assert.ok(result.logs.some((line) => line.startsWith('[debug] Workflow execution finished')));
		});
		for (let index = 0; index < 10; index++) {
			assert.ok(allLogs().includes(`[info] slow logger run-${index} starts`));
		}
	});
});

// ---------------------------------------------------------------------------------------------
// Smoke run of the real OAuth2 LLM Chat node (no network: nothing listens on port 9)
// ---------------------------------------------------------------------------------------------

const immediateClock: Clock = {
	nowMs: () => Date.now(),
	wallNowMs: () => Date.now(),
	random: () => 0.5,
	sleep: async (_ms, signal) => {
		if (signal?.aborted) throw new Error('aborted');
	},
};

const CLOSED_PORT_CREDENTIAL = {
	baseUrl: 'http://127.0.0.1:9/v1',
	tokenUrl: 'http://127.0.0.1:9/token',
	clientId: 'harness-client',
	clientSecret: 'harness-client-secret-value',
};

const CHAT_PARAMETERS = {
	model: { __rl: true, mode: 'id', value: 'test-model' },
	messages: { values: [{ role: 'user', content: '={{ $json.question }}' }] },
};

describe('OAuth2 LLM Chat node inside WorkflowExecute (smoke, token endpoint unreachable)', () => {
	let cache: TokenCache;
	before(() => {
		// The default retry policy backs off 1 s/2 s/4 s on network errors; the fake clock's sleep is instant.
		cache = replaceSharedTokenCache({ clock: immediateClock });
	});

	it('continueOnFail: one error item per input, paired with it, pointing at the token endpoint', async () => {
		const started = Date.now();
		const result = await runChatNode({
			items: [{ question: 'one' }, { question: 'two' }, { question: 'three' }],
			parameters: CHAT_PARAMETERS,
			credentialData: CLOSED_PORT_CREDENTIAL,
			continueOnFail: true,
		});
		assert.ok(Date.now() - started < 5000, 'retries must not really sleep');
		assert.equal(result.error, undefined, result.error?.message);
		assert.equal(result.items.length, 3);
		result.items.forEach((item, index) => {
			assert.deepEqual(plain(item.pairedItem), { item: index });
			// The message itself names the endpoint; the description says what to check.
			assert.match(String(item.json.error), /token endpoint of .*127\.0\.0\.1:9\/token/i);
			assert.match(String((item.json.details as { description?: unknown }).description), /Check Token URL/);
		});
		assert.ok(cache.tokenRequestCount >= 1, 'the replaced cache served the node');
		assert.ok(result.logs.some((line) => line.includes(`Running node "${CHAT_NODE_NAME}"`)));
	});

	it('without continueOnFail: the execution fails at the chat node', async () => {
		const result = await runChatNode({
			items: [{ question: 'one' }],
			parameters: CHAT_PARAMETERS,
			credentialData: CLOSED_PORT_CREDENTIAL,
		});
		assert.ok(result.error, 'error expected');
		assert.equal(errorNodeName(result.error), CHAT_NODE_NAME);
		assert.deepEqual(result.items, []);
	});

	it('10 concurrent runs of the chat node each finish with their own error items', async () => {
		const results = await Promise.all(
			Array.from({ length: 10 }, (_, run) =>
				runChatNode({
					items: [{ question: `q${run}-a` }, { question: `q${run}-b` }],
					parameters: CHAT_PARAMETERS,
					credentialData: CLOSED_PORT_CREDENTIAL,
					continueOnFail: true,
				}),
			),
		);
		for (const result of results) {
			assert.equal(result.error, undefined);
			assert.deepEqual(
				result.items.map((item) => plain(item.pairedItem)),
				[{ item: 0 }, { item: 1 }],
			);
		}
	});
});
