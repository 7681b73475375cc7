import { afterAll, beforeAll, describe } from 'vitest';
import { type Origin, startOrigin } from '../support/origin.js';
import { CACHE_ALL, type RunningProxy, startProxy } from '../support/proxy.js';
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

export interface CacheHarness {
  /** The suite's backend, shared by every store case. */
  readonly origin: Origin;
  /** This store case's proxy in front of it. */
  readonly proxy: RunningProxy;
  readonly store: StoreCase;
}

export interface CacheSuiteOptions {
  /** Settings beside UPSTREAM_URL and the store's. */
  readonly env?: Record<string, string>;
  /** routes.json for the proxy (default: everything on one cacheable route). */
  readonly routes?: unknown;
}

/**
 * The set-up every cache suite shares: one scripted origin, and for each store
 * case (memory, Redis, Redis without the local tier) a proxy in front of it.
 * `body` runs once per case; read `h.proxy` and `h.origin` inside tests and hooks.
 */
export function describeCache(title: string, opts: CacheSuiteOptions, body: (h: CacheHarness) => void): void {
  const cases = storeCases({ direct: true });
  let origin: Origin | undefined;
  beforeAll(async () => {
    origin = await startOrigin();
  });
  afterAll(async () => {
    await origin?.close();
  });
  describe.each(cases)(`${title} on the $name store`, (store) => {
    let proxy: RunningProxy | undefined;
    beforeAll(async () => {
      proxy = await startProxy(
        { UPSTREAM_URL: started(origin).url, ...store.env(), ...opts.env },
        opts.routes ?? CACHE_ALL,
      );
    });
    afterAll(async () => {
      await proxy?.close();
    });
    body({
      get origin() {
        return started(origin);
      },
      get proxy() {
        return started(proxy);
      },
      store,
    });
  });
}

function started<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('read in a test or hook: the suite has not started yet');
  return value;
}
