import { afterAll, beforeAll } from 'vitest';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';

/**
 * The stores every cache suite runs against: the embedded memory store and a
 * real Redis. Suites call `forEachStore` and get the env that selects one.
 */
export interface StoreCase {
  readonly name: 'memory' | 'redis' | 'redis without the local tier';
  /** Settings for startProxy; call inside a test or beforeAll (Redis starts in beforeAll). */
  env(): Record<string, string>;
}

/**
 * `{ direct: true }` adds Redis with LOCAL_TIER_TTL_MS=0, so every read comes
 * back from Redis (decoding, markers, tags) instead of the tier in front of it.
 */
export function storeCases(opts: { direct?: boolean } = {}): StoreCase[] {
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const redisEnv = () => {
    if (redis === undefined) throw new Error('Redis did not start');
    return { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('cache') };
  };
  const cases: StoreCase[] = [
    { name: 'memory', env: () => ({}) },
    { name: 'redis', env: redisEnv },
  ];
  if (opts.direct === true) {
    cases.push({
      name: 'redis without the local tier',
      env: () => ({ ...redisEnv(), LOCAL_TIER_TTL_MS: '0' }),
    });
  }
  return cases;
}
