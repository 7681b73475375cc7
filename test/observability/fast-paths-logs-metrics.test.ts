import { AggregatorRegistry, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/modules/metrics/registry.js';
import type { CacheStatus } from '../../src/modules/pipeline/context.js';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';

/**
 * The `access-log` and `metrics` fast paths against pino's public API and
 * prom-client's own metrics: the same traffic through a proxy with
 * FAST_PATHS=on and one with FAST_PATHS=off must log the same lines and
 * expose the same /metrics.
 */

/** The same requests, in the same order, each with its own id so lines can be paired. */
async function traffic(proxy: RunningProxy, tag: string): Promise<void> {
  const send = (path: string, id: string, method = 'GET') =>
    fetchRaw(`${proxy.url}${path}`, { method, headers: { 'x-request-id': `${tag}-${id}` } });
  await send('/cached', 'miss');
  await send('/cached', 'hit');
  await send('/cached', 'head', 'HEAD');
  await send('/private', 'pass');
  await send('/missing', 'notfound');
  await send('/broken', 'fail');
  await send('/odd%20path/"quoted"\\', 'odd');
  await send('/cached', 'other-method', 'PROPFIND');
}

describe('FAST_PATHS access-log and metrics: hand-rolled vs the libraries', () => {
  let origin: Origin;
  let fast: RunningProxy;
  let plain: RunningProxy;

  beforeAll(async () => {
    origin = await startOrigin();
    origin.on('/cached', respond(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }));
    origin.on('/private', respond(200, { 'cache-control': 'private' }));
    origin.on('/broken', respond(503, { 'cache-control': 'no-store' }));
    origin.on('/odd%20path/"quoted"\\', respond(200, { 'cache-control': 'no-store' }));
    const env = { UPSTREAM_URL: origin.url, COMPRESSION: 'off', LOG_LEVEL: 'info' };
    fast = await startProxy({ ...env, FAST_PATHS: 'on' });
    plain = await startProxy({ ...env, FAST_PATHS: 'off' });
    await traffic(fast, 'r');
    await traffic(plain, 'r');
  });

  afterAll(async () => {
    await fast?.close();
    await plain?.close();
    await origin?.close();
  });

  /** Access lines with what differs between two runs (time, durations, process) named rather than valued. */
  function accessLines(proxy: RunningProxy): Record<string, unknown>[] {
    return proxy.lines
      .filter((l) => l.msg === 'request')
      .map((l) => {
        const keys = Object.keys(l);
        return {
          ...l,
          keys,
          time: typeof l.time,
          ms: typeof l.ms,
          upstreamMs: typeof l.upstreamMs,
          upstream: typeof l.upstream,
        };
      });
  }

  it('writes the same access lines, fields in the same order', async () => {
    // The fast path writes in batches: wait for all eight lines.
    await expect.poll(() => accessLines(fast).map((l) => l.id)).toHaveLength(8);
    await expect.poll(() => accessLines(plain).length).toBe(8);
    const a = accessLines(fast);
    const b = accessLines(plain);
    expect(a).toEqual(b);
    expect(a.map((l) => [l.id, l.level, l.status])).toEqual([
      ['r-miss', 'info', 200],
      ['r-hit', 'info', 200],
      ['r-head', 'info', 200],
      ['r-pass', 'info', 200],
      ['r-notfound', 'info', 404],
      ['r-fail', 'error', 503],
      ['r-odd', 'info', 404],
      ['r-other-method', 'info', 200],
    ]);
    for (const line of fast.lines.filter((l) => l.msg === 'request'))
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  /** The request metrics' exposition, durations' sums and bucket spreads named rather than valued. */
  async function requestMetrics(proxy: RunningProxy): Promise<string[]> {
    const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => /tagcache_request(s_total|s_in_flight|_duration_seconds)/.test(l))
      .map((l) =>
        l.startsWith('tagcache_request_duration_seconds_bucket') ||
        l.startsWith('tagcache_request_duration_seconds_sum')
          ? l.replace(/ [\d.e+-]+$/, ' V')
          : l,
      );
  }

  it('exposes the same request metrics after the same traffic', async () => {
    const a = await requestMetrics(fast);
    const b = await requestMetrics(plain);
    expect(a).toEqual(b);
    expect(a.filter((l) => l.includes('method="OTHER"'))).toHaveLength(1);
    expect(a).toContain('tagcache_request_duration_seconds_count{route="all",cache="HIT"} 2');
    expect(a.some((l) => l.startsWith('tagcache_requests_in_flight'))).toBe(true);
  });

  it('exposes the same text, bucket by bucket, for the same recorded durations, alone and aggregated', async () => {
    const record = (m: ReturnType<typeof createMetrics>) => {
      const seen: [string, string, number, CacheStatus, number][] = [
        ['a', 'GET', 200, 'HIT', 0.00005],
        ['a', 'GET', 200, 'HIT', 0.0001],
        ['a', 'GET', 200, 'MISS', 0.3],
        ['b', 'POST', 502, 'BYPASS', 31],
        ['a', 'PURGE', 405, 'MISS', 0.001],
        ['a', 'GET', 200, 'HIT', 0.0025],
      ];
      for (const s of seen) m.requests.record(...s);
      for (const [route, seconds] of [
        ['a', 0.002],
        ['b', 40],
        ['a', 0.0001],
      ] as const)
        m.upstreamDuration.labels(route).observe(seconds);
      for (const [operation, seconds] of [
        ['get', 0.0003],
        ['get', 0.00002],
        ['put', 0.004],
      ] as const)
        m.storeDuration.labels(operation).observe(seconds);
      m.storedTtl.labels('a').observe(3600);
      m.storedTtl.labels('b').observe(0);
      m.storedBytes.labels('a').observe(1024);
      m.storedBytes.labels('a').observe(20_000_000);
      m.inFlight.inc();
      m.inFlight.inc();
      m.inFlight.dec();
    };
    const fastMetrics = createMetrics(new Registry(), { defaults: false, fast: true });
    const plainMetrics = createMetrics(new Registry(), { defaults: false, fast: false });
    record(fastMetrics);
    record(plainMetrics);
    const text = await fastMetrics.registry.metrics();
    expect(text).toBe(await plainMetrics.registry.metrics());
    expect(text).toContain('tagcache_upstream_duration_seconds_count{route="a"} 2');
    expect(text).toContain('tagcache_store_operation_duration_seconds_count{operation="get"} 2');
    expect(text).toContain('tagcache_stored_bytes_bucket{le="+Inf",route="a"} 2');
    expect(text).toContain('tagcache_stored_ttl_seconds_count{route="b"} 1');
    // A cluster's primary sums what each worker's registry reports.
    const fastJson = await fastMetrics.registry.getMetricsAsJSON();
    const plainJson = await plainMetrics.registry.getMetricsAsJSON();
    const fastSum = await AggregatorRegistry.aggregate([fastJson, fastJson]).metrics();
    const plainSum = await AggregatorRegistry.aggregate([plainJson, plainJson]).metrics();
    expect(fastSum).toBe(plainSum);
    expect(fastSum).toContain('tagcache_requests_in_flight 2');
  });
});
