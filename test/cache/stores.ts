import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { CACHE_ALL, type RunningProxy, startProxy } from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';

export type StoreName = 'memory' | 'redis' | 'redis without the local tier';

/**
 * The stores every cache suite runs against: the embedded memory store and a
 * real Redis, with and without the local tier. `env()` selects one.
 */
export interface StoreCase {
  readonly name: StoreName;
  /** Settings for startProxy; call inside a test or beforeAll (Redis starts in beforeAll). */
  env(): Record<string, string>;
}

/**
 * expect.poll options for the cache suites. Generous on purpose: on a loaded
 * machine a Redis write or twenty connections may take seconds, and a pass
 * never waits for the timeout (vitest's default of one second fails them).
 */
export const POLL = { timeout: 15_000, interval: 20 } as const;

/** Waits until `url` is answered from the store (`only-if-cached` gets a 200): its fill has been written. */
export async function untilStored(url: string): Promise<void> {
  await expect
    .poll(async () => (await fetchRaw(url, { headers: { 'cache-control': 'only-if-cached' } })).status, POLL)
    .toBe(200);
}

/** Every store case, in the order suites run them. */
export const ALL_STORES: readonly StoreName[] = ['memory', 'redis', 'redis without the local tier'];

/**
 * `{ direct: true }` adds Redis with LOCAL_TIER_TTL_MS=0, so every read comes
 * back from Redis (decoding, markers, tags) instead of the tier in front of it.
 * `only` picks cases by name instead; Redis starts only when one of them needs it.
 * `ownRedis` starts a redis-server of the suite's own, which `redis()` can kill.
 */
export function storeCases(
  opts: { direct?: boolean; only?: readonly StoreName[]; ownRedis?: boolean } = {},
): StoreCase[] & { redis(): TestRedis } {
  const names = opts.only ?? (opts.direct === true ? ALL_STORES : ALL_STORES.slice(0, 2));
  let redis: TestRedis | undefined;
  if (names.some((name) => name !== 'memory')) {
    beforeAll(async () => {
      redis = await startRedis({ own: opts.ownRedis === true });
    });
    afterAll(async () => {
      await redis?.stop();
    });
  }
  const redisEnv = () => ({ REDIS_URL: started(redis).url, REDIS_PREFIX: uniquePrefix('cache') });
  const envOf: Record<StoreName, () => Record<string, string>> = {
    memory: () => ({}),
    redis: redisEnv,
    'redis without the local tier': () => ({ ...redisEnv(), LOCAL_TIER_TTL_MS: '0' }),
  };
  const cases = names.map((name) => ({ name, env: envOf[name] }));
  return Object.assign(cases, { redis: () => started(redis) });
}

export interface CacheHarness {
  /** The suite's backend, shared by every store case. */
  readonly origin: Origin;
  /** This store case's proxy in front of it. */
  readonly proxy: RunningProxy;
  readonly store: StoreCase;
  /** The suite's Redis (not for the memory case). */
  readonly redis: TestRedis;
  /**
   * Another proxy on this store case, for a test that needs other settings
   * (`UPSTREAM_URL` in `env` points it elsewhere). Closed when the test ends.
   */
  startProxy(env?: Record<string, string>, routes?: unknown): Promise<RunningProxy>;
}

export interface CacheSuiteOptions {
  /** Settings beside UPSTREAM_URL and the store's. */
  readonly env?: Record<string, string>;
  /** routes.json for the proxy (default: everything on one cacheable route). */
  readonly routes?: unknown;
  /** The store cases to run (default: all three). */
  readonly stores?: readonly StoreName[];
  /** A redis-server of the suite's own, for tests that kill and restart it. */
  readonly ownRedis?: boolean;
}

/**
 * The set-up every cache suite shares: one scripted origin, and for each store
 * case (memory, Redis, Redis without the local tier) a proxy in front of it.
 * `body` runs once per case; read `h.proxy` and `h.origin` inside tests and hooks.
 */
export function describeCache(title: string, opts: CacheSuiteOptions, body: (h: CacheHarness) => void): void {
  const cases = storeCases({ only: opts.stores ?? ALL_STORES, ownRedis: opts.ownRedis });
  let origin: Origin | undefined;
  beforeAll(async () => {
    origin = await startOrigin();
  });
  afterAll(async () => {
    await origin?.close();
  });
  describe.each(cases)(`${title} on the $name store`, (store) => {
    let proxy: RunningProxy | undefined;
    const extra: RunningProxy[] = [];
    beforeAll(async () => {
      proxy = await startProxy(
        { UPSTREAM_URL: started(origin).url, ...store.env(), ...opts.env },
        opts.routes ?? CACHE_ALL,
      );
    });
    afterEach(async () => {
      await Promise.all(extra.splice(0).map((p) => p.close()));
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
      get redis() {
        return cases.redis();
      },
      store,
      async startProxy(env = {}, routes = CACHE_ALL) {
        const p = await startProxy({ UPSTREAM_URL: started(origin).url, ...store.env(), ...env }, routes);
        extra.push(p);
        return p;
      },
    });
  });
}

function started<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('read in a test or hook: the suite has not started yet');
  return value;
}
