import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/modules/store/memory-store.js';
import { createRedisStore } from '../../src/modules/store/redis-store.js';
import { createTieredStore } from '../../src/modules/store/tiered-store.js';
import type { Store } from '../../src/modules/store/types.js';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';
import { makeEntry } from './entries.js';

const TOKEN = 'test-token-0123456789';
const purge = (adminUrl: string, body: unknown) =>
  fetchRaw(`${adminUrl}/invalidate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const metric = async (adminUrl: string, name: string) => {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
};

/**
 * The local tier in front of Redis, through two real proxies sharing one real
 * Redis: hits answered from memory, purges from either instance honoured at
 * once, and the tier emptied when invalidation events may have been lost.
 */
describe('the local tier in front of a shared Redis', () => {
  let origin: Origin;
  let redis: TestRedis;
  let a: RunningProxy;
  let b: RunningProxy;
  beforeAll(async () => {
    origin = await startOrigin();
    redis = await startRedis({ own: true });
    const env = {
      UPSTREAM_URL: origin.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('tier'),
      STORE_TIMEOUT_MS: '300',
    };
    a = await startProxy(env);
    b = await startProxy(env);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.stop();
    await origin.close();
  });

  it('answers repeat hits from memory, without a Redis round trip', async () => {
    origin.on('/t1', respond(200, { 'cache-control': 'max-age=3600' }));
    await fetchRaw(`${a.url}/t1`);
    const before = await metric(
      a.adminUrl,
      'tagcache_store_operation_duration_seconds_count\\{operation="get"\\}',
    );
    for (let i = 0; i < 5; i++) expect((await fetchRaw(`${a.url}/t1`)).headers['x-cache']).toBe('HIT');
    const after = await metric(
      a.adminUrl,
      'tagcache_store_operation_duration_seconds_count\\{operation="get"\\}',
    );
    expect(after).toBe(before);
    expect(await metric(a.adminUrl, 'tagcache_memory_store_entries')).toBeGreaterThan(0);
  });

  it('drops a copy held by one instance when another purges it', async () => {
    origin.on('/t2', respond(200, { 'cache-control': 'max-age=3600', 'surrogate-key': 'tier-tag' }));
    await fetchRaw(`${a.url}/t2`);
    // b reads it from Redis (or fetches it, if a's write has not landed yet) and keeps a copy.
    await expect.poll(async () => (await fetchRaw(`${b.url}/t2`)).headers['x-cache']).toBe('HIT');
    const held = (await fetchRaw(`${b.url}/t2`)).text();
    const fetched = origin.count('/t2');
    expect((await purge(a.adminUrl, { tags: ['tier-tag'] })).status).toBe(200);
    // The event reaches b over pub/sub: its copy goes, and its next request refetches.
    await expect.poll(async () => (await fetchRaw(`${b.url}/t2`)).text()).not.toBe(held);
    expect(origin.count('/t2')).toBeGreaterThan(fetched);
  });

  it('is emptied when invalidation events may be lost, keeps answering through a Redis outage, and empties again on reconnect', async () => {
    origin.on('/t3', respond(200, { 'cache-control': 'max-age=3600', 'surrogate-key': 'tier-t3' }));
    const puts = () =>
      metric(a.adminUrl, 'tagcache_store_operation_duration_seconds_count\\{operation="put"\\}');
    const putsBefore = await puts();
    await fetchRaw(`${a.url}/t3`);
    expect((await fetchRaw(`${a.url}/t3`)).headers['x-cache']).toBe('HIT');
    // The fill's collapse slot is held until its Redis write lands; killed before then, the
    // next request would join that fill and be answered by it (hit; collapsed), not miss.
    await expect.poll(puts).toBeGreaterThan(putsBefore);
    const emptied = () => a.lines.filter((l) => l.msg.includes('local tier emptied')).length;
    await redis.kill();
    // The subscriber dropped: purges made meanwhile by other instances would be missed.
    await expect.poll(emptied).toBe(1);
    const first = await fetchRaw(`${a.url}/t3`);
    expect(first.status).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    // Redis refuses the write, but this instance keeps its own copy and answers from it.
    await expect.poll(async () => (await fetchRaw(`${a.url}/t3`)).headers['x-cache']).toBe('HIT');
    const duringOutage = origin.count('/t3');
    await redis.restart();
    await expect.poll(emptied, { timeout: 15_000 }).toBe(2);
    // Emptied once resubscribed; caching through Redis resumes without a restart.
    await expect
      .poll(async () => (await fetchRaw(`${a.url}/t3`)).headers['x-cache'], { timeout: 15_000 })
      .toBe('HIT');
    expect(origin.count('/t3')).toBeGreaterThan(duringOutage);
    // Subscribed again: a purge sent to the other instance reaches this one's copy. (The other
    // answers 503, retry, until its own store circuit has seen Redis back.)
    await expect
      .poll(async () => (await purge(b.adminUrl, { tags: ['tier-t3'] })).status, { timeout: 15_000 })
      .toBe(200);
    await expect.poll(async () => (await fetchRaw(`${a.url}/t3`)).headers['x-cache']).toBe('MISS');
  });

  it('drops its copy when Redis refuses a put because of a purge whose event has not arrived yet', async () => {
    const prefix = uniquePrefix('tier-refused');
    const options = { url: redis.url, prefix, commandTimeoutMs: 1_000 };
    const near = createRedisStore(options);
    const elsewhere = createRedisStore(options);
    // Events from the other instance never arrive here: only Redis's own refusal can tell.
    const remote: Store = { ...near, onInvalidation: () => () => {} };
    const local = createMemoryStore({ maxBytes: 1024 * 1024 });
    const tiered = createTieredStore({ local, remote, localTtlMs: 60_000, onEventGap: () => () => {} });
    const early = makeEntry('page', { tags: ['news'], storedAt: Date.now() - 1 });
    await elsewhere.invalidate({ kind: 'tags', tags: ['news'] }, 'hard');
    await expect(tiered.put(early, 60_000)).resolves.toBe(false);
    expect(local.get('page')).toBeUndefined();
    expect(await tiered.get('page')).toBeUndefined();
    await Promise.all([tiered.close(), elsewhere.close()]);
  });
});

describe('the local tier', () => {
  it('keeps a copy of a body that owns its buffer, not a view pinning the reply it came in', async () => {
    const reply = Buffer.alloc(64 * 1024, 7); // a socket read holding many replies
    const far = makeEntry('a', { body: reply.subarray(100, 1124) });
    const remote = {
      kind: 'redis',
      get: async () => far,
      onInvalidation: () => () => {},
    } as unknown as Store;
    const local = createMemoryStore({ maxBytes: 1024 * 1024 });
    const tiered = createTieredStore({ local, remote, localTtlMs: 60_000, onEventGap: () => () => {} });
    const served = await tiered.get('a');
    const kept = local.get('a');
    expect(kept).toBe(served);
    expect(kept?.body.equals(far.body)).toBe(true);
    expect(kept?.body.buffer.byteLength).toBe(1024);
    await local.close();
  });

  it('does the same for the encoded forms kept with the body', async () => {
    const reply = Buffer.alloc(64 * 1024, 7);
    const far = makeEntry('a', {
      body: Buffer.allocUnsafeSlow(2048).fill(1),
      forms: { gzip: reply.subarray(0, 300), br: reply.subarray(300, 500) },
    });
    const remote = {
      kind: 'redis',
      get: async () => far,
      onInvalidation: () => () => {},
    } as unknown as Store;
    const local = createMemoryStore({ maxBytes: 1024 * 1024 });
    const tiered = createTieredStore({ local, remote, localTtlMs: 60_000, onEventGap: () => () => {} });
    await tiered.get('a');
    const kept = local.get('a');
    expect(kept?.forms?.gzip?.buffer.byteLength).toBe(300);
    expect(kept?.forms?.br?.buffer.byteLength).toBe(200);
    expect(kept?.forms?.gzip?.equals(reply.subarray(0, 300))).toBe(true);
    await local.close();
  });
});
