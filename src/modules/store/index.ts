import type { Logger } from '../../utils/logger.js';
import { createMemoryStore } from './memory-store.js';
import type { Store } from './types.js';

export type { InvalidationListener } from './listeners.js';
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
  readonly redisPrefix: string;
  readonly storeTimeoutMs: number;
  readonly cacheMaxBytes: number;
  readonly maxObjectBytes: number;
}

/**
 * Redis Cluster when REDIS_CLUSTER_NODES is set, single Redis when REDIS_URL
 * is, the embedded memory store otherwise. A Redis store connects in the
 * background and reports through ping(). ioredis is loaded only when Redis is
 * configured: it is a fifth of an idle proxy's memory.
 */
export async function createStore(
  settings: StoreSettings,
  log?: Logger,
  instanceId?: string,
): Promise<Store> {
  const { redisUrl, redisClusterNodes, redisPrefix, storeTimeoutMs } = settings;
  const { createRedisStore } =
    redisUrl !== undefined || redisClusterNodes !== undefined
      ? await import('./redis-store.js')
      : { createRedisStore: undefined };
  if (createRedisStore !== undefined && redisClusterNodes !== undefined && redisClusterNodes.length > 0) {
    return createRedisStore({
      clusterNodes: redisClusterNodes,
      prefix: redisPrefix,
      commandTimeoutMs: storeTimeoutMs,
      instanceId,
      log,
    });
  }
  if (createRedisStore !== undefined && redisUrl !== undefined) {
    return createRedisStore({
      url: redisUrl,
      prefix: redisPrefix,
      commandTimeoutMs: storeTimeoutMs,
      instanceId,
      log,
    });
  }
  return createMemoryStore({
    maxBytes: settings.cacheMaxBytes,
    maxObjectBytes: settings.maxObjectBytes,
    instanceId,
  });
}
