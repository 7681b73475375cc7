import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProxy, startChild } from '../core/child.js';
import {
  type Backend,
  type Outcome,
  page,
  report,
  send,
  sleep,
  startBackend,
} from '../resilience/support.js';
import { CACHE_ALL, writeRoutes } from '../support/proxy.js';
import { startRedisSentinel, type TestRedisSentinel, uniquePrefix } from '../support/redis.js';

const TOKEN = 'fleet-token-0123456789';
let sentinel: TestRedisSentinel;
let backend: Backend;
let version = 1;
let instances: ChildProxy[] = [];

beforeAll(async () => {
  sentinel = await startRedisSentinel();
  backend = await startBackend(page('max-age=600', () => `v${version}`));
  const env = {
    UPSTREAM_URL: backend.url,
    REDIS_SENTINELS: sentinel.sentinels.map(({ host, port }) => `${host}:${port}`).join(','),
    REDIS_SENTINEL_NAME: sentinel.name,
    REDIS_PREFIX: uniquePrefix('sentinel'),
    STORE_TIMEOUT_MS: '200',
    STORE_BREAKER_OPEN_MS: '300',
    // Long enough that a copy the purge failed to reach would still be served when the test looks.
    LOCAL_TIER_TTL_MS: '120000',
    INVALIDATE_TOKEN: TOKEN,
    ACCESS_LOG: 'off',
    ROUTES_FILE: writeRoutes(CACHE_ALL),
  };
  instances = await Promise.all([startChild(env), startChild(env)]);
});
afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()));
  await backend?.close();
  await sentinel?.stop();
});

const purge = (on: ChildProxy, urls: string[]) =>
  send(`${on.adminUrl}/invalidate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ urls }),
  });

/** Every instance is asked for the same Host: the cache key includes it. */
const HOST = 'fleet.test';
const get = (on: ChildProxy, path: string) => send(`${on.url}${path}`, { headers: { host: HOST } });

const xcache = (o: Awaited<ReturnType<typeof send>>) => (o.kind === 'answer' ? o.headers['x-cache'] : o.kind);

describe('Redis Sentinel: the master killed while serving', () => {
  it('fails no request, caches on the promoted master without a restart, and purges reach every instance', async () => {
    const [a, b] = instances as [ChildProxy, ChildProxy];
    const keys = Array.from({ length: 10 }, (_, i) => `/item/${i}`);
    for (const key of keys) expect(xcache(await get(a, key))).toBe('MISS');
    // Stored in Redis (the write may finish just after the answer): the other instance hits without the backend.
    for (const key of keys) {
      await expect.poll(async () => xcache(await get(b, key)), { timeout: 10_000 }).toBe('HIT');
    }
    expect(backend.hits()).toBe(keys.length);

    let stop = false;
    let n = 0;
    const outcomes: Outcome[] = [];
    const worker = async () => {
      while (!stop) {
        const i = n++;
        outcomes.push(await get(i % 2 === 0 ? a : b, keys[i % keys.length] as string));
      }
    };
    const load = Promise.all(Array.from({ length: 4 }, worker));
    await sleep(200);
    const { old, promoted } = await sentinel.killMaster();

    // Caching resumes: what one instance stores after the failover, the other reads from the new master.
    let fresh = '';
    for (let i = 0; fresh === ''; i++) {
      const path = `/after/${i}`;
      const first = await get(a, path);
      expect(first.kind).toBe('answer');
      if (xcache(await get(b, path)) === 'HIT' && backend.hits(path) === 1) fresh = path;
      else await sleep(100);
      if (i > 300) throw new Error('caching did not resume on the promoted master within 30 s');
    }
    stop = true;
    await load;
    const failed = outcomes.filter((o) => o.kind !== 'answer' || o.status !== 200);
    report('sentinel failover', {
      old_master: old,
      promoted,
      requests: outcomes.length,
      failed: failed.length,
    });
    expect(failed).toEqual([]);

    // Both instances hold /item/0 in their local tier again; a purge on one must reach the other's copy.
    await expect.poll(async () => xcache(await get(b, '/item/0')), { timeout: 10_000 }).toBe('HIT');
    version = 2;
    await expect
      .poll(
        async () => {
          const o = await purge(a, [`http://${HOST}/item/0`]);
          return o.kind === 'answer' ? o.status : o.kind;
        },
        { timeout: 10_000 },
      )
      .toBe(200);
    await expect
      .poll(
        async () => {
          const o = await get(b, '/item/0');
          return o.kind === 'answer' ? o.body : o.kind;
        },
        { timeout: 10_000 },
      )
      .toBe('v2 /item/0');
  }, 90_000);
});
