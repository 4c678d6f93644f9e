/**
 * Where token state beyond this process lives, as n8n itself is configured, read from n8n's own
 * objects at run time (n8n selects its Redis after it loaded the nodes, so not at load time):
 * - queue mode or multi-main: n8n's Redis (`GlobalConfig.queue.bull.redis`, which already took in the
 *   `_FILE` variables and N8N_CONFIG_FILES), through n8n's own ioredis, under N8N_REDIS_KEY_PREFIX;
 * - regular mode: a sealed file in n8n's user folder. No Redis connection is opened, even where one is
 *   configured;
 * - OAUTH2_LLM_SHARED_TOKENS=false, or not inside n8n: nothing; every process keeps its state in memory.
 * The seal key derives from n8n's encryption key (InstanceSettings), the same in every process.
 */
import * as path from 'node:path';

import { requireFromN8n, resolvableFromN8n } from '../core/n8n-require';
import { ClusterTokenState, type RedisCommands } from './cluster-tokens';
import { REFRESH_FILE_NAME, RefreshTokenFile } from './refresh-file';
import { deriveSealKeys } from './sealed';

export type TokenStateBackend = { kind: 'cluster'; cluster: ClusterTokenState } | { kind: 'file'; file: RefreshTokenFile } | { kind: 'none'; why: string };

/** n8n's `queue.bull.redis` settings, as 1.123 and 2.41 both name them. */
interface N8nRedisSettings {
	host: string;
	port: number;
	db: number;
	username?: string;
	password?: string;
	tls?: boolean;
	tlsConfig?: { serverName?: string; rejectUnauthorized?: boolean };
	dualStack?: boolean;
	clusterNodes?: string;
}

interface N8nGlobalConfig {
	executions: { mode: string };
	multiMainSetup?: { enabled?: boolean };
	redis?: { prefix?: string };
	queue: { bull: { redis: N8nRedisSettings } };
}

type IoRedis = (new (options: object) => RedisClient) & { Cluster: new (nodes: Array<{ host: string; port: number }>, options: object) => RedisClient };
type RedisClient = RedisCommands & { on(event: 'error', listener: (error: unknown) => void): unknown; once(event: 'ready', listener: () => void): unknown };

export const SHARING_SWITCH_ENV = 'OAUTH2_LLM_SHARED_TOKENS';
/** A connection attempt gives up after this; commands are bounded by the cluster state's own timeout. */
const CONNECT_TIMEOUT_MS = 2_000;
const RECONNECT_INTERVAL_MS = 1_000;

export function tokenStateFromN8n(env: NodeJS.ProcessEnv = process.env): TokenStateBackend {
	if (env[SHARING_SWITCH_ENV]?.trim().toLowerCase() === 'false') return { kind: 'none', why: `${SHARING_SWITCH_ENV}=false` };
	// Not inside n8n (unit tests, the import CLI, benchmarks without n8n): nothing outside the process.
	if (!resolvableFromN8n('n8n/package.json')) return { kind: 'none', why: 'not running inside n8n' };
	const { Container } = requireFromN8n<{ Container: { get<T>(type: unknown): T } }>('@n8n/di');
	const config = Container.get<N8nGlobalConfig>(requireFromN8n<{ GlobalConfig: unknown }>('@n8n/config').GlobalConfig);
	const instance = Container.get<{ encryptionKey: string; n8nFolder: string }>(requireFromN8n<{ InstanceSettings: unknown }>('n8n-core').InstanceSettings);
	const keys = deriveSealKeys(instance.encryptionKey);
	if (config.executions.mode !== 'queue' && !config.multiMainSetup?.enabled) {
		return { kind: 'file', file: new RefreshTokenFile(path.join(instance.n8nFolder, REFRESH_FILE_NAME), keys) };
	}
	const settings = config.queue.bull.redis;
	const clusterNodes = (settings.clusterNodes ?? '')
		.split(',')
		.map((pair) => pair.trim())
		.filter(Boolean)
		.map((pair) => ({ host: pair.split(':')[0], port: Number(pair.split(':')[1]) }));
	return { kind: 'cluster', cluster: new ClusterTokenState(connect(requireFromN8n<IoRedis>('ioredis'), settings, clusterNodes), keys, keyPrefix(config.redis?.prefix ?? 'n8n', clusterNodes.length > 0)) };
}

/** n8n's rule: on a Redis Cluster its prefix goes in braces, so every key lands in one slot (multi-key scripts work). */
function keyPrefix(prefix: string, cluster: boolean): string {
	if (!cluster) return prefix;
	return `${prefix.startsWith('{') ? '' : '{'}${prefix}${prefix.endsWith('}') ? '' : '}'}`;
}

/** A client of our own on n8n's settings: n8n's own client service exits the process when Redis stays away. */
function connect(Redis: IoRedis, settings: N8nRedisSettings, clusterNodes: Array<{ host: string; port: number }>): RedisCommands {
	const options: Record<string, unknown> = {
		username: settings.username || undefined,
		password: settings.password || undefined,
		db: settings.db,
		connectTimeout: CONNECT_TIMEOUT_MS,
		// A command fails at once while disconnected, instead of queueing: the caller goes on alone.
		enableOfflineQueue: false,
		maxRetriesPerRequest: 0,
		enableReadyCheck: false,
		retryStrategy: () => RECONNECT_INTERVAL_MS,
	};
	if (settings.dualStack) options.family = 0;
	if (settings.tls) options.tls = { servername: settings.tlsConfig?.serverName || undefined, rejectUnauthorized: settings.tlsConfig?.rejectUnauthorized ?? true };
	const client =
		clusterNodes.length > 0
			? new Redis.Cluster(clusterNodes, { redisOptions: options, clusterRetryStrategy: () => RECONNECT_INTERVAL_MS, enableOfflineQueue: false })
			: new Redis({ ...options, host: settings.host, port: settings.port });
	// Outages are reported by the token cache, once each; ioredis would print every reconnect failure.
	client.on('error', () => undefined);
	// Commands wait for the first connection only (each caller bounds its wait); after that, a command
	// while disconnected fails at once rather than running late (a late lease would block others).
	const connected = new Promise<void>((resolve) => client.once('ready', () => resolve()));
	return {
		mget: async (...keys) => (await connected, await client.mget(...keys)),
		set: async (...args) => (await connected, await client.set(...args)),
		eval: async (...args) => (await connected, await client.eval(...args)),
	};
}
