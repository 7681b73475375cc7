import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { respond } from '../support/origin.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';
import { delta, type Exposition, scrape } from './exposition.js';
import {
  collapsed,
  freshProduct,
  hitsAndMisses,
  invalidations,
  type Rig,
  ROUTE_NAMES,
  reloadRoutes,
  revalidateNotModified,
  revalidateReplaced,
  staleIfError,
  staleWhileRevalidate,
  startRig,
  TAG_PREFIX,
  unsafeMethod,
  upstreamFailures,
} from './workload.js';

const REQUESTS = 'tagcache_requests_total';
const DURATION_COUNT = 'tagcache_request_duration_seconds_count';
const UPSTREAM_COUNT = 'tagcache_upstream_duration_seconds_count';

/** Every metric tagcache defines (src/modules/metrics/registry.ts), by family name. */
const TAGCACHE_FAMILIES = [
  'tagcache_requests_total',
  'tagcache_request_duration_seconds',
  'tagcache_requests_in_flight',
  'tagcache_upstream_duration_seconds',
  'tagcache_upstream_errors_total',
  'tagcache_stale_served_total',
  'tagcache_revalidations_total',
  'tagcache_collapsed_requests_total',
  'tagcache_stored_ttl_seconds',
  'tagcache_stored_bytes',
  'tagcache_store_operation_duration_seconds',
  'tagcache_store_errors_total',
  'tagcache_invalidations_total',
  'tagcache_invalidated_entries_total',
  'tagcache_invalidation_duration_seconds',
  'tagcache_memory_store_bytes',
  'tagcache_memory_store_entries',
  'tagcache_route_reloads_total',
];

/** Runs `drive` between two scrapes of the rig's admin listener. */
async function around(rig: Rig, drive: () => Promise<unknown>): Promise<[Exposition, Exposition]> {
  const before = await scrape(rig.proxy.adminUrl);
  await drive();
  return [before, await scrape(rig.proxy.adminUrl)];
}

describe('metrics during a mixed workload on the memory store', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('counts misses and hits by route, method, status and cache status, and times each', async () => {
    const [before, after] = await around(rig, () => hitsAndMisses(rig, 2, 3));
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    const product = { route: 'product', method: 'GET', status: '200' };
    expect(d(REQUESTS, { ...product, cache: 'MISS' })).toBe(2);
    expect(d(REQUESTS, { ...product, cache: 'HIT' })).toBe(6);
    expect(d(DURATION_COUNT, { route: 'product', cache: 'MISS' })).toBe(2);
    expect(d(DURATION_COUNT, { route: 'product', cache: 'HIT' })).toBe(6);
    // Only the misses reached the backend.
    expect(d(UPSTREAM_COUNT, { route: 'product' })).toBe(2);
    expect(rig.origin.seen.filter((s) => s.url.startsWith('/products/'))).toHaveLength(2);
  });

  it('records the TTL and size of stored entries and the memory store growing', async () => {
    const [before, after] = await around(rig, () => hitsAndMisses(rig, 2, 0));
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    const product = { route: 'product' };
    expect(d('tagcache_stored_ttl_seconds_count', product)).toBe(2);
    // max-age=60 lands in the 60 s bucket, not the 15 s one.
    expect(d('tagcache_stored_ttl_seconds_bucket', { ...product, le: '60' })).toBe(2);
    expect(d('tagcache_stored_ttl_seconds_bucket', { ...product, le: '15' })).toBe(0);
    expect(d('tagcache_stored_ttl_seconds_sum', product)).toBeGreaterThan(118);
    expect(d('tagcache_stored_ttl_seconds_sum', product)).toBeLessThanOrEqual(120);
    expect(d('tagcache_stored_bytes_count', product)).toBe(2);
    expect(d('tagcache_stored_bytes_sum', product)).toBe(2 * Buffer.byteLength('product #1'));
    expect(d('tagcache_store_operation_duration_seconds_count', { operation: 'put' })).toBe(2);
    expect(d('tagcache_memory_store_entries')).toBe(2);
    expect(d('tagcache_memory_store_bytes')).toBeGreaterThan(2 * Buffer.byteLength('product #1'));
  });

  it('counts a stale answer under stale-while-revalidate and the background refresh that replaced it', async () => {
    const before = await scrape(rig.proxy.adminUrl);
    await staleWhileRevalidate(rig);
    // The refresh finishes after the client's answer: wait for its entry to be stored.
    await expect
      .poll(async () => delta(before, await scrape(rig.proxy.adminUrl), 'tagcache_stored_ttl_seconds_count'))
      .toBe(2);
    const after = await scrape(rig.proxy.adminUrl);
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(d('tagcache_stale_served_total', { route: 'edge', reason: 'swr' })).toBe(1);
    expect(d('tagcache_stale_served_total')).toBe(1);
    expect(d('tagcache_revalidations_total', { route: 'edge', result: 'replaced' })).toBe(1);
    expect(d('tagcache_revalidations_total')).toBe(1);
    expect(d(REQUESTS, { route: 'edge', status: '200', cache: 'STALE' })).toBe(1);
    expect(d(REQUESTS, { route: 'edge', status: '200', cache: 'MISS' })).toBe(1);
    // max-age=0: both the first answer and the refreshed one are stored with no freshness left.
    expect(d('tagcache_stored_ttl_seconds_bucket', { route: 'edge', le: '1' })).toBe(2);
    expect(d(UPSTREAM_COUNT, { route: 'edge' })).toBe(2);
  });

  it('counts a stale answer under stale-if-error as an error revalidation and a 5xx from upstream', async () => {
    const [before, after] = await around(rig, () => staleIfError(rig));
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(d('tagcache_stale_served_total', { route: 'edge', reason: 'error' })).toBe(1);
    expect(d('tagcache_stale_served_total')).toBe(1);
    expect(d('tagcache_revalidations_total', { route: 'edge', result: 'error' })).toBe(1);
    expect(d('tagcache_revalidations_total')).toBe(1);
    expect(d('tagcache_upstream_errors_total', { route: 'edge', reason: '5xx' })).toBe(1);
    expect(d(REQUESTS, { route: 'edge', status: '200', cache: 'STALE' })).toBe(1);
  });

  it('counts a revalidation answered 304 as not_modified and the answer as REVALIDATED', async () => {
    const [before, after] = await around(rig, () => revalidateNotModified(rig));
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(d('tagcache_revalidations_total', { route: 'edge', result: 'not_modified' })).toBe(1);
    expect(d('tagcache_revalidations_total')).toBe(1);
    expect(d(REQUESTS, { route: 'edge', status: '200', cache: 'REVALIDATED' })).toBe(1);
    expect(d(DURATION_COUNT, { route: 'edge', cache: 'REVALIDATED' })).toBe(1);
    expect(d('tagcache_upstream_errors_total')).toBe(0);
  });

  it('counts a revalidation answered with a new 200 as replaced', async () => {
    const [before, after] = await around(rig, () => revalidateReplaced(rig));
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(d('tagcache_revalidations_total', { route: 'edge', result: 'replaced' })).toBe(1);
    expect(d('tagcache_revalidations_total')).toBe(1);
    expect(d(REQUESTS, { route: 'edge', status: '200', cache: 'MISS' })).toBe(2);
  });

  it('counts requests collapsed onto one backend request, and shows them in flight meanwhile', async () => {
    let peak = 0;
    const [before, after] = await around(rig, async () => {
      peak = (await collapsed(rig, 5)).peakInFlight;
    });
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(peak).toBe(5);
    expect(d('tagcache_collapsed_requests_total', { route: 'edge' })).toBe(4);
    expect(d('tagcache_collapsed_requests_total')).toBe(4);
    expect(d(REQUESTS, { route: 'edge', cache: 'HIT' })).toBe(4);
    expect(d(REQUESTS, { route: 'edge', cache: 'MISS' })).toBe(1);
    expect(d(UPSTREAM_COUNT, { route: 'edge' })).toBe(1);
    await expect
      .poll(async () => (await scrape(rig.proxy.adminUrl)).value('tagcache_requests_in_flight'))
      .toBe(0);
  });

  it('counts upstream failures by reason: connect, timeout, reset and 5xx', async () => {
    const [before, after] = await around(rig, () => upstreamFailures(rig));
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    const errors = 'tagcache_upstream_errors_total';
    expect(d(errors, { route: 'down', reason: 'connect' })).toBe(1);
    expect(d(errors, { route: 'slow', reason: 'timeout' })).toBe(1);
    expect(d(errors, { route: 'edge', reason: 'reset' })).toBe(1);
    expect(d(errors, { route: 'edge', reason: '5xx' })).toBe(1);
    expect(d(errors)).toBe(4);
    expect(d(REQUESTS, { route: 'down', method: 'GET', status: '502', cache: 'MISS' })).toBe(1);
    expect(d(REQUESTS, { route: 'slow', method: 'GET', status: '504', cache: 'MISS' })).toBe(1);
    expect(d(REQUESTS, { route: 'edge', method: 'GET', status: '502', cache: 'MISS' })).toBe(1);
    expect(d(REQUESTS, { route: 'edge', method: 'GET', status: '500', cache: 'MISS' })).toBe(1);
    // Only the 500 came with headers: the others have no time-to-headers to observe.
    expect(d(UPSTREAM_COUNT)).toBe(1);
    expect(d(DURATION_COUNT, { route: 'down', cache: 'MISS' })).toBe(1);
  });

  it('counts invalidations by kind and mode, the entries they reached and how long they took', async () => {
    const before = await scrape(rig.proxy.adminUrl);
    const reached = await invalidations(rig);
    const after = await scrape(rig.proxy.adminUrl);
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(reached.tagged).toBe(1);
    expect(reached.url).toBe(1);
    // The step stored two products and purged both, so a soft purge of everything reaches what was there before.
    const stored = before.value('tagcache_memory_store_entries');
    expect(stored).toBeGreaterThan(0);
    expect(reached.all).toBe(stored);

    expect(d('tagcache_invalidations_total', { kind: 'tags', mode: 'hard' })).toBe(1);
    expect(d('tagcache_invalidations_total', { kind: 'urls', mode: 'hard' })).toBe(1);
    expect(d('tagcache_invalidations_total', { kind: 'all', mode: 'soft' })).toBe(1);
    expect(d('tagcache_invalidations_total')).toBe(3);
    expect(d('tagcache_invalidated_entries_total', { kind: 'tags' })).toBe(1);
    expect(d('tagcache_invalidated_entries_total', { kind: 'urls' })).toBe(1);
    expect(d('tagcache_invalidated_entries_total', { kind: 'all' })).toBe(stored);
    for (const kind of ['tags', 'urls', 'all'])
      expect(d('tagcache_invalidation_duration_seconds_count', { kind })).toBe(1);
    // A soft purge keeps the entries (marked stale); the hard ones removed what the step added.
    expect(after.value('tagcache_memory_store_entries')).toBe(stored);
  });

  it('counts the invalidation an unsafe method makes', async () => {
    const [before, after] = await around(rig, () => unsafeMethod(rig));
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(d('tagcache_invalidations_total', { kind: 'method', mode: 'hard' })).toBe(1);
    expect(d('tagcache_invalidated_entries_total', { kind: 'method' })).toBe(1);
    expect(d('tagcache_invalidation_duration_seconds_count', { kind: 'method' })).toBe(1);
    expect(d(REQUESTS, { route: 'product', method: 'POST', status: '204', cache: 'BYPASS' })).toBe(1);
  });

  it('counts route reloads by result', async () => {
    const [before, after] = await around(rig, async () => reloadRoutes(rig));
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(d('tagcache_route_reloads_total', { result: 'success' })).toBe(1);
    expect(d('tagcache_route_reloads_total', { result: 'failure' })).toBe(1);
  });

  it('counts methods outside the known set as OTHER', async () => {
    const [before, after] = await around(rig, async () => {
      const path = freshProduct().path;
      rig.origin.on(path, (req, res) => {
        req.resume();
        res.writeHead(405, { 'cache-control': 'no-store' }).end();
      });
      expect((await fetchRaw(rig.proxy.url + path, { method: 'PROPFIND' })).status).toBe(405);
    });
    expect(delta(before, after, REQUESTS, { route: 'product', method: 'OTHER', status: '405' })).toBe(1);
    expect(after.labelValues(REQUESTS, 'method')).not.toContain('PROPFIND');
  });

  it('keeps labels bounded: route names from routes.json, never raw paths or tags', async () => {
    const m = await scrape(rig.proxy.adminUrl);
    for (const s of m.samples) {
      for (const [label, value] of Object.entries(s.labels)) {
        expect(value, `${s.name}{${label}}`).not.toMatch(/^\//);
        expect(value, `${s.name}{${label}}`).not.toContain(TAG_PREFIX);
        if (label === 'route') expect(ROUTE_NAMES, `${s.name}{route}`).toContain(value);
      }
    }
    expect(m.labelValues(REQUESTS, 'cache').sort()).toEqual([
      'BYPASS',
      'HIT',
      'MISS',
      'REVALIDATED',
      'STALE',
    ]);
    for (const method of m.labelValues(REQUESTS, 'method'))
      expect(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER']).toContain(method);
    for (const status of m.labelValues(REQUESTS, 'status')) expect(status).toMatch(/^[1-5]\d\d$/);
  });

  it('times every counted request: the histogram count per route and cache status equals the counter', async () => {
    const m = await scrape(rig.proxy.adminUrl);
    const pairs = new Set(
      m.samples.filter((s) => s.name === REQUESTS).map((s) => `${s.labels.route}|${s.labels.cache}`),
    );
    expect(pairs.size).toBeGreaterThan(5);
    for (const pair of pairs) {
      const [route = '', cache = ''] = pair.split('|');
      expect(m.value(DURATION_COUNT, { route, cache }), pair).toBe(m.value(REQUESTS, { route, cache }));
    }
    expect(m.value('tagcache_requests_in_flight')).toBe(0);
  });

  it('exports every tagcache metric with HELP and TYPE, and the memory-store ones with samples', async () => {
    const m = await scrape(rig.proxy.adminUrl);
    for (const family of TAGCACHE_FAMILIES) {
      expect(m.types.get(family), family).toBeDefined();
      expect(m.helps.get(family), family).toMatch(/\w/);
    }
    const withoutSamples = TAGCACHE_FAMILIES.filter((f) => {
      const type = m.types.get(f);
      return !m.has(type === 'histogram' ? `${f}_count` : f);
    });
    // Store errors need a store that fails: the Redis suite below moves them.
    expect(withoutSamples).toEqual(['tagcache_store_errors_total']);
  });
});

describe('store metrics on a Redis that dies mid-traffic', () => {
  let redis: TestRedis;
  let rig: Rig;
  beforeAll(async () => {
    redis = await startRedis({ own: true });
    rig = await startRig({
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('obs'),
      // Generous: a slow moment on a busy machine must not count as a store error.
      STORE_TIMEOUT_MS: '1000',
      // Store operations are what is counted here: no local tier answering in front of Redis.
      LOCAL_TIER_TTL_MS: '0',
    });
  });
  afterAll(async () => {
    await rig?.close();
    await redis?.stop();
  });

  it('times store operations by operation while Redis answers', async () => {
    const ops = 'tagcache_store_operation_duration_seconds_count';
    const before = await scrape(rig.proxy.adminUrl);
    const { path } = freshProduct();
    rig.origin.on(path, respond(200, { 'cache-control': 'max-age=60' }));
    expect((await rig.get(path)).headers['x-cache']).toBe('MISS');
    // The entry is written after the client has its answer: wait for the write before reading again.
    await expect
      .poll(async () => delta(before, await scrape(rig.proxy.adminUrl), ops, { operation: 'put' }))
      .toBe(1);
    expect((await rig.get(path)).headers['x-cache']).toBe('HIT');
    const after = await scrape(rig.proxy.adminUrl);
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    // A lookup may read a vary marker as well as the entry.
    expect(d(ops, { operation: 'get' })).toBeGreaterThanOrEqual(2);
    expect(d(ops, { operation: 'put' })).toBe(1);
    expect(d('tagcache_store_errors_total')).toBe(0);
    expect(d(REQUESTS, { route: 'product', cache: 'HIT' })).toBe(1);
    // Not a memory store: its gauges stay at zero.
    expect(after.value('tagcache_memory_store_entries')).toBe(0);
  });

  it('counts store errors by operation and keeps answering from the backend', async () => {
    await redis.kill();
    const before = await scrape(rig.proxy.adminUrl);
    const [path] = await hitsAndMisses(rig, 1, 0);
    if (path === undefined) throw new Error('no product was read');
    await expect
      .poll(async () =>
        delta(before, await scrape(rig.proxy.adminUrl), 'tagcache_store_errors_total', { operation: 'put' }),
      )
      .toBe(1);
    rig.origin.on(path, (req, res) => {
      req.resume();
      res.writeHead(204).end();
    });
    expect((await fetchRaw(rig.proxy.url + path, { method: 'POST', body: 'x' })).status).toBe(204);
    const after = await scrape(rig.proxy.adminUrl);
    const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
    expect(d('tagcache_store_errors_total', { operation: 'get' })).toBeGreaterThanOrEqual(1);
    expect(d('tagcache_store_errors_total', { operation: 'invalidate' })).toBe(1);
    expect(d(REQUESTS, { route: 'product', status: '200', cache: 'MISS' })).toBe(1);
  });
});
