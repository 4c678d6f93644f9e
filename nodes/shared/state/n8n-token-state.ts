/**
 * Where token state beyond this process lives, as n8n itself is configured, read from n8n's own
 * objects at run time (n8n selects its Redis after it loaded the nodes, so not at load time):
 * - queue mode (multi-main runs only there): n8n's Redis (`GlobalConfig.queue.bull.redis`, which already
 *   took in the `_FILE` variables, and on 1.123 N8N_CONFIG_FILES), through n8n's own ioredis, under
 *   N8N_REDIS_KEY_PREFIX;
 * - regular mode: a sealed file in n8n's user folder. No Redis connection is opened, even where one is
 *   configured;
 * - OAUTH2_LLM_SHARED_TOKENS=false, or not inside n8n: nothing; every process keeps its state in memory.
 * The seal key derives from n8n's encryption key (InstanceSettings), the same in every process.
 */
import * as path from 'node:path';

import { requireFromN8n, resolvableFromN8n } from '../core/n8n-require';
import { ClusterTokenState } from './cluster-tokens';
import { clusterNodesOf, connectRedis, keyPrefix, type IoRedis, type N8nRedisSettings } from './redis-client';
import { REFRESH_FILE_NAME, RefreshTokenFile } from './refresh-file';
import { deriveSealKeys } from './sealed';

export type TokenStateBackend =
	| { kind: 'cluster'; cluster: ClusterTokenState }
	| { kind: 'file'; file: RefreshTokenFile }
	/** `clusterExpected`: n8n runs as a cluster, but its settings could not be read: refresh tokens are not sent alone. */
	| { kind: 'none'; why: string; clusterExpected?: boolean };

interface N8nGlobalConfig {
	executions: { mode: string };
	redis?: { prefix?: string };
	queue: { bull: { redis: N8nRedisSettings } };
}

export const SHARING_SWITCH_ENV = 'OAUTH2_LLM_SHARED_TOKENS';

/**
 * Whether the environment says n8n runs as a cluster. `n8n execute` rewrites its own config to regular
 * mode, yet on a queue-mode host it shares the cluster's credentials and must share their state too.
 */
export function clusterByEnvironment(env: NodeJS.ProcessEnv): boolean {
	// As n8n reads it: trimmed, quotes dropped. Multi-main runs only in queue mode, so it needs no test of its own.
	return env.EXECUTIONS_MODE?.trim().replace(/^(['"])(.*)\1$/, '$2') === 'queue';
}

export function tokenStateFromN8n(env: NodeJS.ProcessEnv = process.env): TokenStateBackend {
	if (env[SHARING_SWITCH_ENV]?.trim().toLowerCase() === 'false') return { kind: 'none', why: `${SHARING_SWITCH_ENV}=false` };
	// Not inside n8n (unit tests, the import CLI, benchmarks without n8n): nothing outside the process.
	if (!resolvableFromN8n('n8n/package.json')) return { kind: 'none', why: 'not running inside n8n', clusterExpected: clusterByEnvironment(env) };
	const { Container } = requireFromN8n<{ Container: { get<T>(type: unknown): T } }>('@n8n/di');
	const config = Container.get<N8nGlobalConfig>(requireFromN8n<{ GlobalConfig: unknown }>('@n8n/config').GlobalConfig);
	const instance = Container.get<{ encryptionKey: string; n8nFolder: string }>(requireFromN8n<{ InstanceSettings: unknown }>('n8n-core').InstanceSettings);
	const keys = deriveSealKeys(instance.encryptionKey);
	if (config.executions.mode !== 'queue' && !clusterByEnvironment(env)) {
		return { kind: 'file', file: new RefreshTokenFile(path.join(instance.n8nFolder, REFRESH_FILE_NAME), keys) };
	}
	const settings = config.queue.bull.redis;
	const prefix = keyPrefix(config.redis?.prefix ?? 'n8n', clusterNodesOf(settings).length > 0);
	return { kind: 'cluster', cluster: new ClusterTokenState(connectRedis(requireFromN8n<IoRedis>('ioredis'), settings), keys, prefix) };
}
