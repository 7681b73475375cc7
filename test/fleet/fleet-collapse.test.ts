import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/modules/cache/cache-key.js';
import { createRedisStore } from '../../src/modules/store/redis-store.js';
import { type ChildProxy, startChild } from '../core/child.js';
import { sumOf } from '../core/prom.js';
import { type Outcome, report, send } from '../resilience/support.js';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { CACHE_ALL, type RunningProxy, startProxy, writeRoutes } from '../support/proxy.js';
import {
  startRedis,
  startRedisCluster,
  type TestRedis,
  type TestRedisCluster,
  uniquePrefix,
} from '../support/redis.js';

/** Every instance is asked for the same Host: the cache key includes it. */
const HOST = 'fleet.test';
const HIT_FOR_MISS_SECONDS = 8;

const get = (on: ChildProxy, path: string) =>
  send(`${on.url}${path}`, { headers: { host: HOST }, timeoutMs: 30_000 });

/** Answers after delayMs, so concurrent requests overlap the fetch. */
function slow(delayMs: number, headers: Record<string, string>) {
  const answer = respond(200, headers, 'fleet');
  return (...args: Parameters<typeof answer>) => {
    setTimeout(() => answer(...args), delayMs);
  };
}

/** Holds every answer for `path` until released, so all requests arrive while the first is in flight. */
function gated(origin: Origin, path: string, headers: Record<string, string>): () => void {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const answer = respond(200, headers, 'fleet');
  origin.on(path, (...args) => {
    void gate.then(() => answer(...args));
  });
  return release;
}

/** Requests in flight on one instance (a WORKERS primary sums its workers'). */
async function inFlightOf(adminUrl: string): Promise<number> {
  return sumOf((await fetchRaw(`${adminUrl}/metrics`)).text(), 'tagcache_requests_in_flight');
}

/** Requests in flight on every instance together. */
async function inFlight(instances: readonly ChildProxy[]): Promise<number> {
  const counts = await Promise.all(instances.map((i) => inFlightOf(i.adminUrl)));
  return counts.reduce((sum, n) => sum + n, 0);
}

/** `perInstance` concurrent requests for one path on each instance, all at once. */
async function burst(instances: readonly ChildProxy[], path: string, perInstance: number) {
  return Promise.all(instances.flatMap((on) => Array.from({ length: perInstance }, () => get(on, path))));
}

const statuses = (outcomes: readonly Outcome[]) =>
  outcomes.map((o) => (o.kind === 'answer' ? o.status : o.kind));

interface Shared {
  readonly env: Record<string, string>;
  /** A store on the same Redis and prefix, to look at the fleet's leases. */
  readonly peek: ReturnType<typeof createRedisStore>;
  stop(): Promise<void>;
}

async function onRedis(): Promise<Shared> {
  const redis: TestRedis = await startRedis();
  const prefix = uniquePrefix('fleet');
  return {
    env: { REDIS_URL: redis.url, REDIS_PREFIX: prefix },
    peek: createRedisStore({ url: redis.url, prefix, commandTimeoutMs: 2_000 }),
    stop: () => redis.stop(),
  };
}

async function onCluster(): Promise<Shared> {
  const cluster: TestRedisCluster = await startRedisCluster();
  const prefix = uniquePrefix('fleet');
  const nodes = cluster.nodes;
  return {
    env: { REDIS_CLUSTER_NODES: nodes.map((n) => `${n.host}:${n.port}`).join(','), REDIS_PREFIX: prefix },
    peek: createRedisStore({ clusterNodes: nodes, prefix, commandTimeoutMs: 2_000 }),
    stop: () => cluster.stop(),
  };
}

function fleetSuite(name: string, start: () => Promise<Shared>, options: { killHolder: boolean }) {
  describe(`four instances sharing ${name}`, () => {
    let shared: Shared;
    let origin: Origin;
    let instances: ChildProxy[] = [];
    let env: Record<string, string>;

    beforeAll(async () => {
      shared = await start();
      origin = await startOrigin();
      env = {
        ...shared.env,
        UPSTREAM_URL: origin.url,
        HIT_FOR_MISS_SECONDS: String(HIT_FOR_MISS_SECONDS),
        ACCESS_LOG: 'off',
        LOG_LEVEL: 'warn',
        ROUTES_FILE: writeRoutes(CACHE_ALL),
      };
      instances = await Promise.all(Array.from({ length: 4 }, () => startChild(env)));
    });
    afterAll(async () => {
      await Promise.all(instances.map((i) => i.stop()));
      await shared?.peek.close();
      await origin?.close();
      await shared?.stop();
    });

    it('sends 4 × 64 concurrent cold requests for one key to the backend once', async () => {
      const release = gated(origin, '/cold', { 'cache-control': 'max-age=60' });
      const all = burst(instances, '/cold', 64);
      // The backend answers only once all 256 are inside the instances, fetching or waiting.
      await expect.poll(() => inFlight(instances), { timeout: 20_000 }).toBe(256);
      await expect.poll(() => origin.count('/cold'), { timeout: 10_000 }).toBe(1);
      release();
      const outcomes = await all;
      expect(statuses(outcomes)).toEqual(outcomes.map(() => 200));
      expect(origin.count('/cold')).toBe(1);
      const bodies = new Set(outcomes.map((o) => (o.kind === 'answer' ? o.body : '')));
      expect([...bodies]).toEqual(['fleet #1']);
    });

    it('lets waiters go in parallel after an uncacheable answer, and skips collapsing fleet-wide for a while', async () => {
      origin.on('/private', slow(300, { 'cache-control': 'private' }));
      const [first, ...rest] = instances as [ChildProxy, ...ChildProxy[]];
      // Instance 0 fetches; the leaders of 1-2 wait on its lease; instance 3 stays out of it.
      const holder = get(first, '/private');
      await expect.poll(() => origin.count('/private'), { timeout: 10_000 }).toBe(1);
      const waiters = await burst(rest.slice(0, 2), '/private', 16);
      expect(statuses([await holder, ...waiters])).toEqual(Array(33).fill(200));
      // Nothing stored, so every request got its own answer.
      expect(origin.count('/private')).toBe(33);
      // Instance 3 never saw the key, yet the fleet marks it: its requests go straight upstream.
      const key = cacheKey('http', HOST, '/private', 'all');
      expect(await shared.peek.lease(key, 2_000)).toBe('uncacheable');
      const before = origin.count('/private');
      const outsider = await burst(rest.slice(2), '/private', 8);
      expect(statuses(outsider)).toEqual(Array(8).fill(200));
      expect(origin.count('/private') - before).toBe(8);
      // Past the window the key collapses again.
      await expect
        .poll(() => shared.peek.lease(key, 1), { timeout: (HIT_FOR_MISS_SECONDS + 10) * 1000, interval: 200 })
        .toBe('granted');
    });

    it.skipIf(!options.killHolder)(
      'answers the waiters of a holder killed mid-fetch with one more backend fetch',
      async () => {
        let hang = true;
        origin.on('/killed', (req, res, n) => {
          // The first fetch never answers: its instance dies holding the lease.
          if (hang && n === 1) return;
          respond(200, { 'cache-control': 'max-age=60' }, 'fleet')(req, res, n);
        });
        const [victim, ...rest] = instances as [ChildProxy, ...ChildProxy[]];
        const lost = get(victim, '/killed');
        await expect.poll(() => origin.count('/killed'), { timeout: 10_000 }).toBe(1);
        const started = performance.now();
        const waiting = burst(rest, '/killed', 16);
        // The waiters are all inside their instances, waiting on the lease, before its holder dies.
        await expect
          .poll(async () =>
            (await Promise.all(rest.map((i) => inFlightOf(i.adminUrl)))).reduce((a, b) => a + b),
          )
          .toBe(48);
        victim.child.kill('SIGKILL');
        const outcomes = await waiting;
        hang = false;
        report('holder killed mid-fetch', {
          waiters: outcomes.length,
          answered_all_ms: performance.now() - started,
        });
        expect(statuses(outcomes)).toEqual(Array(48).fill(200));
        expect(origin.count('/killed')).toBe(2);
        expect((await lost).kind).not.toBe('answer');
        instances[0] = await startChild(env);
      },
    );
  });
}

fleetSuite('a single Redis', onRedis, { killHolder: true });
fleetSuite('a three-master Redis Cluster', onCluster, { killHolder: true });

describe('WORKERS=2 sharing Redis', () => {
  let redis: TestRedis;
  let origin: Origin;
  let proxy: ChildProxy;
  beforeAll(async () => {
    redis = await startRedis();
    origin = await startOrigin();
    proxy = await startChild({
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('workers'),
      UPSTREAM_URL: origin.url,
      WORKERS: '2',
      ACCESS_LOG: 'off',
      LOG_LEVEL: 'warn',
      ROUTES_FILE: writeRoutes(CACHE_ALL),
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
    await redis?.stop();
  });

  it('sends 64 concurrent cold requests for one key to the backend once', async () => {
    const release = gated(origin, '/workers', { 'cache-control': 'max-age=60' });
    const all = burst([proxy], '/workers', 64);
    await expect.poll(() => inFlight([proxy]), { timeout: 20_000 }).toBe(64);
    await expect.poll(() => origin.count('/workers'), { timeout: 10_000 }).toBe(1);
    release();
    const outcomes = await all;
    expect(statuses(outcomes)).toEqual(Array(64).fill(200));
    expect(origin.count('/workers')).toBe(1);
  });
});

describe('fleet collapsing with Redis down', () => {
  let redis: TestRedis;
  let origin: Origin;
  let proxy: RunningProxy;
  beforeAll(async () => {
    redis = await startRedis({ own: true });
    origin = await startOrigin();
    proxy = await startProxy({
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('down'),
      UPSTREAM_URL: origin.url,
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
    await redis?.stop();
  });

  it('falls back to collapsing within the process, never to an error', async () => {
    await redis.kill();
    const release = gated(origin, '/down', { 'cache-control': 'max-age=60' });
    const all = Promise.all(
      Array.from({ length: 32 }, () =>
        send(`${proxy.url}/down`, { headers: { host: HOST }, timeoutMs: 30_000 }),
      ),
    );
    await expect.poll(() => origin.count('/down'), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => inFlightOf(proxy.adminUrl), { timeout: 10_000 }).toBe(32);
    release();
    const outcomes = await all;
    expect(statuses(outcomes)).toEqual(Array(32).fill(200));
    expect(origin.count('/down')).toBe(1);
  });
});
