import type { Logger } from '../../utils/logger.js';
import { createMemoryStore, type MemoryStore } from './memory-store.js';
import type { RedisSentinels } from './redis-connection.js';
import type { RedisStore } from './redis-store.js';
import type { StepRunner } from './types.js';

export type { InvalidationListener } from './invalidation-event.js';
export {
  createMemoryStore,
  type MemoryIndexSizes,
  type MemoryStore,
  type MemoryStoreOptions,
} from './memory-store.js';
export { createRedisKeys, hashName, type RedisKeys } from './redis-keys.js';
export type { RedisStore, RedisStoreOptions } from './redis-store.js';
export type * from './types.js';

/** The Config fields the store is chosen and sized by (src/utils/config.ts). */
export interface StoreSettings {
  readonly redisUrl: string | undefined;
  readonly redisClusterNodes: readonly { readonly host: string; readonly port: number }[] | undefined;
  readonly redisSentinels: readonly { readonly host: string; readonly port: number }[] | undefined;
  readonly redisSentinelName: string | undefined;
  readonly redisPrefix: string;
  readonly storeTimeoutMs: number;
  readonly cacheMaxBytes: number;
  readonly maxObjectBytes: number;
  /** The `redis` fast path of FAST_PATHS (default on). */
  readonly fastPaths?: { readonly redis: boolean };
}

/** The sentinels and master name, when Redis is reached through Sentinel. */
export function sentinelsOf(
  settings: Pick<StoreSettings, 'redisSentinels' | 'redisSentinelName'>,
): RedisSentinels | undefined {
  const { redisSentinels: nodes, redisSentinelName: name } = settings;
  return nodes !== undefined && nodes.length > 0 && name !== undefined ? { nodes, name } : undefined;
}

/**
 * Redis through Sentinel when REDIS_SENTINELS is set, Redis Cluster when REDIS_CLUSTER_NODES is set, single Redis when REDIS_URL
 * is, the embedded memory store otherwise. A Redis store connects in the
 * background and reports through ping(). ioredis is loaded only when Redis is
 * configured: it is a fifth of an idle proxy's memory.
 */
export async function createStore(
  settings: StoreSettings,
  log?: Logger,
  instanceId?: string,
  /** Times a Redis purge's steps (tracing). */
  step?: StepRunner,
): Promise<MemoryStore | RedisStore> {
  const { redisUrl, redisClusterNodes, redisPrefix, storeTimeoutMs } = settings;
  const cluster = redisClusterNodes !== undefined && redisClusterNodes.length > 0;
  const sentinels = sentinelsOf(settings);
  if (!cluster && redisUrl === undefined && sentinels === undefined) {
    return createMemoryStore({
      maxBytes: settings.cacheMaxBytes,
      maxObjectBytes: settings.maxObjectBytes,
      instanceId,
    });
  }
  const { createRedisStore } = await import('./redis-store.js');
  return createRedisStore({
    ...(cluster ? { clusterNodes: redisClusterNodes } : sentinels ? { sentinels } : { url: redisUrl }),
    prefix: redisPrefix,
    commandTimeoutMs: storeTimeoutMs,
    instanceId,
    log,
    step,
    fastCommands: settings.fastPaths?.redis ?? true,
  });
}
