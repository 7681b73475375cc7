import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/modules/store/memory-store.js';
import { makeEntry, nextMillisecond } from './entries.js';
import { storeContract } from './store-contract.js';

const MiB = 1024 * 1024;

storeContract('memory', async (settings) => createMemoryStore({ maxBytes: 256 * MiB, ...settings }), {
  bigTagEntries: 100_000,
});

describe('memory store', () => {
  it('answers get synchronously, with the very entry it was handed (no copy per put)', async () => {
    const store = createMemoryStore({ maxBytes: MiB });
    const put = makeEntry('a', { tags: ['t'] });
    await store.put(put, 60_000);
    const entry = store.get('a');
    expect(entry).not.toBeInstanceOf(Promise);
    expect(entry).toBe(put);
    await store.close();
  });

  it('evicts least recently used entries to stay within maxBytes, and their index memberships go too', async () => {
    const maxBytes = 100 * 1024;
    const store = createMemoryStore({ maxBytes });
    const body = Buffer.alloc(1024, 1);
    for (let i = 0; i < 1_000; i++) {
      await store.put(makeEntry(`e${i}`, { body, tags: ['every', `group:${i % 10}`] }), 60_000);
      store.get('e0'); // keeps e0 recently used
    }
    const { entries, bytes } = store.stats();
    expect(bytes).toBeLessThanOrEqual(maxBytes);
    expect(entries).toBeGreaterThan(10);
    expect(entries).toBeLessThan(1_000);
    expect(store.get('e0')).toBeDefined();
    expect(store.get('e1')).toBeUndefined();
    expect(store.indexSizes()).toEqual({
      tags: 11,
      keys: 0, // only variants are in the key index
      tagMemberships: entries * 2,
      keyMemberships: 0,
      paths: entries,
    });
    expect(await store.invalidate({ kind: 'tags', tags: ['every'] }, 'hard')).toEqual({ entries });
    expect(store.indexSizes()).toEqual({ tags: 0, keys: 0, tagMemberships: 0, keyMemberships: 0, paths: 0 });
    expect(store.stats()).toEqual({ entries: 0, bytes: 0 });
    await store.close();
  });

  it('sweeps expired entries out of its indexes without being asked', async () => {
    const store = createMemoryStore({ maxBytes: MiB, sweepIntervalMs: 50 });
    for (let i = 0; i < 100; i++) {
      await store.put(makeEntry(`e${i}`, { tags: ['brief', `own:${i}`] }), 100);
      await store.put(makeEntry(`e${i}#gzip`, { key: `e${i}`, tags: ['brief'] }), 100);
    }
    await store.put(makeEntry('stays', { tags: ['brief'] }), 60_000);
    await store.put(makeEntry('stays#gzip', { key: 'stays' }), 60_000);
    expect(store.indexSizes()).toEqual({
      tags: 101,
      keys: 101,
      tagMemberships: 301,
      keyMemberships: 101,
      paths: 202,
    });
    await expect
      .poll(() => store.indexSizes(), { timeout: 5_000 })
      .toEqual({
        tags: 1,
        keys: 1,
        tagMemberships: 1,
        keyMemberships: 1,
        paths: 2,
      });
    expect(store.stats().entries).toBe(2);
    await store.close();
  });

  it('refuses an entry over maxObjectBytes, dropping the older entry of its id', async () => {
    const store = createMemoryStore({ maxBytes: MiB, maxObjectBytes: 4096 });
    await store.put(makeEntry('big', { tags: ['t'] }), 60_000);
    await store.put(makeEntry('big', { tags: ['t'], body: Buffer.alloc(8192) }), 60_000);
    expect(store.get('big')).toBeUndefined();
    expect(store.indexSizes()).toEqual({ tags: 0, keys: 0, tagMemberships: 0, keyMemberships: 0, paths: 0 });
    await store.close();
  });

  it('keeps a body just under maxObjectBytes, although headers and overhead make the entry heavier', async () => {
    const store = createMemoryStore({ maxBytes: MiB, maxObjectBytes: 4096 });
    await store.put(makeEntry('edge', { tags: ['t'], body: Buffer.alloc(4096) }), 60_000);
    expect(store.get('edge')?.body.length).toBe(4096);
    await store.close();
  });

  it('a listener that throws does not stop the others nor the invalidation, and is logged', async () => {
    const lines: string[] = [];
    const log = pino(
      { level: 'error' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const store = createMemoryStore({ maxBytes: MiB, log });
    store.onInvalidation(() => {
      throw new Error('listener bug');
    });
    let heard = 0;
    store.onInvalidation(() => heard++);
    await store.put(makeEntry('a', { tags: ['t'] }), 60_000);
    expect(await store.invalidate({ kind: 'tags', tags: ['t'] }, 'hard')).toEqual({ entries: 1 });
    expect(heard).toBe(1);
    await expect.poll(() => lines.join('')).toContain('listener bug');
    await store.close();
  });

  it('keeps at most maxTombstones purge tombstones, and a pushed-out one still refuses old responses', async () => {
    const store = createMemoryStore({ maxBytes: MiB, maxTombstones: 1_000 });
    const early = makeEntry('early', { tags: ['first-purged'], storedAt: Date.now() - 1 });
    await store.invalidate({ kind: 'tags', tags: ['first-purged'] }, 'hard');
    for (let i = 0; i < 10_000; i++) await store.invalidate({ kind: 'tags', tags: [`tag:${i}`] }, 'soft');
    expect(store.tombstoneCount()).toBeLessThanOrEqual(1_000);
    // Its tombstone was pushed out long before it expired: the store errs on the side of the purge.
    await store.put(early, 60_000);
    expect(store.get('early')).toBeUndefined();
    const late = makeEntry('late', { tags: ['first-purged'], storedAt: await nextMillisecond() });
    await store.put(late, 60_000);
    expect(store.get('late')?.softPurgedAt).toBe(0);
    await store.close();
  });

  it('keeps its tombstones bounded by default too', async () => {
    const store = createMemoryStore({ maxBytes: MiB });
    for (let i = 0; i < 10_000; i++)
      await store.invalidate({ kind: 'keys', keys: [`GET https://x/${i}`] }, 'hard');
    expect(store.tombstoneCount()).toBe(10_000); // under the default bound of 100k, none pushed out
    await store.close();
  });

  it('rejects a tombstoneMs or maxTombstones that is not a positive whole number', () => {
    expect(() => createMemoryStore({ maxBytes: MiB, tombstoneMs: 0 })).toThrow(/tombstoneMs/);
    expect(() => createMemoryStore({ maxBytes: MiB, tombstoneMs: Number.NaN })).toThrow(/tombstoneMs/);
    expect(() => createMemoryStore({ maxBytes: MiB, maxTombstones: 0 })).toThrow(/maxTombstones/);
  });

  it('rejects a maxBytes that is not a positive whole number', () => {
    expect(() => createMemoryStore({ maxBytes: 0 })).toThrow(/maxBytes/);
    expect(() => createMemoryStore({ maxBytes: 1.5 })).toThrow(/maxBytes/);
  });
});
