import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrape, sumOf } from '../core/prom.js';
import { fetchRaw } from '../support/http.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';
import {
  type Backend,
  type LoadResult,
  median,
  page,
  report,
  send,
  startBackend,
  steadyLoad,
} from './support.js';

let redis: TestRedis;
let b: Backend;
let proxy: RunningProxy;

beforeAll(async () => {
  redis = await startRedis({ own: true });
  b = await startBackend(page('max-age=60'));
  proxy = await startProxy({
    UPSTREAM_URL: b.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: uniquePrefix('store-breaker'),
    STORE_TIMEOUT_MS: '200',
    STORE_BREAKER_FAILURES: '3',
    STORE_BREAKER_OPEN_MS: '500',
    // Every read must reach Redis here; the local tier (which would answer hits through the outage) has its own suite.
    LOCAL_TIER_TTL_MS: '0',
    ACCESS_LOG: 'off',
  });
});
afterAll(async () => {
  await proxy?.close();
  await b?.close();
  await redis?.stop();
});

async function storeCircuit(): Promise<string> {
  const body = JSON.parse((await fetchRaw(`${proxy.adminUrl}/health/ready`)).text()) as {
    checks: { store: { circuit?: string } };
  };
  return body.checks.store.circuit ?? 'none';
}

describe('Redis killed and restarted under load', () => {
  it('fails no client request, and caches again without a restart', async () => {
    const keys = Array.from({ length: 10 }, (_, i) => `/item/${i}`);
    for (const key of keys) await send(`${proxy.url}${key}`);
    let stop = false;
    let n = 0;
    const seen: LoadResult<'item'>[] = [];
    const load = steadyLoad({
      workers: 6,
      timeoutMs: 3_000,
      until: () => stop,
      next: () => ({ url: `${proxy.url}${keys[n++ % keys.length]}`, label: 'item' }),
      results: seen,
    });
    // Driven by what the load has seen, not by the clock: a loaded machine only takes longer.
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBeGreaterThan(20);
    const killedAt = performance.now();
    await redis.kill();
    // The outage lasts until the store circuit opened and more than 50 requests were answered inside it.
    await expect
      .poll(
        async () => (await storeCircuit()) === 'open' && seen.filter((r) => r.at >= killedAt).length > 50,
        { timeout: 20_000, interval: 100 },
      )
      .toBe(true);
    const openDuringOutage = await storeCircuit();
    await redis.restart();
    const restartedAt = performance.now();
    // A HIT from the store, not one collapsed onto a concurrent miss (that needs no store).
    await expect
      .poll(
        async () => {
          const o = await send(`${proxy.url}${keys[0]}`, { timeoutMs: 3_000 });
          return (
            o.kind === 'answer' &&
            o.headers['x-cache'] === 'HIT' &&
            !String(o.headers['cache-status']).includes('collapsed')
          );
        },
        { timeout: 15_000, interval: 25 },
      )
      .toBe(true);
    const hitAt = performance.now();
    stop = true;
    const results = await load;
    const failed = results.filter((r) => r.outcome.kind !== 'answer' || r.outcome.status !== 200);
    const outage = results.filter((r) => r.at >= killedAt && r.at < restartedAt);
    const msOf = (rs: typeof results) =>
      rs.flatMap((r) => (r.outcome.kind === 'answer' ? [r.outcome.ms] : []));
    const outageMs = msOf(outage);
    const transitions = proxy.lines
      .filter((l) => l.msg.startsWith('store circuit'))
      .map((l) => l.msg.split(';')[0]);
    report('redis killed under load', {
      store_circuit: transitions.join(' > '),
      requests: results.length,
      failed: failed.length,
      before_median_ms: median(msOf(results.filter((r) => r.at < killedAt))),
      during_outage: outage.length,
      outage_median_ms: median(outageMs),
      outage_max_ms: Math.max(...outageMs),
      redis_back_to_hit_ms: hitAt - restartedAt,
    });
    expect(failed).toEqual([]);
    expect(outage.length).toBeGreaterThan(50);
    expect(openDuringOutage).toBe('open');
    expect(await storeCircuit()).toBe('closed');
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_store_circuit_transitions_total', { to: 'open' })).toBeGreaterThan(0);
    expect(sumOf(metrics, 'tagcache_store_circuit_state')).toBe(0);
  }, 40_000);
});
