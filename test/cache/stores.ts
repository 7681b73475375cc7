import { afterAll, beforeAll } from 'vitest';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';

/**
 * The stores every cache suite runs against: the embedded memory store and a
 * real Redis. Suites call `forEachStore` and get the env that selects one.
 */
export interface StoreCase {
  readonly name: 'memory' | 'redis';
  /** Settings for startProxy; call inside a test or beforeAll (Redis starts in beforeAll). */
  env(): Record<string, string>;
}

export function storeCases(): StoreCase[] {
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return [
    { name: 'memory', env: () => ({}) },
    {
      name: 'redis',
      env: () => {
        if (redis === undefined) throw new Error('Redis did not start');
        return { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('cache') };
      },
    },
  ];
}
