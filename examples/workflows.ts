/**
 * Example workflows and the sandbox credential, shared by the demo (`npm start`) and the e2e tests.
 * `nodeType` is the chat node's type as n8n names it: `n8n-nodes-oauth2-llm.oAuth2LlmChat` (the
 * default) when installed as a community package, `CUSTOM.oAuth2LlmChat` from a custom extensions folder.
 */
export const SANDBOX_CREDENTIAL_ID = 'oauth2LlmSandbox';
export const SANDBOX_CREDENTIAL_NAME = 'Sandbox LLM (local OAuth2)';
export const CUSTOM_CHAT_NODE_TYPE = 'CUSTOM.oAuth2LlmChat';
/** As installed from npm (Settings → Community Nodes), which is how the demo loads it. */
export const PACKAGE_CHAT_NODE_TYPE = 'n8n-nodes-oauth2-llm.oAuth2LlmChat';

export function sandboxCredential(sandbox: { baseUrl: string; tokenUrl: string; clients: { post: { id: string; secret: string } } }) {
	return {
		id: SANDBOX_CREDENTIAL_ID,
		name: SANDBOX_CREDENTIAL_NAME,
		type: 'llmProviderOAuth2Api',
		data: {
			baseUrl: sandbox.baseUrl,
			tokenUrl: sandbox.tokenUrl,
			clientId: sandbox.clients.post.id,
			clientSecret: sandbox.clients.post.secret,
			scope: 'llm.chat llm.models',
			clientAuthentication: 'body',
			expiryBufferSeconds: 60,
		},
	};
}

function chatNode(options: { nodeType: string; credentialId: string; credentialName: string; position: [number, number] }) {
	return {
		id: 'c0a1e1d2-0000-4000-8000-00000000c4a7',
		name: 'OAuth2 LLM Chat',
		type: options.nodeType,
		typeVersion: 1,
		position: options.position,
		parameters: {
			model: { __rl: true, mode: 'list', value: 'sandbox-echo', cachedResultName: 'sandbox-echo' },
			messages: {
				values: [
					{ role: 'system', content: 'You answer in one sentence.' },
					{ role: 'user', content: '={{ $json.question }}' },
				],
			},
			options: { concurrency: 5 },
		},
		credentials: { llmProviderOAuth2Api: { id: options.credentialId, name: options.credentialName } },
	};
}

/** Manual Trigger → three questions → OAuth2 LLM Chat. */
export function manualExampleWorkflow(options: { id?: string; nodeType?: string; credentialId?: string; credentialName?: string; questions?: string[] } = {}) {
	const questions = options.questions ?? [
		'What does the client credentials grant do?',
		'Why refresh a token before it expires?',
		'What is a bearer token?',
	];
	return {
		id: options.id ?? 'oauth2LlmExample',
		name: 'OAuth2 LLM Chat – example (Manual Trigger)',
		active: false,
		settings: { executionOrder: 'v1' },
		nodes: [
			{
				id: 'c0a1e1d2-0000-4000-8000-000000000001',
				name: 'When clicking ‘Execute workflow’',
				type: 'n8n-nodes-base.manualTrigger',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
			{
				id: 'c0a1e1d2-0000-4000-8000-000000000002',
				name: 'Questions',
				type: 'n8n-nodes-base.set',
				typeVersion: 3.4,
				position: [220, 0],
				parameters: {
					mode: 'raw',
					jsonOutput: JSON.stringify({ questions }),
					options: {},
				},
			},
			{
				id: 'c0a1e1d2-0000-4000-8000-000000000003',
				name: 'One item per question',
				type: 'n8n-nodes-base.splitOut',
				typeVersion: 1,
				position: [440, 0],
				parameters: { fieldToSplitOut: 'questions', options: { destinationFieldName: 'question' } },
			},
			chatNode({
				nodeType: options.nodeType ?? PACKAGE_CHAT_NODE_TYPE,
				credentialId: options.credentialId ?? SANDBOX_CREDENTIAL_ID,
				credentialName: options.credentialName ?? SANDBOX_CREDENTIAL_NAME,
				position: [660, 0],
			}),
		],
		connections: {
			'When clicking ‘Execute workflow’': { main: [[{ node: 'Questions', type: 'main', index: 0 }]] },
			Questions: { main: [[{ node: 'One item per question', type: 'main', index: 0 }]] },
			'One item per question': { main: [[{ node: 'OAuth2 LLM Chat', type: 'main', index: 0 }]] },
		},
	};
}

/** Schedule Trigger (every `seconds`) → one question with the time in it → OAuth2 LLM Chat. */
export function scheduleExampleWorkflow(options: { id?: string; seconds?: number; nodeType?: string; credentialId?: string; credentialName?: string } = {}) {
	return {
		id: options.id ?? 'oauth2LlmSchedule',
		name: 'OAuth2 LLM Chat – example (Schedule Trigger)',
		active: false,
		settings: { executionOrder: 'v1', saveDataSuccessExecution: 'all', saveDataErrorExecution: 'all' },
		nodes: [
			{
				id: 'c0a1e1d2-0000-4000-8000-000000000011',
				name: 'Schedule Trigger',
				type: 'n8n-nodes-base.scheduleTrigger',
				typeVersion: 1.2,
				position: [0, 0],
				parameters: { rule: { interval: [{ field: 'seconds', secondsInterval: options.seconds ?? 60 }] } },
			},
			{
				id: 'c0a1e1d2-0000-4000-8000-000000000012',
				name: 'Question',
				type: 'n8n-nodes-base.set',
				typeVersion: 3.4,
				position: [220, 0],
				parameters: {
					mode: 'raw',
					jsonOutput: '={{ JSON.stringify({ question: "What time is it? It is " + $now.toISO() }) }}',
					options: {},
				},
			},
			chatNode({
				nodeType: options.nodeType ?? PACKAGE_CHAT_NODE_TYPE,
				credentialId: options.credentialId ?? SANDBOX_CREDENTIAL_ID,
				credentialName: options.credentialName ?? SANDBOX_CREDENTIAL_NAME,
				position: [440, 0],
			}),
		],
		connections: {
			'Schedule Trigger': { main: [[{ node: 'Question', type: 'main', index: 0 }]] },
			Question: { main: [[{ node: 'OAuth2 LLM Chat', type: 'main', index: 0 }]] },
		},
	};
}

/** Manual Trigger → HTTP Request (n8n's own node, this credential type) POST {baseUrl}/chat/completions. */
export function httpRequestWorkflow(
	baseUrl: string,
	question: string,
	credential = { id: SANDBOX_CREDENTIAL_ID, name: SANDBOX_CREDENTIAL_NAME },
	// n8n 2.41's default HTTP Request version; n8n 1.123 goes up to 4.3.
	typeVersion = 4.5,
) {
	return {
		name: 'e2e: HTTP Request node with the OAuth2 LLM Provider credential',
		settings: { executionOrder: 'v1' },
		nodes: [
			{ id: 'e2e00000-0000-4000-8000-000000000001', name: 'Manual', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
			{
				id: 'e2e00000-0000-4000-8000-000000000002',
				name: 'HTTP Request',
				type: 'n8n-nodes-base.httpRequest',
				typeVersion,
				position: [220, 0],
				parameters: {
					method: 'POST',
					url: `${baseUrl}/chat/completions`,
					authentication: 'predefinedCredentialType',
					nodeCredentialType: 'llmProviderOAuth2Api',
					sendBody: true,
					contentType: 'json',
					specifyBody: 'json',
					jsonBody: JSON.stringify({ model: 'sandbox-echo', messages: [{ role: 'user', content: question }] }),
					options: {},
				},
				credentials: { llmProviderOAuth2Api: credential },
			},
		],
		connections: { Manual: { main: [[{ node: 'HTTP Request', type: 'main', index: 0 }]] } },
	};
}
