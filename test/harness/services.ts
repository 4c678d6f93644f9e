/**
 * Redis and PostgreSQL for n8n's queue mode, from Debian's packages (scripts/install-queue-services.sh
 * installs them when missing), each on 127.0.0.1 and a free port, in a temp folder, stopped by stop().
 *
 * PostgreSQL refuses to run as root: its folder belongs to the `postgres` user, and initdb/pg_ctl run
 * as that user (runuser). The superuser is `n8n` with trust authentication on 127.0.0.1 only.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { freePort, onHarnessExit, run } from './n8n';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


async function checked(command: string, args: string[], what: string, timeoutMs = 120_000): Promise<string> {
	const result = await run(command, args, { timeoutMs, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
	if (result.exitCode !== 0) throw new Error(`${what} failed (exit ${result.exitCode}): ${result.stderr.slice(-3000)}${result.stdout.slice(-2000)}`);
	return result.stdout;
}

export interface Service {
	port: number;
	stop(): Promise<void>;
}

/** Answers once a TCP client gets `expected` back for `probe`. */
async function waitForAnswer(port: number, probe: string, expected: RegExp, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const answered = await new Promise<boolean>((resolve) => {
			const socket = net.connect(port, '127.0.0.1');
			let text = '';
			socket.setTimeout(1000, () => socket.destroy());
			socket.on('connect', () => socket.write(probe));
			socket.on('data', (chunk) => {
				text += chunk.toString();
				if (expected.test(text)) {
					socket.destroy();
					resolve(true);
				}
			});
			socket.on('close', () => resolve(false));
			socket.on('error', () => resolve(false));
		});
		if (answered) return;
		if (Date.now() > deadline) throw new Error(`nothing answered on 127.0.0.1:${port}`);
		await sleep(200);
	}
}

export interface Redis extends Service {
	/** Freezes redis-server (SIGSTOP): connections stay open and nothing answers, as in a long GC or a stalled host. */
	pause(): void;
	resume(): void;
	/** One command through redis-cli, answers as lines (raw). */
	cli(...args: string[]): Promise<string>;
	/** Everything Redis holds, as an uncompressed RDB file (SAVE): to search every key and value for secrets. */
	snapshot(): Promise<Buffer>;
}

export async function startRedis(): Promise<Redis> {
	const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'harness-redis-'));
	const port = await freePort();
	// daemonize: the harness's run() waits for the command to exit; the pid file lets stop() find it.
	await checked(
		'/usr/bin/redis-server',
		['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'yes', '--pidfile', path.join(dir, 'redis.pid'), '--logfile', path.join(dir, 'redis.log')],
		'redis-server',
	);
	const kill = () => {
		killByPidFile(path.join(dir, 'redis.pid'), 'SIGKILL');
		rmSync(dir, { recursive: true, force: true });
	};
	// A daemon is no child of ours: an interrupted test or Ctrl-C in `npm start -- --queue` must stop it too.
	const forget = onHarnessExit(kill);
	await waitForAnswer(port, 'PING\r\n', /\+PONG/, 20_000);
	return {
		port,
		pause: () => killByPidFile(path.join(dir, 'redis.pid'), 'SIGSTOP'),
		resume: () => killByPidFile(path.join(dir, 'redis.pid'), 'SIGCONT'),
		cli: async (...args) => await checked('/usr/bin/redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--raw', ...args], 'redis-cli'),
		snapshot: async () => {
			const cli = (...args: string[]) => checked('/usr/bin/redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], 'redis-cli');
			// Compressed strings could hide a secret from a byte search.
			await cli('CONFIG', 'SET', 'rdbcompression', 'no');
			await cli('SAVE');
			return await fs.readFile(path.join(dir, 'dump.rdb'));
		},
		stop: async () => {
			forget();
			kill();
		},
	};
}

export interface Postgres extends Service {
	database: string;
	user: string;
	/** `pg_dump` of the n8n database, as text. */
	dump(): Promise<string>;
	/** One SQL statement through psql; rows as `|`-separated lines. */
	query(sql: string): Promise<string>;
}

/** Signals the process whose pid is the first line of `pidFile` (redis.pid, postmaster.pid). Synchronous. */
function killByPidFile(pidFile: string, signal: NodeJS.Signals): void {
	try {
		const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
		if (pid > 0) process.kill(pid, signal);
	} catch {
		/* no file, or already gone */
	}
}

function postgresBin(): string {
	const root = '/usr/lib/postgresql';
	const versions = existsSync(root) ? readdirSync(root).filter((entry) => existsSync(path.join(root, entry, 'bin', 'pg_ctl'))) : [];
	if (versions.length === 0) throw new Error('PostgreSQL is not installed (run scripts/install-queue-services.sh)');
	return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

export async function startPostgres(): Promise<Postgres> {
	const bin = postgresBin();
	const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'harness-postgres-'));
	// PostgreSQL refuses to run as root: as root, its folder goes to the postgres user and it runs as that user.
	const root = process.getuid?.() === 0;
	if (root) await checked('chown', ['postgres:postgres', dir], 'chown');
	const port = await freePort();
	const runuser = existsSync('/usr/sbin/runuser') ? '/usr/sbin/runuser' : 'runuser';
	const asPostgres = (tool: string, args: string[], what: string) =>
		root ? checked(runuser, ['-u', 'postgres', '--', path.join(bin, tool), ...args], what) : checked(path.join(bin, tool), args, what);
	await asPostgres('initdb', ['-D', path.join(dir, 'data'), '-U', 'n8n', '--auth=trust', '-E', 'UTF8', '--no-locale'], 'initdb');
	await asPostgres(
		'pg_ctl',
		['-D', path.join(dir, 'data'), '-l', path.join(dir, 'pg.log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-w', 'start'],
		'pg_ctl start',
	);
	// SIGQUIT: PostgreSQL's immediate shutdown, for the exit hook (pg_ctl is asynchronous).
	const forget = onHarnessExit(() => {
		killByPidFile(path.join(dir, 'data', 'postmaster.pid'), 'SIGQUIT');
		rmSync(dir, { recursive: true, force: true });
	});
	const psql = async (database: string, sql: string) =>
		await checked(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'n8n', '-d', database, '-At', '-c', sql], 'psql');
	await psql('postgres', 'CREATE DATABASE n8n');
	return {
		port,
		database: 'n8n',
		user: 'n8n',
		dump: async () => await checked(path.join(bin, 'pg_dump'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'n8n', 'n8n'], 'pg_dump'),
		query: async (sql) => await psql('n8n', sql),
		stop: async () => {
			forget();
			await asPostgres('pg_ctl', ['-D', path.join(dir, 'data'), '-m', 'immediate', 'stop'], 'pg_ctl stop').catch(() => undefined);
			await fs.rm(dir, { recursive: true, force: true });
		},
	};
}

export interface ExecutionRow {
	id: string;
	status: string;
	startedAtMs: number;
}

/** A workflow's executions as n8n recorded them in PostgreSQL, oldest first, from `sinceMs` (epoch ms) on. */
export async function executionRows(postgres: Postgres, workflowId: string, sinceMs = 0): Promise<ExecutionRow[]> {
	const text = await postgres.query(`SELECT id, status, (extract(epoch from "startedAt") * 1000)::bigint FROM execution_entity WHERE "workflowId" = '${workflowId}' ORDER BY id`);
	return text
		.trim()
		.split('\n')
		.filter(Boolean)
		.map((line) => {
			const [id, status, startedAt] = line.split('|');
			return { id, status, startedAtMs: Number(startedAt) };
		})
		.filter((row) => row.startedAtMs >= sinceMs);
}

/** What every n8n process of a queue-mode cluster needs (main, workers, CLI commands). */
export function queueModeEnv(redis: Service, postgres: Postgres): Record<string, string> {
	return {
		DB_TYPE: 'postgresdb',
		DB_POSTGRESDB_HOST: '127.0.0.1',
		DB_POSTGRESDB_PORT: String(postgres.port),
		DB_POSTGRESDB_DATABASE: postgres.database,
		DB_POSTGRESDB_USER: postgres.user,
		DB_POSTGRESDB_PASSWORD: '',
		EXECUTIONS_MODE: 'queue',
		QUEUE_BULL_REDIS_HOST: '127.0.0.1',
		QUEUE_BULL_REDIS_PORT: String(redis.port),
		// Workers would otherwise all try to serve a health check on 5678.
		QUEUE_HEALTH_CHECK_ACTIVE: 'false',
	};
}
