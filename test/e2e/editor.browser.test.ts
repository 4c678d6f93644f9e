/**
 * The editor path in a REAL browser: headless Debian Chromium driven by playwright-core, against a
 * real n8n 2.41.1 (test/harness/n8n.ts) with this package installed the way users install it (as a
 * community package), and the sandbox provider (test/sandbox: a real OAuth2 server + a chat API that
 * verifies its tokens, in its own child process).
 *
 * What a user does, step by step, with a screenshot of each in test-artifacts/editor/NN-step.png:
 * sign in; open a new workflow; add a Manual Trigger and then OAuth2 LLM Chat from the node panel
 * (search "OAuth2 LLM"); create the OAuth2 LLM Provider credential in the credential dialog; its test
 * passes; a wrong secret fails with the provider's own invalid_client message; fixed again, Retry
 * passes; pick the model from the provider's list; type a message; execute the step; read the answer
 * in the output panel. Then the same screens in n8n's dark theme (the icon's dark variant).
 *
 *   scripts/install-chromium.sh && npm run build && node --import tsx --test test/e2e/editor.browser.test.ts
 *
 * No Chromium, or a Chromium that does not start: the test FAILS (it never skips). CHROMIUM_PATH
 * overrides /usr/bin/chromium. playwright-core never downloads a browser.
 *
 * Why a community package (N8nInstance.installCommunityPackage) and not N8N_CUSTOM_EXTENSIONS: n8n
 * 2.41 gives credentials loaded from a custom extensions folder no `supportedNodes`, so neither the
 * editor nor `POST /rest/credentials/test` finds the node's `testedBy` function ("No testing function
 * found for this credential.") and the credential dialog never tests. As a package the node type is
 * `n8n-nodes-oauth2-llm.oAuth2LlmChat`, the node panel shows it as an installed community node, and
 * the dialog tests the credential.
 *
 * First run installs n8n (~7 min, cached outside the repo); afterwards the file takes about 1.5 min.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium, selectors, type BrowserContext, type Locator, type Page, type Response } from 'playwright-core';

import { DEFAULT_OWNER, N8nInstance } from '../harness/n8n';
import { startSandbox, type Sandbox } from '../sandbox/sandbox';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test-artifacts', 'editor');
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
];
const SETUP_TIMEOUT_MS = 20 * 60_000;
const TEST_TIMEOUT_MS = 10 * 60_000;
/** Default for every wait in the page: the machine has 2 shared cores and n8n's editor is heavy. */
const UI_TIMEOUT_MS = 60_000;

const PACKAGE_NAME = 'n8n-nodes-oauth2-llm';
const NODE_NAME = 'OAuth2 LLM Chat';
const CREDENTIAL_TYPE_NAME = 'OAuth2 LLM Provider';
const CREDENTIAL_NAME = 'Sandbox LLM (browser test)';
const MODEL = 'sandbox-echo';
const MESSAGE = 'What does the client credentials grant do?';
const WRONG_SECRET = 'not-the-sandbox-secret';

let sandbox: Sandbox;
let n8n: N8nInstance;
let userDataDir: string;
let context: BrowserContext | undefined;
let page: Page;
let shotNumber = 0;
/** Why Chromium did not start (set in before(), thrown by the test). */
let browserError: unknown;
const browserConsole: string[] = [];

function progress(message: string): void {
	process.stderr.write(`[editor.browser ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * Saves test-artifacts/editor/NN-<name>.png (the whole viewport, or one element). The pictures the docs
 * show are these: with UPDATE_DOCS_SCREENSHOTS=1, a shot given `docsImage` is copied to docs/images/.
 */
async function shot(name: string, target?: Locator, docsImage?: string): Promise<string> {
	shotNumber += 1;
	const file = path.join(ARTIFACTS_DIR, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
	if (target) await target.screenshot({ path: file, animations: 'disabled' });
	else await page.screenshot({ path: file, animations: 'disabled' });
	progress(`screenshot ${path.relative(REPO_ROOT, file)}`);
	if (docsImage && process.env.UPDATE_DOCS_SCREENSHOTS === '1') {
		await fs.copyFile(file, path.join(REPO_ROOT, 'docs', 'images', docsImage));
		progress(`  copied to docs/images/${docsImage}`);
	}
	return file;
}

/** Runs one user step; on failure saves a screenshot named after it and says which step failed. */
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
	const started = Date.now();
	progress(`step: ${name}`);
	try {
		const result = await fn();
		progress(`step done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${name}`);
		return result;
	} catch (error) {
		const file = path.join(ARTIFACTS_DIR, `failed-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
		await page?.screenshot({ path: file }).catch(() => undefined);
		const detail = error instanceof Error ? error.message : String(error);
		throw new Error(
			`browser step "${name}" failed (screenshot: ${path.relative(REPO_ROOT, file)}): ${detail}\n` +
				`--- browser console (last 20) ---\n${browserConsole.slice(-20).join('\n')}`,
			{ cause: error },
		);
	}
}

/** Polls `check` until it is true; fails with `what` after `timeoutMs`. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await check().catch(() => false))) {
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
}

/**
 * Waits for the answer to the `POST /rest/credentials/test` that `action` causes: the one that tests
 * `clientSecret` (the dialog also tests the stored credential by itself when it opens, with the
 * secret blanked, and that answer may arrive late).
 */
async function credentialTestAnswer(clientSecret: string, action: () => Promise<void>): Promise<{ status: string; message: string }> {
	const answer = page.waitForResponse(
		(response: Response) => {
			if (!response.url().endsWith('/rest/credentials/test') || response.request().method() !== 'POST') return false;
			try {
				return response.request().postDataJSON()?.credentials?.data?.clientSecret === clientSecret;
			} catch {
				return false;
			}
		},
		{ timeout: UI_TIMEOUT_MS },
	);
	await action();
	const body = await (await answer).json();
	return body.data as { status: string; message: string };
}

async function launchBrowser(): Promise<void> {
	if (!existsSync(CHROMIUM_PATH)) {
		throw new Error(
			`Chromium is not installed at ${CHROMIUM_PATH}: the editor browser test cannot run. ` +
				'Install it with scripts/install-chromium.sh (Debian package "chromium"), or set CHROMIUM_PATH.',
		);
	}
	userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'oauth2-llm-chromium-'));
	try {
		context = await chromium.launchPersistentContext(userDataDir, {
			executablePath: CHROMIUM_PATH,
			headless: true,
			args: CHROMIUM_ARGS,
			viewport: { width: 1440, height: 900 },
			timeout: 90_000,
		});
	} catch (error) {
		throw new Error(
			`Chromium at ${CHROMIUM_PATH} did not start: ${error instanceof Error ? error.message : String(error)}`,
			{ cause: error },
		);
	}
	context.setDefaultTimeout(UI_TIMEOUT_MS);
	context.setDefaultNavigationTimeout(UI_TIMEOUT_MS);
	page = context.pages()[0] ?? (await context.newPage());
	page.on('console', (message) => {
		if (message.type() === 'error' || message.type() === 'warning') browserConsole.push(`${message.type()}: ${message.text()}`);
	});
	page.on('pageerror', (error) => browserConsole.push(`pageerror: ${error.message}`));
	progress(`Chromium ${context.browser()?.version() ?? ''} started (${CHROMIUM_PATH})`.replace('  ', ' '));
}

// ---------------------------------------------------------------------------------------------
// Page helpers (n8n's editor marks its elements with data-test-id)
// ---------------------------------------------------------------------------------------------

const byTestId = (id: string, root: Page | Locator = page) => root.getByTestId(id);

function credentialModal(): Locator {
	return byTestId('editCredential-modal');
}

async function fillCredentialField(name: string, value: string): Promise<void> {
	const input = credentialModal().getByTestId(`parameter-input-${name}`).locator('input, textarea').first();
	await input.fill(value);
	assert.equal(await input.inputValue(), value, `credential field ${name} holds what was typed`);
}

/** Clicks the dialog's Save once it is enabled (it is disabled until a change registers). */
async function saveCredential(): Promise<void> {
	await credentialModal().getByTestId('credential-save-button').locator('button:not([disabled])').click();
}

/** Opens the stored credential from the node (pencil) and waits until the dialog shows its stored data. */
async function editNodeCredential(): Promise<void> {
	await byTestId('credential-edit-button').click();
	await credentialModal().waitFor();
	const baseUrl = byTestId('parameter-input-baseUrl', credentialModal()).locator('input').first();
	await until(async () => (await baseUrl.inputValue()) === sandbox.baseUrl, 'the credential dialog shows the stored Base URL');
}

async function searchNodePanel(text: string): Promise<void> {
	const search = byTestId('node-creator-search-bar');
	await search.waitFor();
	await search.fill(text);
}

function nodePanelItem(name: string): Locator {
	return byTestId('node-creator')
		.getByTestId('item-iterator-item')
		.filter({ has: page.getByTestId('node-creator-item-name').getByText(name, { exact: true }) });
}

function canvasNode(name: string): Locator {
	return byTestId('canvas-node').filter({ hasText: name });
}

async function openNode(name: string): Promise<void> {
	await canvasNode(name).dblclick();
	await byTestId('ndv').waitFor();
}

async function closeNdv(): Promise<void> {
	await byTestId('ndv-close-button').click();
	await byTestId('ndv').waitFor({ state: 'hidden' });
}

async function closeCredentialModal(): Promise<void> {
	const close = credentialModal().locator('.el-dialog__headerbtn, .el-dialog__close').first();
	if (await close.isVisible()) await close.click();
	else await page.keyboard.press('Escape');
	await credentialModal().waitFor({ state: 'hidden' });
}

/** The danger banner of the credential dialog ("Couldn’t connect with these settings") with its details. */
function credentialErrorBanner(): Locator {
	return byTestId('node-credentials-config-container', credentialModal())
		.locator('.el-tag--danger')
		.filter({ hasText: 'Couldn’t connect with these settings' });
}

// ---------------------------------------------------------------------------------------------

describe('n8n editor in a real browser: find OAuth2 LLM Chat, add the credential, run it', { timeout: SETUP_TIMEOUT_MS + TEST_TIMEOUT_MS }, () => {
	before(
		async () => {
			selectors.setTestIdAttribute('data-test-id');
			await fs.rm(ARTIFACTS_DIR, { recursive: true, force: true });
			await fs.mkdir(ARTIFACTS_DIR, { recursive: true });
			// The browser first: when it cannot start, the test fails at once (counted as a failure, not a
			// cancelled hook) instead of after the n8n install.
			try {
				await launchBrowser();
			} catch (error) {
				browserError = error;
				return;
			}
			sandbox = await startSandbox({});
			n8n = await N8nInstance.create({});
			await n8n.installCommunityPackage(REPO_ROOT);
			await n8n.start({ timeoutMs: 180_000 });
			await n8n.setupOwner();
			const types = await n8n.rest('GET', '/types/nodes.json');
			const nodeTypes: Array<{ name: string }> = Array.isArray(types.body) ? types.body : [];
			assert.ok(
				nodeTypes.some((type) => type.name === `${PACKAGE_NAME}.oAuth2LlmChat`),
				`n8n did not load ${PACKAGE_NAME} as a community package\n${n8n.logs().slice(-4000)}`,
			);
		},
		{ timeout: SETUP_TIMEOUT_MS },
	);

	after(async () => {
		await context?.close().catch((error: unknown) => progress(`closing Chromium failed: ${String(error)}`));
		await n8n?.dispose();
		await sandbox?.stop();
		if (userDataDir) await fs.rm(userDataDir, { recursive: true, force: true });
	});

	it('sign in, add the node from the node panel, create and test the credential, run the step, read the answer; light and dark theme', { timeout: TEST_TIMEOUT_MS }, async () => {
		if (browserError) throw browserError;
		const started = Date.now();
		const client = sandbox.clients.post;

		await step('sign in', async () => {
			await page.goto(`${n8n.baseUrl}/signin`);
			await byTestId('emailOrLdapLoginId').locator('input').fill(DEFAULT_OWNER.email);
			await byTestId('password').locator('input').fill(DEFAULT_OWNER.password);
			await shot('signin');
			await byTestId('form-submit-button').click();
			await page.waitForURL((url) => !url.pathname.startsWith('/signin'));
		});

		await step('open a new workflow', async () => {
			await page.goto(`${n8n.baseUrl}/workflow/new`);
			await byTestId('canvas-add-button').waitFor();
			await shot('new-workflow');
		});

		await step('add a Manual Trigger from the node panel', async () => {
			await byTestId('canvas-plus-button').click();
			await searchNodePanel('Manual Trigger');
			await nodePanelItem('Manual Trigger').click();
			await byTestId('canvas-trigger-node').waitFor();
			await shot('manual-trigger');
		});

		await step('search the node panel for "OAuth2 LLM"', async () => {
			await byTestId('canvas-handle-plus').first().click();
			await searchNodePanel('OAuth2 LLM');
			const item = nodePanelItem(NODE_NAME);
			await item.waitFor();
			const description = await item.getByTestId('node-creator-item-description').innerText();
			assert.match(description, /OAuth2/, 'the node panel shows the node description');
			await shot('node-panel-search');
		});

		await step('add OAuth2 LLM Chat to the workflow', async () => {
			await nodePanelItem(NODE_NAME).click();
			// A community node opens its details page first ("Installed", "Add to workflow").
			const addButton = byTestId('node-creator').getByRole('button', { name: 'Add to workflow' });
			const ndv = byTestId('ndv');
			// Whichever shows first; the other wait must not reject later unhandled.
			const quiet = (wait: Promise<void>) => wait.catch(() => undefined);
			await Promise.race([quiet(addButton.waitFor()), quiet(ndv.waitFor())]);
			if (await addButton.isVisible()) {
				await shot('node-panel-details');
				await addButton.click();
			}
			await ndv.waitFor();
			await byTestId('node-credentials-empty-state').waitFor();
			await shot('node-added');
		});

		await step('open the credential dialog', async () => {
			await byTestId('node-credentials-empty-state').click();
			await credentialModal().waitFor();
			await byTestId('parameter-input-baseUrl', credentialModal()).waitFor();
			assert.match(await credentialModal().innerText(), new RegExp(CREDENTIAL_TYPE_NAME), 'the dialog names the credential type');
			await shot('credential-dialog-empty');
		});

		await step('Grant Type JWT Bearer with Client Authentication None shows Private Key and JWT Issuer and hides Client Secret; back to the defaults', async () => {
			const choose = async (field: string, option: string) => {
				await byTestId(`parameter-input-${field}`, credentialModal()).click();
				// An option's accessible name is its title followed by its description.
				await page.getByRole('option', { name: new RegExp(`^${option.replace(/[()]/g, '\\$&')}`) }).click();
			};
			const shown = (field: string) => byTestId(`parameter-input-${field}`, credentialModal());
			await choose('grantType', 'JWT Bearer (Service Account)');
			await choose('clientAuthentication', 'None');
			// Private Key is declared twice (for its client authentications, and for this grant): the dialog shows one.
			await shown('privateKey').waitFor();
			assert.equal(await shown('privateKey').count(), 1);
			await shown('jwtIssuer').waitFor();
			await shown('clientSecret').waitFor({ state: 'detached' });
			await shot('credential-dialog-jwt-bearer');
			await choose('grantType', 'Azure Managed Identity');
			await shown('managedIdentityClientId').waitFor();
			await shown('tokenUrl').waitFor({ state: 'detached' });
			await shown('privateKey').waitFor({ state: 'detached' });
			await choose('grantType', 'Client Credentials');
			await choose('clientAuthentication', 'Send Credentials in Body');
			await shown('clientSecret').waitFor();
		});

		await step('fill in the credential for the sandbox provider; Save tests it: OK', async () => {
			await credentialModal().getByTestId('credential-name').click();
			await credentialModal().getByTestId('credential-name').getByTestId('inline-edit-input').fill(CREDENTIAL_NAME);
			await credentialModal().getByTestId('credential-name').getByTestId('inline-edit-input').press('Enter');
			await fillCredentialField('baseUrl', sandbox.baseUrl);
			await fillCredentialField('tokenUrl', sandbox.tokenUrl);
			await fillCredentialField('clientId', client.id);
			await fillCredentialField('clientSecret', client.secret);
			await shot('credential-dialog-filled');
			// The fields below the fold: client authentication, JSON fields, refresh token, headers, expiry buffer.
			await byTestId('parameter-input-additionalTokenParameters', credentialModal()).scrollIntoViewIfNeeded();
			await shot('credential-dialog-middle-fields');
			await byTestId('parameter-input-expiryBufferSeconds', credentialModal()).scrollIntoViewIfNeeded();
			await shot('credential-dialog-last-fields');
			const before = (await sandbox.stats()).clients[client.id]?.tokensIssued ?? 0;
			const result = await credentialTestAnswer(client.secret, saveCredential);
			assert.equal(result.status, 'OK', `the credential test failed: ${result.message}`);
			assert.match(result.message, /Connection successful/);
			// Opened from a node, n8n closes the dialog when the test passes and puts the credential in the node.
			await credentialModal().waitFor({ state: 'hidden' });
			await byTestId('node-credentials-select').waitFor();
			assert.ok(((await sandbox.stats()).clients[client.id]?.tokensIssued ?? 0) > before, 'the test really obtained a token');
			await shot('credential-saved-test-ok');
		});

		await step('a wrong client secret: the test fails with the provider\'s own message (invalid_client)', async () => {
			await editNodeCredential();
			await fillCredentialField('clientSecret', WRONG_SECRET);
			const result = await credentialTestAnswer(WRONG_SECRET, saveCredential);
			assert.equal(result.status, 'Error', `the test passed with a wrong secret: ${result.message}`);
			assert.match(result.message, /invalid_client/);
			assert.ok(!result.message.includes(WRONG_SECRET), 'the error does not show the secret');
			const banner = credentialErrorBanner();
			await banner.waitFor();
			const moreDetails = banner.getByText('More details');
			if (await moreDetails.isVisible()) await moreDetails.click();
			await banner.getByText(/invalid_client/).waitFor();
			const shown = await banner.innerText();
			assert.match(shown, /invalid_client/, 'the dialog shows the provider\'s error code');
			assert.match(shown, new RegExp(CREDENTIAL_NAME.replace(/[()]/g, '\\$&')), 'the dialog names the provider (the credential)');
			assert.ok(!shown.includes(WRONG_SECRET), 'the dialog does not show the secret');
			await shot('credential-wrong-secret');
		});

		await step('fix the secret back: Retry passes, Save keeps it', async () => {
			await fillCredentialField('clientSecret', client.secret);
			const retried = await credentialTestAnswer(client.secret, () => credentialErrorBanner().getByRole('button', { name: 'Retry' }).click());
			assert.equal(retried.status, 'OK', `the credential test failed: ${retried.message}`);
			const success = byTestId('credentials-config-container-test-success', credentialModal());
			await success.waitFor();
			await shot('credential-fixed-test-ok', undefined, 'credential-dialog.png');
			const saved = await credentialTestAnswer(client.secret, saveCredential);
			assert.equal(saved.status, 'OK', `the credential test failed: ${saved.message}`);
			await credentialModal().getByTestId('credential-save-button').getByText('Saved', { exact: true }).waitFor();
			await success.waitFor();
			await closeCredentialModal();
		});

		await step('pick the model from the provider\'s list', async () => {
			const locator = byTestId('resource-locator-model');
			await locator.getByTestId('rlc-input').click();
			const item = byTestId('rlc-item').filter({ hasText: MODEL }).first();
			await item.waitFor();
			await shot('model-list');
			await item.click();
			await until(async () => (await locator.getByTestId('rlc-input').inputValue()) === MODEL, `the Model field shows ${MODEL}`);
		});

		await step('execute with the message still empty: the output panel says which message and what to do', async () => {
			await byTestId('node-execute-button').click();
			const output = byTestId('output-panel');
			await output.getByText('Message 1 (user) is empty').first().waitFor({ timeout: 120_000 });
			await shot('empty-message-error');
		});

		await step('type the message', async () => {
			const content = byTestId('parameter-input-content').locator('textarea').first();
			await content.fill(MESSAGE);
			await content.blur();
			await shot('message');
		});

		await step('execute the step and read the answer in the output panel', async () => {
			const chatRequestsBefore = (await sandbox.stats()).clients[client.id]?.chatRequests ?? 0;
			await byTestId('node-execute-button').click();
			const output = byTestId('output-panel');
			await byTestId('node-run-status-success', output).waitFor({ timeout: 120_000 });
			await output.getByText(`Echo from ${MODEL}: ${MESSAGE}`).first().waitFor();
			assert.equal((await sandbox.stats()).clients[client.id]?.chatRequests, chatRequestsBefore + 1, 'one chat request reached the provider');
			await shot('output', undefined, 'first-workflow.png');
		});

		const workflowUrl = page.url().replace(/\/workflow\/([^/?#]+).*$/, '/workflow/$1');

		await step('the canvas with both nodes (light theme)', async () => {
			await closeNdv();
			await byTestId('zoom-to-fit').click();
			await canvasNode(NODE_NAME).waitFor();
			await shot('canvas-light');
			await shot('node-light', canvasNode(NODE_NAME));
		});

		await step('switch n8n to its dark theme (Settings → Personal → Theme)', async () => {
			await page.goto(`${n8n.baseUrl}/settings/personal`);
			await byTestId('theme-select').click();
			await page.getByRole('option', { name: 'Dark theme' }).click();
			await byTestId('save-settings-button').click();
			await page.locator('body[data-theme="dark"]').waitFor({ state: 'attached' });
			await shot('dark-theme-setting');
		});

		await step('dark theme: canvas, node panel, node and credential dialog', async () => {
			await page.goto(workflowUrl);
			await canvasNode(NODE_NAME).waitFor();
			await byTestId('zoom-to-fit').click();
			await shot('canvas-dark');
			await shot('node-dark', canvasNode(NODE_NAME));
			await byTestId('node-creator-plus-button').click();
			await searchNodePanel('OAuth2 LLM');
			await nodePanelItem(NODE_NAME).waitFor();
			await shot('node-panel-search-dark');
			await page.keyboard.press('Escape');
			await byTestId('node-creator').waitFor({ state: 'hidden' });
			await openNode(NODE_NAME);
			await shot('ndv-dark');
			await editNodeCredential();
			await shot('credential-dialog-dark');
			await closeCredentialModal();
			await closeNdv();
		});

		progress(`the editor path took ${Math.round((Date.now() - started) / 1000)} s in the browser`);
	});
});
