import { setTimeout as delay } from 'node:timers/promises';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisConnection } from '../../src/modules/store/redis-connection.js';
import { createRedisKeys } from '../../src/modules/store/redis-keys.js';
import { putEntry } from '../../src/modules/store/redis-put.js';
import { keySlot } from '../../src/modules/store/redis-slots.js';
import { createRedisStore, type RedisStoreOptions } from '../../src/modules/store/redis-store.js';
import type { InvalidationMode, InvalidationTarget, Store } from '../../src/modules/store/types.js';
import { isTagcacheError } from '../../src/utils/errors.js';
import { startRedisCluster, type TestRedisCluster, uniquePrefix } from '../support/redis.js';
import { makeEntry } from './entries.js';
import { checkIndexStaysBounded } from './redis-index-bounds.js';
import { storeContract } from './store-contract.js';

let cluster: TestRedisCluster;
let raw: Cluster;
const prefixes = new WeakMap<Store, string>();

beforeAll(async () => {
  cluster = await startRedisCluster();
  raw = new Cluster(cluster.nodes);
  await raw.ping();
});
afterAll(async () => {
  raw?.disconnect();
  await cluster?.stop();
});

async function open(prefix = uniquePrefix('cluster'), more: Partial<RedisStoreOptions> = {}) {
  const store = createRedisStore({ clusterNodes: cluster.nodes, prefix, commandTimeoutMs: 2_000, ...more });
  prefixes.set(store, prefix);
  await expect
    .poll(
      () =>
        store.ping().then(
          () => true,
          () => false,
        ),
      { timeout: 10_000 },
    )
    .toBe(true);
  return store;
}

const isStoreError = (err: unknown) =>
  isTagcacheError(err, 'TC_STORE_UNAVAILABLE') || isTagcacheError(err, 'TC_STORE_TIMEOUT');

/** Keys matching a pattern on every master: a Cluster SCAN is per node. */
async function countKeys(pattern: string): Promise<number> {
  const counts = await Promise.all(
    raw.nodes('master').map(async (node: Redis) => (await node.keys(pattern)).length),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}

storeContract('Redis Cluster', (settings) => open(undefined, settings), {
  // Each put is three steps here (memberships, entry, memberships): 20k keeps the file well under a minute.
  bigTagEntries: 20_000,
  openPeer: (first) => {
    const prefix = prefixes.get(first);
    if (prefix === undefined) throw new Error('openPeer: the first store was not opened by this file');
    return open(prefix);
  },
});

describe('Redis Cluster store', () => {
  it('computes the slot Redis computes, hash tags included', async () => {
    const keys = ['tc:e:abc', 'tc:t:{x}y', '{tc}:e:1', 'a{}b', '{', 'foo{bar}{zap}', 'grüße', ''];
    for (const key of keys) {
      const node = raw.nodes('master')[0];
      expect(keySlot(key)).toBe(Number(await node?.call('CLUSTER', 'KEYSLOT', key)));
    }
  });

  it('keeps each tag and URL key tombstone in its index slot, where the put reads it', async () => {
    const keys = createRedisKeys(uniquePrefix('slots'));
    const refs = [
      ...['news', '{slot}', 'grüße', 'x'.repeat(1024)].map((tag) => keys.tag(tag)),
      keys.urlKey('GET https://shop.example/'),
    ];
    for (const ref of refs) expect(keySlot(ref.tombstone)).toBe(keySlot(ref.index));
    const braced = createRedisKeys('{tc}:').tag('news');
    expect(keySlot(braced.tombstone)).toBe(keySlot(braced.index));
  });

  it('removes or marks an entry it wrote after a whole purge ran between its first check and its write', async () => {
    const prefix = uniquePrefix('window');
    const store = await open(prefix);
    const conn = createRedisConnection({ clusterNodes: cluster.nodes, commandTimeoutMs: 2_000 });
    await conn.waitForStart();
    const ctx = { conn, keys: createRedisKeys(prefix), indexGraceMs: 1_000 };
    const cases: [string, InvalidationTarget, InvalidationMode][] = [
      ['hard-all', { kind: 'all' }, 'hard'], // first: it would count the entries the others leave
      ['hard-tag', { kind: 'tags', tags: ['window-hard'] }, 'hard'],
      ['soft-tag', { kind: 'tags', tags: ['window-soft'] }, 'soft'],
      ['hard-key', { kind: 'keys', keys: ['hard-key'] }, 'hard'],
    ];
    for (const [id, target, mode] of cases) {
      const entry = makeEntry(id, { tags: [`window-${mode}`], storedAt: Date.now() - 1 });
      let counted = -1;
      // The purge runs whole in the gap: it finds the membership but no entry yet, and counts nothing.
      await putEntry(ctx, entry, 60_000, {
        afterFirstCheck: async () => {
          counted = (await store.invalidate(target, mode)).entries;
        },
      });
      expect(counted).toBe(0);
      const stored = await store.get(id);
      if (mode === 'hard') expect(stored).toBeUndefined();
      else expect(stored?.softPurgedAt).toBeGreaterThanOrEqual(entry.storedAt);
    }
    await conn.close();
    await store.close();
  });

  it('spreads one tag over every master and still purges all of it', async () => {
    const prefix = uniquePrefix('spread');
    const store = await open(prefix);
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => store.put(makeEntry(`spread-${i}`, { tags: ['wide'] }), 60_000)),
    );
    const perMaster = await Promise.all(
      raw.nodes('master').map(async (node: Redis) => (await node.keys(`${prefix}e:*`)).length),
    );
    expect(perMaster).toHaveLength(3);
    expect(perMaster.every((n) => n > 0)).toBe(true);
    expect(await store.invalidate({ kind: 'tags', tags: ['wide'] }, 'soft')).toEqual({ entries: 300 });
    expect(await store.invalidate({ kind: 'tags', tags: ['wide'] }, 'hard')).toEqual({ entries: 300 });
    expect(await countKeys(`${prefix}e:*`)).toBe(0);
    await store.close();
  });

  it('purges a batch spread over many slots with a script per master, not one per slot', async () => {
    const prefix = uniquePrefix('pernode');
    const store = await open(prefix);
    const ids = Array.from({ length: 240 }, (_, i) => `pernode-${i}`);
    await Promise.all(ids.map((id) => store.put(makeEntry(id, { tags: ['pernode'] }), 60_000)));
    expect(new Set(ids.map((id) => keySlot(createRedisKeys(prefix).entry(id)))).size).toBeGreaterThan(200);
    const scriptCalls = async () => {
      const stats = await Promise.all(raw.nodes('master').map((node: Redis) => node.info('commandstats')));
      let calls = 0;
      for (const stat of stats) {
        for (const [, n] of stat.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)) calls += Number(n);
      }
      return calls;
    };
    const before = await scriptCalls();
    expect(await store.invalidate({ kind: 'tags', tags: ['pernode'] }, 'hard')).toEqual({ entries: 240 });
    // The tombstone, then one script per master (a NOSCRIPT retry at most doubles that).
    expect((await scriptCalls()) - before).toBeLessThanOrEqual(8);
    expect(await countKeys(`${prefix}e:*`)).toBe(0);
    await store.close();
  });

  it('keeps a hot tag index bounded while entries expire and new ones arrive', async () => {
    const prefix = uniquePrefix('bounds');
    const store = await open(prefix, { indexGraceMs: 200 });
    await checkIndexStaysBounded(
      store,
      { zcard: (key) => raw.zcard(key), countKeys },
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
});

describe('Redis Cluster store when a master dies', () => {
  it('fails with typed errors while it is down and works again once it is back', async () => {
    const store = await open(uniquePrefix('kill'), { commandTimeoutMs: 500 });
    const failures: unknown[] = [];
    let successes = 0;
    let running = true;
    // Ids over many slots, so some land on the master that dies.
    const traffic = (async () => {
      for (let i = 0; running; i++) {
        try {
          await store.put(makeEntry(`t${i % 64}`, { tags: ['traffic'] }), 60_000);
          await store.get(`t${i % 64}`);
          successes++;
        } catch (err) {
          failures.push(err);
        }
        await delay(2); // failures are immediate and must not spin the loop
      }
    })();
    await expect.poll(() => successes).toBeGreaterThan(20);
    await cluster.kill(2);
    await expect.poll(() => failures.length, { timeout: 10_000 }).toBeGreaterThan(5);
    running = false;
    await traffic;
    expect(failures.filter((err) => !isStoreError(err))).toEqual([]);
    await cluster.restart(2);
    // Recovered when every id, on every master, can be written and read again.
    const allWork = async () => {
      try {
        for (let i = 0; i < 64; i++) {
          await store.put(makeEntry(`t${i}`, { tags: ['traffic'] }), 60_000);
          if ((await store.get(`t${i}`)) === undefined) return false;
        }
        return true;
      } catch (err) {
        if (!isStoreError(err)) throw err;
        return false;
      }
    };
    await expect.poll(allWork, { timeout: 30_000, interval: 200 }).toBe(true);
    expect(await store.invalidate({ kind: 'tags', tags: ['traffic'] }, 'hard')).toEqual({ entries: 64 });
    await store.close();
  });
});
