import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServerBinary } from '../../bench/support/redis-server.js';
import { fetchRaw } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';

const canOwnRedis = await hasRedisServerBinary();

async function inFlight(proxy: RunningProxy): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return Number(/^tagcache_requests_in_flight (\d+)/m.exec(text)?.[1] ?? -1);
}

/**
 * A Redis slow to take writes (CLIENT PAUSE WRITE on a server of its own) holds
 * a miss's collapse flight open after its client has the answer: what the store
 * write of a loaded machine does for a few milliseconds, held here for as long
 * as the test needs.
 */
describe.skipIf(!canOwnRedis)('collapsing while the store write of a miss is slow', () => {
  let redis: TestRedis;
  let admin: Redis;
  let origin: Origin;
  let proxy: RunningProxy;
  beforeAll(async () => {
    redis = await startRedis({ own: true });
    admin = new Redis(redis.url);
    origin = await startOrigin();
    proxy = await startProxy({
      UPSTREAM_URL: origin.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('slowput'),
      // The paused write must wait for the unpause, not time out.
      STORE_TIMEOUT_MS: '20000',
    });
  });
  afterAll(async () => {
    await admin?.call('CLIENT', 'UNPAUSE').catch(() => undefined);
    admin?.disconnect();
    await proxy?.close();
    await origin?.close();
    await redis?.stop();
  });

  it('collapses the revalidations of an entry stale on arrival while it is still being written', async () => {
    const p = '/stale-on-arrival';
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    origin.on(p, (_req, res, c) => {
      const send = () =>
        res
          .writeHead(200, { 'cache-control': c === 1 ? 'max-age=0' : 'max-age=60', etag: `"${c}"` })
          .end(`body #${c}`);
      if (c > 1) return void gate.then(send);
      // The miss holds its fill lease by now; its entry's write to Redis waits for the unpause.
      void admin.call('CLIENT', 'PAUSE', '20000', 'WRITE').then(send);
    });
    const first = await fetchRaw(proxy.url + p);
    expect(first.text()).toBe('body #1');
    // The near tier has the stale copy: these revalidate, while the miss's flight is still open.
    const all = Promise.all(Array.from({ length: 20 }, () => fetchRaw(proxy.url + p)));
    await expect.poll(() => inFlight(proxy)).toBe(20);
    await admin.call('CLIENT', 'UNPAUSE');
    await expect.poll(() => origin.count(p)).toBeGreaterThanOrEqual(2);
    release();
    const answers = await all;
    expect(origin.count(p)).toBe(2);
    expect(answers.every((a) => a.text() === 'body #2')).toBe(true);
  });
});
