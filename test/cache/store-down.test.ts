import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';

describe('the store failing mid-traffic', () => {
  let origin: Origin;
  let redis: TestRedis;
  let proxy: RunningProxy;
  beforeAll(async () => {
    origin = await startOrigin();
    redis = await startRedis({ own: true });
    proxy = await startProxy({
      UPSTREAM_URL: origin.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('down'),
      STORE_TIMEOUT_MS: '200',
    });
  });
  afterAll(async () => {
    await proxy.close();
    await redis.stop();
    await origin.close();
  });

  it('keeps answering from the backend while Redis is down, and caches again once it is back', async () => {
    origin.on('/item', respond(200, { 'cache-control': 'max-age=600' }));
    await fetchRaw(`${proxy.url}/item`);
    expect((await fetchRaw(`${proxy.url}/item`)).headers['x-cache']).toBe('HIT');

    await redis.kill();
    const during = await Promise.all(Array.from({ length: 20 }, () => fetchRaw(`${proxy.url}/item`)));
    expect(during.map((r) => r.status)).toEqual(Array(20).fill(200));
    // One went to the backend; the rest were collapsed onto it (the store was not needed for that).
    expect(during.filter((r) => r.headers['x-cache'] === 'MISS').length).toBeGreaterThanOrEqual(1);
    await expect.poll(() => proxy.lines.some((l) => l.msg.includes('fail open'))).toBe(true);
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tagcache_store_errors_total\{operation="get"\} [1-9]/);
    // Reported, not failed: every instance sharing this Redis would otherwise leave the balancer at once.
    const ready = await fetch(`${proxy.adminUrl}/health/ready`);
    expect(ready.status).toBe(200);
    const report = (await ready.json()) as { status: string; checks: { store: { ok: boolean } } };
    expect(report.status).toBe('degraded');
    expect(report.checks.store.ok).toBe(false);

    await redis.restart();
    // The same process, no restart: the next miss is stored and the one after is a hit.
    await expect
      .poll(async () => (await fetchRaw(`${proxy.url}/item`)).headers['x-cache'], { timeout: 15_000 })
      .toBe('HIT');
  });
});
