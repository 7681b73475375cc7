import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServerBinary } from '../../bench/support/redis-server.js';
import { createRedisKeys } from '../../src/modules/store/redis-keys.js';
import { createRedisStore, type RedisStoreOptions } from '../../src/modules/store/redis-store.js';
import type { InvalidationEvent, Store } from '../../src/modules/store/types.js';
import { isTagcacheError } from '../../src/utils/errors.js';
import { refusedPort } from '../support/ports.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';
import { makeEntry } from './entries.js';
import { checkIndexStaysBounded } from './redis-index-bounds.js';
import { storeContract } from './store-contract.js';

let redis: TestRedis;
let raw: Redis;
const prefixes = new WeakMap<Store, string>();
const canOwnRedis = await hasRedisServerBinary();

beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url, { lazyConnect: true });
  await raw.connect();
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});

async function open(prefix = uniquePrefix('redis'), more: Partial<RedisStoreOptions> = {}) {
  const store = createRedisStore({ url: redis.url, prefix, commandTimeoutMs: 2_000, ...more });
  prefixes.set(store, prefix);
  await expect.poll(() => isUp(store), { timeout: 10_000 }).toBe(true);
  return store;
}

/** SCAN, not KEYS: REDIS_URL may name a Redis others use. */
async function scanCount(pattern: string): Promise<number> {
  let count = 0;
  const batches = raw.scanStream({ match: pattern, count: 1_000 }) as AsyncIterable<string[]>;
  for await (const keys of batches) count += keys.length;
  return count;
}

const isUp = (store: Store) =>
  store.ping().then(
    () => true,
    () => false,
  );
const isStoreError = (err: unknown) =>
  isTagcacheError(err, 'TC_STORE_UNAVAILABLE') || isTagcacheError(err, 'TC_STORE_TIMEOUT');

storeContract('single Redis', (settings) => open(undefined, settings), {
  bigTagEntries: 100_000,
  openPeer: (first) => {
    const prefix = prefixes.get(first);
    if (prefix === undefined) throw new Error('openPeer: the first store was not opened by this file');
    return open(prefix);
  },
});

describe('single Redis store', () => {
  it('keeps a hot tag index bounded while entries expire and new ones arrive', async () => {
    const prefix = uniquePrefix('bounds');
    const store = await open(prefix, { indexGraceMs: 200 });
    await checkIndexStaysBounded(
      store,
      {
        zcard: (key) => raw.zcard(key),
        countKeys: scanCount,
      },
      {
        prefix,
        tagIndex: createRedisKeys(prefix).tag('hot').index,
        pathIndexes: [
          createRedisKeys(prefix).site('https://churn.example').lex,
          createRedisKeys(prefix).site('https://churn.example').expiry,
        ],
      },
    );
    await store.close();
  });

  it('leaves one expiring tombstone per purged tag and key, beside the data and outside a purge of everything', async () => {
    const prefix = uniquePrefix('tombstone');
    const store = await open(prefix, { tombstoneMs: 30_000 });
    const keys = createRedisKeys(prefix);
    const purgedAt = Date.now();
    await store.invalidate({ kind: 'tags', tags: ['news', 'sport'] }, 'hard');
    await store.invalidate({ kind: 'tags', tags: ['news'] }, 'soft');
    await store.invalidate({ kind: 'keys', keys: ['GET https://shop.example/'] }, 'soft');
    await store.invalidate({ kind: 'all' }, 'hard');
    const news = await raw.get(keys.tag('news').tombstone);
    const [hardAt, softAt] = (news ?? '').split('|').map(Number);
    expect(hardAt).toBeGreaterThanOrEqual(purgedAt);
    expect(softAt).toBeGreaterThanOrEqual(hardAt ?? 0);
    expect(await raw.get(keys.tag('sport').tombstone)).toMatch(/^\d+\|0$/);
    expect(await raw.get(keys.urlKey('GET https://shop.example/').tombstone)).toMatch(/^0\|\d+$/);
    expect(await raw.get(keys.allTombstone)).toMatch(/^\d+\|0$/);
    for (const key of [keys.tag('news').tombstone, keys.allTombstone]) {
      const ttl = await raw.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30_000);
    }
    expect(await scanCount(`${prefix}x:*`)).toBe(4);
    await store.close();
  });

  it('returns every string as stored: long ones, ones JSON escapes, lone surrogates, non-ASCII', async () => {
    const store = await open(uniquePrefix('strings'));
    const policy = JSON.stringify({
      v: 1,
      resh: { 'cache-control': 'max-age=60', etag: '"abc"' },
      u: '/x'.repeat(50),
    });
    const entry = makeEntry('strings', {
      key: `strings?q=${'\u00e9'.repeat(70)}`,
      headers: {
        'content-type': 'text/plain; charset="utf-8"',
        link: Array.from({ length: 4 }, (_, i) => `</p${i}>; rel="preload"`),
        'x-long': 'v'.repeat(200),
        'x-ctl': 'a\tb\\c',
      },
      policy,
      tags: [
        'caf\u00e9',
        '\ud83d\ude00 emoji',
        'lone \ud800 surrogate',
        `${'\ud83d'.repeat(40)} lone and long`,
      ],
      url: `https://shop.example/${'\u4e2d'.repeat(30)}`,
    });
    await store.put(entry, 60_000);
    const { body, ...rest } = entry;
    const found = await store.get('strings');
    expect(found).toMatchObject(rest);
    expect(found?.body.equals(body)).toBe(true);
    await store.close();
  });

  it('reads an entry of another format version as a miss', async () => {
    const prefix = uniquePrefix('version');
    const store = await open(prefix);
    const key = createRedisKeys(prefix).entry('page');
    await store.put(makeEntry('page'), 60_000);
    expect(await store.get('page')).toBeDefined();
    // A later version's blob, or one cut short: misses, never errors.
    const blob = (await raw.hgetBuffer(key, 'd')) as Buffer;
    await raw.hset(key, 'd', Buffer.concat([Buffer.from([0x74, 0x63, 0x03, 0x00]), blob.subarray(4)]));
    expect(await store.get('page')).toBeUndefined();
    await raw.hset(key, 'd', blob.subarray(0, blob.length - 1));
    expect(await store.get('page')).toBeUndefined();
    await raw.hset(key, 'd', blob);
    expect((await store.get('page'))?.body.toString()).toBe('body of page');
    await store.close();
  });

  it('shares a read of an id within a turn, but never answers a get sent after a write with one sent before it', async () => {
    const store = await open();
    await store.put(makeEntry('shared'), 60_000);
    const first = store.get('shared');
    const second = store.get('shared');
    expect(second).toBe(first);
    const deleted = store.delete('shared');
    const after = store.get('shared');
    expect((await first)?.id).toBe('shared');
    expect(await deleted).toBe(true);
    expect(await after).toBeUndefined();
    await store.close();
  });

  it('reads the same entries with the redis fast path off (client.hmgetBuffer) as with it on', async () => {
    const prefix = uniquePrefix('fast-commands');
    const fast = await open(prefix);
    const plain = await open(prefix, { fastCommands: false });
    const entry = makeEntry('both', { tags: ['a', 'b'], headers: { link: ['</a>', '</b>'] } });
    await fast.put(entry, 60_000);
    const [viaFast, viaPlain] = await Promise.all([fast.get('both'), plain.get('both')]);
    const { body, ...rest } = entry;
    expect(viaFast).toMatchObject(rest);
    expect(viaPlain).toEqual(viaFast);
    expect(viaPlain?.body.equals(body)).toBe(true);
    expect(await plain.get('absent')).toBeUndefined();
    expect(await fast.get('absent')).toBeUndefined();
    await Promise.all([fast.close(), plain.close()]);
  });

  it("reads version 1's entries as misses and overwrites them, and tells version 1 its entries are not its own", async () => {
    const prefix = uniquePrefix('version1');
    const store = await open(prefix);
    const key = createRedisKeys(prefix).entry('old');
    // The hash layout version 1 wrote: one field per entry field.
    await raw.hset(key, {
      v: '1',
      id: 'old',
      key: 'old',
      status: '200',
      headers: '{"content-type":"text/plain"}',
      body: 'old body',
      policy: '{"v":1}',
      tags: '[]',
      url: 'https://shop.example/old',
      route: 'other',
      storedAt: String(Date.now()),
      softPurgedAt: '0',
    });
    expect(await store.get('old')).toBeUndefined();
    await store.put(makeEntry('old'), 60_000);
    expect((await store.get('old'))?.body.toString()).toBe('body of old');
    // Version 1 read `v` first and took anything but "1" as a miss.
    expect(await raw.hget(key, 'v')).not.toBe('1');
    expect(await raw.hexists(key, 'id')).toBe(0);
    await store.close();
  });

  it('fails fast with TC_STORE_UNAVAILABLE when nothing listens', async () => {
    const store = createRedisStore({
      url: `redis://127.0.0.1:${await refusedPort()}`,
      prefix: 'x:',
      commandTimeoutMs: 300,
    });
    await expect(store.get('a')).rejects.toMatchObject({ code: 'TC_STORE_UNAVAILABLE', status: 503 });
    await expect(store.put(makeEntry('a'), 1_000)).rejects.toMatchObject({ code: 'TC_STORE_UNAVAILABLE' });
    await expect(store.ping()).rejects.toMatchObject({ code: 'TC_STORE_UNAVAILABLE' });
    await store.close();
    await expect(store.get('a')).rejects.toMatchObject({ code: 'TC_STORE_UNAVAILABLE' });
  });

  describe.skipIf(!canOwnRedis)('with a Redis of its own', () => {
    let own: TestRedis;
    beforeAll(async () => {
      own = await startRedis({ own: true });
    });
    afterAll(() => own?.stop());

    const openOwn = async () => {
      const store = createRedisStore({ url: own.url, prefix: uniquePrefix('own'), commandTimeoutMs: 300 });
      await expect.poll(() => isUp(store), { timeout: 10_000 }).toBe(true);
      return store;
    };

    it('times out with TC_STORE_TIMEOUT while Redis stalls', async () => {
      const store = await openOwn();
      const admin = new Redis(own.url);
      await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
      await expect(store.get('a')).rejects.toMatchObject({ code: 'TC_STORE_TIMEOUT', status: 503 });
      admin.disconnect();
      await expect.poll(() => isUp(store), { timeout: 5_000 }).toBe(true);
      await store.close();
    });

    it('fails with typed errors when Redis dies mid-traffic and works again once it is back', async () => {
      const store = await openOwn();
      const heard: InvalidationEvent[] = [];
      store.onInvalidation((event) => heard.push(event));
      const failures: unknown[] = [];
      let successes = 0;
      let running = true;
      const traffic = (async () => {
        for (let i = 0; running; i++) {
          try {
            await store.put(makeEntry(`t${i}`, { tags: ['traffic'] }), 60_000);
            await store.get(`t${i}`);
            successes++;
          } catch (err) {
            failures.push(err);
          }
          await delay(2); // a steady request stream; failures are immediate and must not spin the loop
        }
      })();
      await expect.poll(() => successes).toBeGreaterThan(20);
      await own.kill();
      await expect.poll(() => failures.length, { timeout: 10_000 }).toBeGreaterThan(10);
      await expect(store.ping()).rejects.toSatisfy(isStoreError);
      await expect(store.invalidate({ kind: 'tags', tags: ['traffic'] }, 'hard')).rejects.toSatisfy(
        isStoreError,
      );

      await own.restart();
      await expect.poll(() => isUp(store), { timeout: 15_000, interval: 100 }).toBe(true);
      const before = successes;
      await expect.poll(() => successes, { timeout: 10_000 }).toBeGreaterThan(before + 20);
      running = false;
      await traffic;
      expect(failures.filter((err) => !isStoreError(err))).toEqual([]);

      // The subscriber reconnected and subscribed again.
      await expect
        .poll(
          async () => {
            await store.invalidate({ kind: 'tags', tags: ['after-restart'] }, 'soft');
            return heard.some(
              (event) => event.target.kind === 'tags' && event.target.tags[0] === 'after-restart',
            );
          },
          { timeout: 15_000, interval: 200 },
        )
        .toBe(true);
      await store.close();
    });
  });
});
