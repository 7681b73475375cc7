import { expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { respond } from '../support/origin.js';
import { describeCache, POLL } from './stores.js';

// A Redis of the suite's own: these tests kill it and start it again.
describeCache(
  'the store failing mid-traffic',
  { stores: ['redis', 'redis without the local tier'], ownRedis: true, env: { STORE_TIMEOUT_MS: '200' } },
  (h) => {
    it('keeps answering from the backend while Redis is down, and caches again once it is back', async () => {
      h.origin.on('/item', respond(200, { 'cache-control': 'max-age=600' }));
      await fetchRaw(`${h.proxy.url}/item`);
      expect((await fetchRaw(`${h.proxy.url}/item`)).headers['x-cache']).toBe('HIT');

      await h.redis.kill();
      if (h.store.name === 'redis') {
        // Until this instance sees its subscriber drop, its local tier still answers (it cannot know
        // sooner); the test is about what follows, so it waits for the tier to be emptied.
        await expect
          .poll(() => h.proxy.lines.some((l) => l.msg.includes('local tier emptied')), POLL)
          .toBe(true);
      }
      const during = await Promise.all(Array.from({ length: 20 }, () => fetchRaw(`${h.proxy.url}/item`)));
      expect(during.map((r) => r.status)).toEqual(Array(20).fill(200));
      // One went to the backend; the rest were collapsed onto it (the store was not needed for that).
      expect(during.filter((r) => r.headers['x-cache'] === 'MISS').length).toBeGreaterThanOrEqual(1);
      await expect.poll(() => h.proxy.lines.some((l) => l.msg.includes('fail open')), POLL).toBe(true);
      const metrics = await (await fetch(`${h.proxy.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/tagcache_store_errors_total\{operation="get"\} [1-9]/);
      // Reported, not failed: every instance sharing this Redis would otherwise leave the balancer at once.
      const ready = await fetch(`${h.proxy.adminUrl}/health/ready`);
      expect(ready.status).toBe(200);
      const report = (await ready.json()) as { status: string; checks: { store: { ok: boolean } } };
      expect(report.status).toBe('degraded');
      expect(report.checks.store.ok).toBe(false);

      await h.redis.restart();
      // The same process, no restart: the next miss is stored and the one after is a hit.
      await expect
        .poll(async () => (await fetchRaw(`${h.proxy.url}/item`)).headers['x-cache'], { timeout: 15_000 })
        .toBe('HIT');
    });
  },
);
