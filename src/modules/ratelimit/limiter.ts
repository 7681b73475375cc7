import { type Config, usesRedis } from '../../utils/config.js';
import { errorMessage } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import type { RateLimit } from '../router/types.js';
import { sentinelsOf } from '../store/index.js';
import { createMemoryLimiter } from './memory-limiter.js';
import type { RedisLimiter } from './redis-limiter.js';
import type { Verdict } from './token-bucket.js';

export interface Limiter {
  /** One request by `client` on `route`: a verdict at once (memory) or after one Redis round trip. */
  take(route: string, client: string, rule: RateLimit): Verdict | Promise<Verdict>;
  close(): Promise<void>;
}

export type LimiterSettings = Pick<
  Config,
  | 'redisUrl'
  | 'redisClusterNodes'
  | 'redisSentinels'
  | 'redisSentinelName'
  | 'redisPrefix'
  | 'storeTimeoutMs'
  | 'storeBreakerFailures'
  | 'storeBreakerOpenMs'
>;

/** Shared through Redis when the Redis store is on, else in this process only. */
export function createLimiter(settings: LimiterSettings, log: Logger): Limiter {
  const memory = createMemoryLimiter();
  const local: Limiter['take'] = (route, client, rule) => memory.take(`${route}\0${client}`, rule);
  const shared = usesRedis(settings);
  if (!shared) return { take: local, close: async () => undefined };
  // Connected on the first limited request: most tables limit nothing, and an idle Redis connection
  // (and ioredis itself) would be paid for by every instance.
  let redis: RedisLimiter | undefined;
  let loading: Promise<void> | undefined;
  let closed = false;
  const load = () =>
    import('./redis-limiter.js').then(
      ({ createRedisLimiter }) => {
        if (closed) return;
        redis = createRedisLimiter({
          url: settings.redisUrl,
          clusterNodes: settings.redisClusterNodes,
          sentinels: sentinelsOf(settings),
          prefix: settings.redisPrefix,
          timeoutMs: settings.storeTimeoutMs,
          failures: settings.storeBreakerFailures,
          openMs: settings.storeBreakerOpenMs,
          fallback: memory,
          log,
        });
      },
      (err: unknown) =>
        log.warn(
          { err: errorMessage(err) },
          'rate limits: the shared limiter failed to load; limiting per instance',
        ),
    );
  return {
    take(route, client, rule) {
      if (redis !== undefined) return redis.take(route, client, rule);
      loading ??= load();
      return loading.then(() =>
        redis === undefined ? local(route, client, rule) : redis.take(route, client, rule),
      );
    },
    async close() {
      closed = true;
      await loading;
      await redis?.close();
    },
  };
}
