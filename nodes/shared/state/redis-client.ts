/**
 * The package's own Redis client, on n8n's settings (`GlobalConfig.queue.bull.redis`) and n8n's own
 * ioredis. Not n8n's client service: it exits the process when Redis stays away, and a token renewal
 * must never take n8n down. The options follow n8n's RedisClientService (2.41 and 1.123): credentials,
 * db, dual stack, TLS with its server name and verification, keep-alive, reconnect on a failover's
 * READONLY, and for a Redis Cluster the slots refresh and DNS strategy. What differs is on purpose:
 * commands fail at once while disconnected (no offline queue), and reconnects go on for ever.
 */
import type { RedisCommands } from './cluster-tokens';

/** n8n's `queue.bull.redis` settings, as 1.123 and 2.41 name them (2.41 has more). */
export interface N8nRedisSettings {
	host: string;
	port: number;
	db: number;
	username?: string;
	password?: string;
	tls?: boolean;
	tlsConfig?: { serverName?: string; rejectUnauthorized?: boolean };
	dualStack?: boolean;
	clusterNodes?: string;
	keepAlive?: boolean;
	keepAliveDelay?: number;
	keepAliveInterval?: number;
	reconnectOnFailover?: boolean;
	slotsRefreshTimeout?: number;
	slotsRefreshInterval?: number;
	dnsResolveStrategy?: string;
}

/** A connection attempt gives up after this. */
export const CONNECT_TIMEOUT_MS = 2_000;
/** ioredis rejects a command after this (the caller's own bound is the same). */
export const COMMAND_TIMEOUT_MS = 1_000;
/** Before the first connection, a command waits at most this long for it, then fails without being sent. */
export const FIRST_CONNECTION_WAIT_MS = 800;
const RECONNECT_INTERVAL_MS = 1_000;
/** ioredis's reconnectOnError answer: reconnect, then resend the command. */
const RECONNECT_AND_RETRY = 2;

export function clusterNodesOf(settings: N8nRedisSettings): Array<{ host: string; port: number }> {
	return (settings.clusterNodes ?? '')
		.split(',')
		.map((pair) => pair.trim())
		.filter(Boolean)
		.map((pair) => ({ host: pair.split(':')[0], port: Number(pair.split(':')[1]) }));
}

/** n8n's rule: on a Redis Cluster its prefix goes in braces, so every key lands in one slot (multi-key scripts work). */
export function keyPrefix(prefix: string, cluster: boolean): string {
	if (!cluster) return prefix;
	return `${prefix.startsWith('{') ? '' : '{'}${prefix}${prefix.endsWith('}') ? '' : '}'}`;
}

/** The ioredis options for one node, and for a cluster, from n8n's settings. Pure. */
export function redisOptions(settings: N8nRedisSettings): { node: Record<string, unknown>; cluster: Record<string, unknown> } {
	const node: Record<string, unknown> = {
		username: settings.username || undefined,
		password: settings.password || undefined,
		db: settings.db,
		connectTimeout: CONNECT_TIMEOUT_MS,
		commandTimeout: COMMAND_TIMEOUT_MS,
		enableOfflineQueue: false,
		maxRetriesPerRequest: 0,
		enableReadyCheck: false,
		retryStrategy: () => RECONNECT_INTERVAL_MS,
	};
	if (settings.dualStack) node.family = 0;
	if (settings.tls) node.tls = { servername: settings.tlsConfig?.serverName || undefined, rejectUnauthorized: settings.tlsConfig?.rejectUnauthorized ?? true };
	if (settings.keepAlive) {
		node.keepAlive = settings.keepAliveDelay;
		node.keepAliveInterval = settings.keepAliveInterval;
	}
	// After a failover the old primary answers READONLY to every write: reconnect to the new one, as n8n does.
	if (settings.reconnectOnFailover) node.reconnectOnError = (error: Error) => (String(error?.message).includes('READONLY') ? RECONNECT_AND_RETRY : false);
	const cluster: Record<string, unknown> = { redisOptions: node, clusterRetryStrategy: () => RECONNECT_INTERVAL_MS, enableOfflineQueue: false };
	if (settings.slotsRefreshTimeout !== undefined) cluster.slotsRefreshTimeout = settings.slotsRefreshTimeout;
	if (settings.slotsRefreshInterval !== undefined) cluster.slotsRefreshInterval = settings.slotsRefreshInterval;
	if (settings.dnsResolveStrategy === 'NONE') cluster.dnsLookup = (address: string, lookup: (error: null, address: string) => void) => lookup(null, address);
	return { node, cluster };
}

type IoRedisClient = RedisCommands & {
	status: string;
	disconnect(): void;
	on(event: 'error', listener: (error: unknown) => void): unknown;
	once(event: 'ready', listener: () => void): unknown;
};
export type IoRedis = (new (options: object) => IoRedisClient) & { Cluster: new (nodes: Array<{ host: string; port: number }>, options: object) => IoRedisClient };

/** The client lives as long as the n8n process; `disconnect` is for tests. */
export function connectRedis(Redis: IoRedis, settings: N8nRedisSettings): RedisCommands & { disconnect(): void } {
	const nodes = clusterNodesOf(settings);
	const { node, cluster } = redisOptions(settings);
	const client = nodes.length > 0 ? new Redis.Cluster(nodes, cluster) : new Redis({ ...node, host: settings.host, port: settings.port });
	// Outages are reported by the token cache, once each; ioredis would print every reconnect failure.
	client.on('error', () => undefined);
	const connected = new Promise<void>((resolve) => client.once('ready', () => resolve()));
	// Before the first connection a command waits for it, briefly, and is never sent late: a lease taken
	// after its caller gave up would block every other process until it ends.
	const whenConnected = async () => {
		if (client.status === 'ready') return;
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([connected, new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRST_CONNECTION_WAIT_MS)))]);
		clearTimeout(timer);
		if (client.status !== 'ready') throw Object.assign(new Error('not connected'), { code: 'NOT_CONNECTED' });
	};
	return {
		mget: async (...keys) => (await whenConnected(), await client.mget(...keys)),
		set: async (...args) => (await whenConnected(), await client.set(...args)),
		eval: async (...args) => (await whenConnected(), await client.eval(...args)),
		disconnect: () => client.disconnect(),
	};
}
