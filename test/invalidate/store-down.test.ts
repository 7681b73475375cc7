import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createRedisStore } from '../../src/modules/store/redis-store.js';
import type { Store } from '../../src/modules/store/types.js';
import { startRedis, uniquePrefix } from '../support/redis.js';
import { type AdminServer, json, startAdmin } from './admin-server.js';

/** A loopback port with nothing listening on it: taken, then given back. */
async function deadPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs `body` against an admin server over `store`, closing both after. */
async function withAdmin(store: Store, body: (admin: AdminServer) => Promise<void>): Promise<void> {
  const admin = await startAdmin(store);
  try {
    await body(admin);
  } finally {
    await admin.close();
    await store.close();
  }
}

describe('POST /invalidate when the store is down', () => {
  it('answers 503 saying the store is unavailable, for every kind, and keeps serving', async () => {
    const url = `redis://127.0.0.1:${await deadPort()}`;
    const store = createRedisStore({ url, prefix: uniquePrefix('invalidate'), commandTimeoutMs: 200 });
    await withAdmin(store, async (admin) => {
      for (const body of [
        '{"tags":["product:1"]}',
        '{"urls":["https://shop.example/products/1"]}',
        '{"all":true}',
      ]) {
        const res = await admin.post(body);
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBe('5');
        const answer = json(res);
        expect(answer.error).toMatch(/^TC_STORE_(UNAVAILABLE|TIMEOUT)$/);
        expect(answer.message).toMatch(
          /^the store is unavailable, so the invalidation may not have been carried out \(redis store: .+\); retry it$/,
        );
      }
      expect(admin.lines.filter((l) => l.level === 'error' && l.msg === 'invalidation failed')).toHaveLength(
        3,
      );
      // Nothing was counted as carried out.
      expect((await admin.metrics.invalidations.get()).values).toEqual([]);
    });
  });

  it('recovers once a Redis that died mid-traffic is back', async () => {
    const redis = await startRedis({ own: true });
    const store = createRedisStore({
      url: redis.url,
      prefix: uniquePrefix('invalidate'),
      commandTimeoutMs: 500,
    });
    try {
      await withAdmin(store, async (admin) => {
        const purge = () => admin.post('{"tags":["product:1"]}');
        expect((await purge()).status).toBe(200);
        await redis.kill();
        const down = await purge();
        expect(down.status).toBe(503);
        expect(json(down).error).toMatch(/^TC_STORE_/);
        await redis.restart();
        await expect.poll(async () => (await purge()).status, { timeout: 15_000, interval: 200 }).toBe(200);
      });
    } finally {
      await redis.stop();
    }
  });
});
