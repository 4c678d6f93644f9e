/**
 * OAuth2 LLM Chat and the OAuth2 LLM Provider credential in a REAL n8n 2.41.1 (test/harness/n8n.ts),
 * against the sandbox provider (test/sandbox: a real OAuth2 server + a token-verifying chat API, in
 * its own child process so it answers while n8n runs). The built package is installed as a community
 * package (`<user folder>/.n8n/nodes/node_modules`). One n8n instance (one user folder) for the whole
 * file: first the CLI runs (`n8n execute`), then the server (`n8n start`, REST API).
 *
 *   npm run build && node --import tsx --test test/e2e/n8n.e2e.test.ts
 *
 * First run installs n8n (~7 min, cached outside the repo); afterwards the file takes about 1.5 min.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import {
	httpRequestWorkflow,
	manualExampleWorkflow,
	sandboxCredential,
	scheduleExampleWorkflow,
	SANDBOX_CREDENTIAL_ID,
	SANDBOX_CREDENTIAL_NAME,
} from '../../examples/workflows';
import { hostileServer } from '../helpers/hostile-server';
import { N8nInstance, type ExecuteResult } from '../harness/n8n';
import { startSandbox, type RecordedRequest, type Sandbox } from '../sandbox/sandbox';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SETUP_TIMEOUT_MS = 20 * 60_000;
const RUN_TIMEOUT_MS = 180_000;
const CREDENTIAL_TYPE = 'llmProviderOAuth2Api';
const CHAT_NODE = 'OAuth2 LLM Chat';

/** A secret that appears nowhere else, so finding it anywhere is a leak. Alphanumeric: no encoding changes it. */
const CANARY_SECRET = `LeakCanary${randomBytes(12).toString('hex')}`;
const CLIENTS = {
	schedule: { id: 'e2e-schedule-client', secret: `ScheduleSecret${randomBytes(8).toString('hex')}`, authMethod: 'client_secret_post' as const },
	down: { id: 'e2e-down-client', secret: CANARY_SECRET, authMethod: 'client_secret_post' as const },
};
const SCHEDULE_CREDENTIAL = { id: 'e2eScheduleCred1', name: 'Schedule LLM (8 s tokens)' };
const DOWN_CREDENTIAL = { id: 'e2eTokenDownCred', name: 'Unreachable LLM Provider' };

/** Sandbox token lifetime and credential expiry buffer for the Schedule Trigger test. */
const SCHEDULE_TTL_S = 8;
const SCHEDULE_BUFFER_S = 2;
const SCHEDULE_EVERY_S = 3;
const SCHEDULE_RUN_FOR_MS = 33_000;

let sandbox: Sandbox;
let n8n: N8nInstance;
let scheduleWorkflowId: string;
/** Every access token the chat server saw, for the final leak check. */
const accessTokensSeen = new Set<string>();

function explain(result: ExecuteResult): string {
	return `exit ${result.exitCode}; error ${JSON.stringify(result.error)?.slice(0, 2000)}\n${(result.stdout + result.stderr).slice(-4000)}`;
}

async function countersOf(clientId: string) {
	const stats = await sandbox.stats();
	return stats.clients[clientId] ?? { tokenRequests: 0, tokensIssued: 0, tokenErrors: 0, chatRequests: 0, chatRejected401: 0 };
}

function bearerOf(request: RecordedRequest): string {
	return String(request.headers.authorization ?? '').replace(/^Bearer /, '');
}

function jwtClaims(token: string): { exp: number; iat: number; client_id?: string } {
	return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/** `n8n start` (once) and the owner login, for the tests that use the REST API. */
async function ensureServer(): Promise<void> {
	if (n8n.running) return;
	await n8n.start({ timeoutMs: 150_000 });
	await n8n.setupOwner();
}

/**
 * Why n8n may answer "No testing function found for this credential.": the credential type has no
 * `test` of its own, so n8n looks for a node's `testedBy` function through the type's `supportedNodes`,
 * which n8n 2.41 fills only for packages (PackageDirectoryLoader: community packages), not for an
 * N8N_CUSTOM_EXTENSIONS folder (CustomDirectoryLoader), where supportedNodes stays undefined.
 */
async function testFunctionDiagnosis(): Promise<string> {
	const answer = await n8n.rest('GET', '/types/credentials.json');
	const type = Array.isArray(answer.body) ? answer.body.find((t: { name: string }) => t.name === CREDENTIAL_TYPE) : undefined;
	return `n8n's ${CREDENTIAL_TYPE} type: test ${JSON.stringify(type?.test)}, supportedNodes ${JSON.stringify(type?.supportedNodes)}`;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('OAuth2 LLM Chat and the OAuth2 LLM Provider credential in a real n8n 2.41', () => {
	before(
		async () => {
			sandbox = await startSandbox({ clients: CLIENTS }); // child process: n8n calls it while we wait
			// Installed as a community package (node type n8n-nodes-oauth2-llm.oAuth2LlmChat), the way users
			// get it from npm: only then does n8n 2.41 find the credential dialog's test (see testFunctionDiagnosis).
			n8n = await N8nInstance.create({});
			await n8n.installCommunityPackage(REPO_ROOT);
			const credentialData = (client: { id: string; secret: string }) => ({
				baseUrl: sandbox.baseUrl,
				tokenUrl: sandbox.tokenUrl,
				clientId: client.id,
				clientSecret: client.secret,
				clientAuthentication: 'body',
			});
			await n8n.importCredentials([
				sandboxCredential(sandbox),
				{ ...SCHEDULE_CREDENTIAL, type: CREDENTIAL_TYPE, data: { ...credentialData(CLIENTS.schedule), expiryBufferSeconds: SCHEDULE_BUFFER_S } },
				{ ...DOWN_CREDENTIAL, type: CREDENTIAL_TYPE, data: credentialData(CLIENTS.down) },
			]);
			// Imported now, activated through the REST API by the Schedule Trigger test (the CLI stays off the
			// database while the server runs).
			scheduleWorkflowId = await n8n.importWorkflow(
				scheduleExampleWorkflow({
					id: 'e2eScheduleWf001',
					seconds: SCHEDULE_EVERY_S,
					credentialId: SCHEDULE_CREDENTIAL.id,
					credentialName: SCHEDULE_CREDENTIAL.name,
				}),
			);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await n8n?.dispose();
		await sandbox?.stop();
	});

	beforeEach(async () => {
		await sandbox.reset();
		await sandbox.configure({ tokenTtlSeconds: 3600, chatLatencyMs: 0, tokenFaults: [], chatFaults: [] });
	});

	it('n8n execute: Manual Trigger → 12 items → OAuth2 LLM Chat (concurrency 5): every answer in input order, one token for all', { timeout: RUN_TIMEOUT_MS }, async () => {
		await sandbox.configure({ chatLatencyMs: 300 }); // so that items are really in flight together
		const questions = Array.from({ length: 12 }, (_, i) => `Question number ${i + 1}: what is ${i} + ${i}?`);
		const id = await n8n.importWorkflow(manualExampleWorkflow({ id: 'e2eManual12Items', questions }));
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		assert.equal(result.status, 'success', explain(result));

		const items = result.runData?.[CHAT_NODE]?.[0]?.data?.main?.[0] as Array<{ json: any; pairedItem: any }>;
		assert.equal(items?.length, 12, explain(result));
		items.forEach((item, i) => {
			assert.equal(item.json.content, `Echo from sandbox-echo: ${questions[i]}`, `item ${i}`);
			assert.equal(item.json.model, 'sandbox-echo');
			assert.equal(item.json.role, 'assistant');
			const paired = Array.isArray(item.pairedItem) ? item.pairedItem : [item.pairedItem];
			assert.deepEqual(paired.map((p: { item: number }) => p.item), [i], `pairedItem of item ${i}`);
		});

		const stats = await countersOf(sandbox.clients.post.id);
		assert.equal(stats.tokenRequests, 1, 'one token request for 12 items');
		assert.equal(stats.tokensIssued, 1);
		assert.equal(stats.chatRequests, 12);
		assert.equal(stats.chatRejected401, 0);
		const chats = (await sandbox.requests()).filter((request) => request.kind === 'chat');
		assert.equal(new Set(chats.map(bearerOf)).size, 1, 'every chat request carried the same token');
		chats.forEach((chat) => accessTokensSeen.add(bearerOf(chat)));
		// Concurrency > 1 really happened: with 300 ms per answer, some requests arrived while others were open.
		const overlapping = chats.filter((c, i) => chats.some((d, j) => j !== i && Math.abs(d.at - c.at) < 250));
		assert.ok(overlapping.length >= 2, `chat requests overlapped (arrivals ${chats.map((c) => c.at - chats[0].at).join(', ')} ms)`);
	});

	it("n8n's own HTTP Request node with this credential type (predefinedCredentialType) gets the answer", { timeout: RUN_TIMEOUT_MS }, async () => {
		const question = 'Hello from the HTTP Request node';
		const id = await n8n.importWorkflow(httpRequestWorkflow(sandbox.baseUrl, question));
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		const answer = result.runData?.['HTTP Request']?.[0]?.data?.main?.[0]?.[0]?.json;
		assert.equal(answer?.choices?.[0]?.message?.content, `Echo from sandbox-echo: ${question}`, explain(result));

		const stats = await countersOf(sandbox.clients.post.id);
		assert.equal(stats.tokensIssued, 1);
		assert.equal(stats.chatRequests, 1);
		assert.equal(stats.chatRejected401, 0);
		const [chat] = (await sandbox.requests()).filter((request) => request.kind === 'chat');
		assert.match(String(chat.headers.authorization), /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, "the credential's authenticate put the bearer token on it");
		assert.equal(jwtClaims(bearerOf(chat)).client_id, sandbox.clients.post.id);
		accessTokensSeen.add(bearerOf(chat));
	});

	it('token endpoint down (503 on every try): the execution fails with a clear error; the secret is in no stored execution and no log', { timeout: RUN_TIMEOUT_MS }, async () => {
		await sandbox.configure({ tokenFaults: [{ status: 503, count: 100 }] });
		const question = 'Is the token endpoint up?';
		const wf = manualExampleWorkflow({
			id: 'e2eTokenDownWf01',
			questions: [question],
			credentialId: DOWN_CREDENTIAL.id,
			credentialName: DOWN_CREDENTIAL.name,
		});
		const id = await n8n.importWorkflow({ ...wf, name: 'e2e: token endpoint down' });
		const started = Date.now();
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		const elapsed = Date.now() - started;
		await sandbox.configure({ tokenFaults: [] });

		assert.notEqual(result.exitCode, 0, explain(result));
		assert.equal(result.status, 'error', explain(result));
		const message = String(result.error?.message ?? '');
		assert.ok(message.includes(DOWN_CREDENTIAL.name), `the error names the provider (credential name): ${message}`);
		assert.match(message, /token/i, `the error says it is about the token request: ${message}`);
		assert.match(message + String(result.error?.description ?? ''), /503/, `the error gives the HTTP status: ${message}`);
		assert.equal(result.error?.node?.name ?? result.runData?.[CHAT_NODE]?.[0]?.error?.node?.name, CHAT_NODE);

		const stats = await countersOf(CLIENTS.down.id);
		assert.ok(stats.tokenRequests >= 2, `the transient 503 was retried (token requests: ${stats.tokenRequests})`);
		assert.equal(stats.tokensIssued, 0);
		assert.equal(stats.chatRequests, 0, 'no chat request without a token');
		process.stderr.write(`[e2e] token endpoint down: ${stats.tokenRequests} token requests, run took ${elapsed} ms; error: ${message}\n`);

		const stored = await n8n.exportExecutions();
		assert.ok(stored.includes(question), 'the failed execution is stored (its input is in the export)');
		assert.ok(stored.includes(DOWN_CREDENTIAL.name), 'the stored execution holds the error');
		const basic = Buffer.from(`${CLIENTS.down.id}:${CANARY_SECRET}`).toString('base64');
		for (const [where, text] of [['stored executions', stored], ["n8n's logs", n8n.logs()], ['the run output', result.stdout + result.stderr]] as const) {
			assert.ok(!text.includes(CANARY_SECRET), `the client secret appears in ${where}`);
			assert.ok(!text.includes(basic), `the Basic credentials appear in ${where}`);
		}
	});

	it("HTTP Request with this credential: to the Base URL's origin it works and recovers from a 401 (new token, one replay); to another origin it fails and that server receives nothing", { timeout: RUN_TIMEOUT_MS }, async () => {
		const foreign = await hostileServer((_request, res) => res.end('{}'));
		const question = 'Who may see this token?';
		const base = httpRequestWorkflow(sandbox.baseUrl, question);
		const foreignNode = {
			...base.nodes[1],
			id: 'e2e00000-0000-4000-8000-000000000003',
			name: 'Foreign',
			position: [220, 200],
			onError: 'continueRegularOutput',
			parameters: { ...base.nodes[1].parameters, url: `${foreign.origin}/v1/chat/completions` },
		};
		const wf = {
			...base,
			name: 'e2e: credential origin and 401 recovery',
			nodes: [...base.nodes, foreignNode],
			connections: { Manual: { main: [[{ node: 'HTTP Request', type: 'main', index: 0 }, { node: 'Foreign', type: 'main', index: 0 }]] } },
		};
		await sandbox.configure({ chatFaults: [{ status: 401, count: 1 }] }); // the first chat call: "token revoked"
		const id = await n8n.importWorkflow(wf);
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		const answer = result.runData?.['HTTP Request']?.[0]?.data?.main?.[0]?.[0]?.json;
		assert.equal(answer?.choices?.[0]?.message?.content, `Echo from sandbox-echo: ${question}`, explain(result));

		const stats = await countersOf(sandbox.clients.post.id);
		assert.equal(stats.chatRejected401, 1, 'the 401 happened');
		assert.equal(stats.tokensIssued, 2, 'n8n asked preAuthentication again, the rejected token was dropped and the replay got a new one; the refused foreign request dropped none');
		assert.equal(foreign.received.length, 0, 'the other origin received no request at all: no token, no header');
		const refused = result.runData?.Foreign?.[0]?.data?.main?.[0]?.[0]?.json;
		assert.match(JSON.stringify(refused), /sends its access token only to http:\/\/127\.0\.0\.1:\d+.*Allowed Origins/, explain(result));
	});

	it("HTTP Request with this credential, on the right origin: the node's Proxy, Ignore SSL Issues, an SSL Certificates credential and a Host header are each refused, and the capture server receives nothing; the plain request still works", { timeout: RUN_TIMEOUT_MS }, async () => {
		// Whoever runs this server would read the token through the node's Proxy option, or through a Host header behind a proxy.
		const capture = await hostileServer((_request, res) => res.end('{}'));
		const sslCredential = { id: 'e2eSslCertsCred1', name: 'Someone else\'s CA' };
		await n8n.importCredentials([
			{ ...sslCredential, type: 'httpSslAuth', data: { ca: '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----' } },
		]);
		const question = 'Who reads this token?';
		const base = httpRequestWorkflow(sandbox.baseUrl, question);
		const variants: Array<[string, Record<string, unknown>, Record<string, unknown>?]> = [
			['Plain', {}],
			['Proxy', { options: { proxy: capture.origin } }],
			['Ignore SSL Issues', { options: { allowUnauthorizedCerts: true } }],
			['SSL Certificates', { provideSslCertificates: true }, { httpSslAuth: sslCredential }],
			['Host header', { sendHeaders: true, headerParameters: { parameters: [{ name: 'Host', value: new URL(capture.origin).host }] } }],
		];
		const nodes = variants.map(([name, parameters, credentials], index) => ({
			...base.nodes[1],
			id: `e2e00000-0000-4000-8000-00000000010${index}`,
			name,
			position: [220, index * 180],
			onError: 'continueRegularOutput',
			parameters: { ...base.nodes[1].parameters, ...parameters },
			credentials: { ...base.nodes[1].credentials, ...credentials },
		}));
		const id = await n8n.importWorkflow({
			...base,
			name: 'e2e: the node\'s options cannot carry the token away',
			nodes: [base.nodes[0], ...nodes],
			connections: { Manual: { main: [variants.map(([name]) => ({ node: name, type: 'main', index: 0 }))] } },
		});
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		assert.equal(result.exitCode, 0, explain(result));
		const output = (name: string) => JSON.stringify(result.runData?.[name]?.[0]?.data?.main?.[0]?.[0]?.json);
		assert.match(output('Plain'), new RegExp(`Echo from sandbox-echo: ${question}`), explain(result));
		assert.match(output('Proxy'), /does not send its access token here: the node's Proxy option/, explain(result));
		assert.match(output('Ignore SSL Issues'), /does not send its access token here: the node's Ignore SSL Issues \(Insecure\) option/, explain(result));
		assert.match(output('SSL Certificates'), /does not send its access token here: the node brings its own TLS certificates/, explain(result));
		assert.match(output('Host header'), /does not send its access token here: a Host header/, explain(result));
		assert.equal(capture.received.length, 0, 'the capture server received no request: no token, no header');
	});

	it('HTTP Request with this credential against a Base URL that redirects elsewhere: n8n does not follow it, and the target receives nothing', { timeout: RUN_TIMEOUT_MS }, async () => {
		const target = await hostileServer((_request, res) => res.end('{}'));
		const redirector = await hostileServer((_request, res) => {
			res.writeHead(307, { Location: `${target.origin}/v1/chat/completions` });
			res.end();
		});
		const credential = { id: 'e2eRedirectCred1', name: 'Redirecting gateway' };
		await n8n.importCredentials([
			{
				...credential,
				type: CREDENTIAL_TYPE,
				data: { baseUrl: `${redirector.origin}/v1`, tokenUrl: sandbox.tokenUrl, clientId: sandbox.clients.post.id, clientSecret: sandbox.clients.post.secret, headers: '{"X-Gateway-Key": "gw-key-5d1c0a"}' },
			},
		]);
		const base = httpRequestWorkflow(`${redirector.origin}/v1`, 'Where does this go?');
		const node = { ...base.nodes[1], onError: 'continueRegularOutput', credentials: { [CREDENTIAL_TYPE]: credential } };
		const id = await n8n.importWorkflow({ ...base, name: 'e2e: redirect with the token', nodes: [base.nodes[0], node] });
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
		// n8n replays once after any failed request (preAuthentication), so the allowed origin may see two.
		assert.ok(redirector.received.length >= 1 && redirector.received.length <= 2, explain(result));
		assert.match(String(redirector.received[0].headers.authorization), /^Bearer /, 'the allowed origin got the token');
		assert.equal(target.received.length, 0, 'the redirect target received nothing: no token, no header, no body');
		assert.match(JSON.stringify(result.runData?.['HTTP Request']?.[0]?.data?.main?.[0]?.[0]?.json), /307/, 'the 3xx is the item\'s error');
	});

	it("with n8n's SSRF protection on (N8N_SSRF_PROTECTION_ENABLED=true blocks loopback), the token request is blocked with a message that names the setting", { timeout: RUN_TIMEOUT_MS }, async () => {
		const id = await n8n.importWorkflow({ ...manualExampleWorkflow({ id: 'e2eSsrfBlocked01', questions: ['Blocked?'] }), name: 'e2e: SSRF protection' });
		const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS, env: { N8N_SSRF_PROTECTION_ENABLED: 'true' } });
		assert.equal(result.status, 'error', explain(result));
		assert.match(String(result.error?.message), /SSRF protection blocked it/, explain(result));
		assert.match(String(result.error?.description), /N8N_SSRF_ALLOWED_HOSTNAMES/, explain(result));
		assert.equal((await countersOf(sandbox.clients.post.id)).tokenRequests, 0, 'nothing reached the token endpoint');

		// n8n's HTTP Request node with this credential, in a process where none of this package's nodes ran:
		// the token request made by authenticate takes n8n's filter from n8n's own service container.
		const httpId = await n8n.importWorkflow({ ...httpRequestWorkflow(sandbox.baseUrl, 'Blocked too?'), name: 'e2e: SSRF protection, HTTP Request' });
		const viaHttp = await n8n.execute(httpId, { timeoutMs: RUN_TIMEOUT_MS, env: { N8N_SSRF_PROTECTION_ENABLED: 'true' } });
		assert.equal(viaHttp.status, 'error', explain(viaHttp));
		// n8n's own filter answered (not the fail-closed fallback): its words are in the message.
		assert.match(JSON.stringify(viaHttp.error), /SSRF protection blocked it: .*restricted IP/, explain(viaHttp));
		assert.equal((await countersOf(sandbox.clients.post.id)).tokenRequests, 0, 'authenticate\'s token request was blocked as well');
	});

	for (const mode of ['continueErrorOutput', 'continueRegularOutput'] as const) {
		it(`n8n's "${mode}" setting: the failed item leaves ${mode === 'continueErrorOutput' ? 'on the error output' : 'on the main output'} with its message, description and pairedItem`, { timeout: RUN_TIMEOUT_MS }, async () => {
			const wf = manualExampleWorkflow({ id: `e2eOnError${mode === 'continueErrorOutput' ? 'Err' : 'Reg'}`, questions: ['What is 2 + 2?', '', 'And 3 + 3?'] });
			const nodes = wf.nodes.map((node) => (node.name === CHAT_NODE ? { ...node, onError: mode } : node));
			const id = await n8n.importWorkflow({ ...wf, name: `e2e: ${mode}`, nodes });
			const result = await n8n.execute(id, { timeoutMs: RUN_TIMEOUT_MS });
			assert.equal(result.exitCode, 0, explain(result));
			const outputs = result.runData?.[CHAT_NODE]?.[0]?.data?.main as Array<Array<{ json: any; pairedItem: any }>>;
			const failed = mode === 'continueErrorOutput' ? outputs?.[1] : outputs?.[0]?.filter((item) => item.json.error);
			const succeeded = outputs?.[0]?.filter((item) => !item.json.error);
			assert.equal(succeeded?.length, 2, explain(result));
			assert.equal(failed?.length, 1, `one failed item on the ${mode === 'continueErrorOutput' ? 'error' : 'main'} output: ${JSON.stringify(outputs)}`);
			if (mode === 'continueErrorOutput') assert.equal(outputs[0].length, 2, 'the main output holds only the answers');
			assert.match(failed[0].json.error, /Message \d \(user\) is empty/);
			assert.match(failed[0].json.details.description, /check that the expression in it resolves/);
			assert.equal(failed[0].pairedItem.item, 1);
		});
	}

	it("the credential dialog's Test (REST API) on the stored sandbox credential: status OK, a token was really obtained", { timeout: RUN_TIMEOUT_MS }, async () => {
		await ensureServer();
		const good = await n8n.testCredential({ id: SANDBOX_CREDENTIAL_ID, type: CREDENTIAL_TYPE });
		assert.equal(good.httpStatus, 200, JSON.stringify(good.body));
		assert.equal(good.status, 'OK', `${good.message} (${await testFunctionDiagnosis()})`);
		assert.match(good.message, /Connection successful/);
		assert.equal((await countersOf(sandbox.clients.post.id)).tokensIssued, 1, 'the test really obtained a token');
	});

	it("the credential dialog's Test (REST API) on an unsaved credential with a bad secret: Error, invalid_client, secret not shown", { timeout: RUN_TIMEOUT_MS }, async () => {
		await ensureServer();
		const badSecret = `Wrong-Secret-${randomBytes(8).toString('hex')}`;
		const bad = await n8n.testCredential({
			name: 'Unsaved LLM credential',
			type: CREDENTIAL_TYPE,
			data: {
				baseUrl: sandbox.baseUrl,
				tokenUrl: sandbox.tokenUrl,
				clientId: sandbox.clients.post.id,
				clientSecret: badSecret,
				clientAuthentication: 'body',
			},
		});
		assert.equal(bad.httpStatus, 200, JSON.stringify(bad.body));
		assert.ok(!JSON.stringify(bad.body).includes(badSecret), `the answer shows the secret: ${JSON.stringify(bad.body)}`);
		assert.equal(bad.status, 'Error', bad.message);
		assert.match(bad.message, /invalid_client/, `${bad.message} (${await testFunctionDiagnosis()})`);
		const stats = await countersOf(sandbox.clients.post.id);
		assert.equal(stats.tokenRequests, 1, 'the test asked the token endpoint once (invalid_client is not retried)');
		assert.equal(stats.tokenErrors, 1);
		assert.ok(!n8n.logs().includes(badSecret), "the bad secret is in n8n's logs");
	});

	it(
		`Schedule Trigger every ${SCHEDULE_EVERY_S} s under n8n start, ${SCHEDULE_TTL_S} s tokens: every run succeeds, no 401, tokens follow the token lifetime`,
		{ timeout: RUN_TIMEOUT_MS },
		async () => {
			await ensureServer();
			await sandbox.configure({ tokenTtlSeconds: SCHEDULE_TTL_S });
			await n8n.activateWorkflow(scheduleWorkflowId);
			await sleep(SCHEDULE_RUN_FOR_MS);
			const deactivated = await n8n.rest('POST', `/rest/workflows/${scheduleWorkflowId}/deactivate`);
			assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));

			// Let a run that started just before the deactivation finish.
			const filter = encodeURIComponent(JSON.stringify({ workflowId: scheduleWorkflowId }));
			let executions: Array<{ id: string; status: string; mode: string; startedAt: string }> = [];
			for (let waited = 0; ; waited += 500) {
				const answer = await n8n.rest('GET', `/rest/executions?filter=${filter}&limit=100`);
				assert.equal(answer.status, 200, JSON.stringify(answer.body));
				executions = answer.data.results;
				if (executions.every((e) => !['running', 'new', 'waiting'].includes(e.status)) || waited > 20_000) break;
				await sleep(500);
			}
			const runs = executions.length;
			const failed = executions.filter((e) => e.status !== 'success');
			assert.deepEqual(failed, [], `every scheduled run succeeded (${runs} runs)`);
			assert.ok(runs >= 7, `the schedule ran every ${SCHEDULE_EVERY_S} s for ${SCHEDULE_RUN_FOR_MS} ms (${runs} runs)`);
			assert.ok(executions.every((e) => e.mode === 'trigger'), 'runs came from the Schedule Trigger');

			const stats = await countersOf(CLIENTS.schedule.id);
			const requests = (await sandbox.requests()).filter((r) => r.clientId === CLIENTS.schedule.id);
			const tokens = requests.filter((r) => r.kind === 'token');
			const chats = requests.filter((r) => r.kind === 'chat');
			const span = chats.at(-1)!.at - tokens[0].at; // first token request .. last chat request
			// A token counts as expired after TTL - buffer (6 s); one background renewal may start in the last
			// quarter of that usable life (docs/tokens.md), so tokens are at least 4.5 s apart.
			const usableMs = (SCHEDULE_TTL_S - SCHEDULE_BUFFER_S) * 1000;
			const earliestRenewalMs = 0.75 * usableMs;
			const bound = Math.ceil(span / earliestRenewalMs) + 1;
			const issuedAt = tokens.filter((t) => t.status === 200).map((t) => t.at);
			const gaps = issuedAt.slice(1).map((at, i) => at - issuedAt[i]);
			process.stderr.write(
				`[e2e] schedule: ${runs} runs in ${span} ms, ${stats.tokensIssued} tokens issued (bound ${bound}), ` +
					`${stats.chatRequests} chat requests, ${stats.chatRejected401} rejected 401; token gaps ${gaps.join(', ')} ms\n`,
			);
			assert.equal(stats.chatRequests, runs, 'one chat request per run');
			assert.equal(stats.chatRejected401, 0, 'no request reached the chat server with an expired token');
			assert.equal(stats.tokenErrors, 0);
			assert.ok(span > 2 * SCHEDULE_TTL_S * 1000, `the runs outlived two token lifetimes (${span} ms)`);
			assert.ok(stats.tokensIssued >= 3, `the token was renewed at least twice (${stats.tokensIssued} tokens)`);
			assert.ok(stats.tokensIssued <= bound, `tokens follow the token lifetime: ${stats.tokensIssued} <= ${bound}`);
			assert.ok(stats.tokensIssued < runs, `fewer tokens (${stats.tokensIssued}) than runs (${runs})`);
			// 500 ms of slack: the token request goes out a little after the scheduled run starts.
			assert.ok(gaps.every((gap) => gap >= earliestRenewalMs - 500), `no token renewed before 3/4 of its usable life: gaps ${gaps.join(', ')} ms`);
			for (const chat of chats) {
				accessTokensSeen.add(bearerOf(chat));
				const claims = jwtClaims(bearerOf(chat));
				assert.equal(claims.client_id, CLIENTS.schedule.id);
				assert.ok(chat.at < claims.exp * 1000, `chat request ${chat.seq} used a token that had expired`);
				// iat is in whole seconds: 1 s of slack.
				assert.ok(chat.at - claims.iat * 1000 <= usableMs + 1000, `chat request ${chat.seq} used a token ${chat.at - claims.iat * 1000} ms old`);
			}
		},
	);

	it('no client secret and no access token in any stored execution or in anything n8n printed', { timeout: RUN_TIMEOUT_MS }, async () => {
		assert.ok(accessTokensSeen.size >= 3, `access tokens collected by the tests before (${accessTokensSeen.size})`);
		const stored = await n8n.exportExecutions();
		assert.match(stored, /===== execution \d+ /);
		const secrets = [sandbox.clients.post.secret, CLIENTS.schedule.secret, CLIENTS.down.secret];
		for (const [where, text] of [['stored executions', stored], ["n8n's logs", n8n.logs()]] as const) {
			for (const secret of secrets) assert.ok(!text.includes(secret), `the client secret ${secret.slice(0, 6)}… appears in ${where}`);
			for (const token of accessTokensSeen) assert.ok(!text.includes(token), `an access token appears in ${where}`);
		}
	});
});
