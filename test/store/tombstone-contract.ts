import { afterEach, describe, expect, it } from 'vitest';
import type { InvalidationTarget, Store, StoredEntry } from '../../src/modules/store/types.js';
import { makeEntry, nextMillisecond } from './entries.js';
import type { OpenSettings, OpenStore } from './store-contract.js';

const TTL_MS = 60_000;
const KEY = 'GET https://shop.example/p';

interface TargetCase {
  readonly what: string;
  readonly target: InvalidationTarget;
  /** A response the purge applies to, fetched at storedAt. */
  readonly fetched: (name: string, storedAt: number) => StoredEntry;
  /** A response fetched at the same time that the purge does not apply to, if there can be one. */
  readonly bystander?: (storedAt: number) => StoredEntry;
}

const TARGETS: readonly TargetCase[] = [
  {
    what: 'one of its tags',
    target: { kind: 'tags', tags: ['news'] },
    fetched: (name, storedAt) => makeEntry(name, { tags: ['news', `own:${name}`], storedAt }),
    bystander: (storedAt) => makeEntry('bystander', { tags: ['sport', 'newsroom'], storedAt }),
  },
  {
    what: 'its URL key',
    target: { kind: 'keys', keys: [KEY] },
    // Vary variants: one id each, all under the URL key.
    fetched: (name, storedAt) => makeEntry(`${KEY}#lang=${name}`, { key: KEY, tags: ['page'], storedAt }),
    bystander: (storedAt) =>
      makeEntry(`${KEY}/other#lang=fr`, { key: `${KEY}/other`, tags: ['page'], storedAt }),
  },
  {
    what: 'a path prefix of its site',
    target: { kind: 'prefixes', prefixes: ['https://shop.example/news/'] },
    fetched: (name, storedAt) => makeEntry(`https://shop.example/news/${name}`, { storedAt }),
    // Prefix tombstones cover the whole site (in-flight responses only): the bystander is elsewhere.
    bystander: (storedAt) => makeEntry('https://news.example/news/x', { storedAt }),
  },
  {
    what: 'one of its tags on its host',
    target: { kind: 'tags', tags: ['news'], sites: ['https://shop.example'] },
    fetched: (name, storedAt) => makeEntry(`https://shop.example/${name}`, { tags: ['news'], storedAt }),
    bystander: (storedAt) => makeEntry('https://other.example/x', { tags: ['sport'], storedAt }),
  },
  {
    what: 'everything',
    target: { kind: 'all' },
    fetched: (name, storedAt) => makeEntry(name, { tags: [`own:${name}`], storedAt }),
  },
];

/**
 * A put lands after the response streamed to the client, so it can land after
 * a purge that should have removed it. Every store must refuse (hard) or mark
 * stale (soft) a response fetched before a purge of one of its tags, its
 * URL key or everything, for tombstoneMs after that purge.
 */
export function tombstoneContract(name: string, open: OpenStore): void {
  describe(`${name}: a purge outlives the responses fetched before it (tombstones)`, () => {
    const opened: Store[] = [];
    const fresh = async (settings?: OpenSettings) => {
      const store = await open(settings);
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });
    const read = async (store: Store, id: string) => await store.get(id);
    const present = async (store: Store, ids: readonly string[]) => {
      const found = await Promise.all(ids.map((id) => read(store, id)));
      return ids.filter((_, i) => found[i] !== undefined);
    };

    for (const { what, target, fetched, bystander } of TARGETS) {
      it(`drops a put fetched before a hard purge of ${what}, and keeps one fetched after it`, async () => {
        const store = await fresh();
        const fetchedAt = Date.now() - 1;
        const early = fetched('early', fetchedAt);
        const other = bystander?.(fetchedAt);
        await store.invalidate(target, 'hard');
        const late = fetched('late', await nextMillisecond());
        // The put of the early response resolves false: a refusal is not a store failure, and the
        // caller learns of it (the cache must not hand the refused entry to collapsed requests).
        await expect(store.put(early, TTL_MS)).resolves.toBe(false);
        await expect(store.put(late, TTL_MS)).resolves.toBe(true);
        if (other !== undefined) await store.put(other, TTL_MS);
        const ids = [early.id, late.id, ...(other === undefined ? [] : [other.id])];
        expect(await present(store, ids)).toEqual(ids.slice(1));
        // The refused put left nothing that a purge would count.
        expect(await store.invalidate(target, 'hard')).toEqual({ entries: 1 });
      });

      it(`writes a put fetched before a soft purge of ${what} stale as of that purge`, async () => {
        const store = await fresh();
        const resident = fetched('resident', Date.now());
        await store.put(resident, TTL_MS);
        const early = fetched('early', Date.now() - 1);
        const other = bystander?.(early.storedAt);
        await store.invalidate(target, 'soft');
        const late = fetched('late', await nextMillisecond());
        await Promise.all(
          [early, late, ...(other === undefined ? [] : [other])].map((e) => store.put(e, TTL_MS)),
        );
        // The resident entry was marked by the purge itself: its softPurgedAt is the purge's time.
        const purgedAt = (await read(store, resident.id))?.softPurgedAt ?? 0;
        expect(purgedAt).toBeGreaterThanOrEqual(early.storedAt);
        const written = await read(store, early.id);
        expect(written?.softPurgedAt).toBe(purgedAt);
        expect(written?.body.toString()).toBe(early.body.toString());
        expect((await read(store, late.id))?.softPurgedAt).toBe(0);
        if (other !== undefined) expect((await read(store, other.id))?.softPurgedAt).toBe(0);
      });
    }

    it('a soft purge after a hard one still drops a response fetched before the hard one', async () => {
      const store = await fresh();
      const early = makeEntry('early', { tags: ['news'], storedAt: Date.now() - 1 });
      await store.invalidate({ kind: 'tags', tags: ['news'] }, 'hard');
      const between = makeEntry('between', { tags: ['news'], storedAt: await nextMillisecond() });
      await nextMillisecond();
      await store.invalidate({ kind: 'tags', tags: ['news'] }, 'soft');
      await store.put(early, TTL_MS);
      await store.put(between, TTL_MS);
      expect(await read(store, early.id)).toBeUndefined();
      expect((await read(store, between.id))?.softPurgedAt).toBeGreaterThanOrEqual(between.storedAt);
    });

    it('a hard purge wins over a newer soft purge of another of its targets', async () => {
      const store = await fresh();
      const early = makeEntry('early', { tags: ['news', 'sport'], storedAt: Date.now() - 1 });
      await store.invalidate({ kind: 'tags', tags: ['news'] }, 'hard');
      await store.invalidate({ kind: 'tags', tags: ['sport'] }, 'soft');
      await store.put(early, TTL_MS);
      expect(await read(store, early.id)).toBeUndefined();
    });

    it('no put fetched before a hard purge survives it, however the two interleave', async () => {
      const store = await fresh();
      const ids = Array.from({ length: 200 }, (_, i) => `race-${i}`);
      for (let round = 0; round < 3; round++) {
        const storedAt = Date.now() - 1;
        const entries = ids.map((id) =>
          makeEntry(id, { tags: ['race', `own:${id}`], storedAt, body: Buffer.from(`v${round}`) }),
        );
        // Half the puts start before the purge, half while it runs; all were fetched before it.
        const early = entries.slice(0, 100).map((entry) => store.put(entry, TTL_MS));
        const purge = store.invalidate({ kind: 'tags', tags: ['race'] }, 'hard');
        const late = entries.slice(100).map((entry) => store.put(entry, TTL_MS));
        await Promise.all([...early, purge, ...late]);
        expect(await present(store, ids)).toEqual([]);
      }
    });

    it('a purge of many windows refuses every put racing it that was fetched before it', async () => {
      // Windows of 8 members: the 300 entries take about 40 rounds, with puts landing between them.
      const store = await fresh({ batchSize: 4, purgeInFlight: 2 });
      const storedAt = Date.now() - 1;
      const wave = (from: number) =>
        Array.from({ length: 10 }, (_, i) =>
          makeEntry(`wave-${from + i}`, { tags: ['wave', `own:${from + i}`], storedAt }),
        );
      const before = Array.from({ length: 30 }, (_, w) => wave(w * 10)).flat();
      await Promise.all(before.map((entry) => store.put(entry, TTL_MS)));
      const purge = store.invalidate({ kind: 'tags', tags: ['wave'] }, 'hard');
      const racing: StoredEntry[] = [];
      const writes = (async () => {
        for (let w = 30; w < 50; w++) {
          const entries = wave(w * 10);
          racing.push(...entries);
          await Promise.all(entries.map((entry) => store.put(entry, TTL_MS)));
        }
      })();
      const [{ entries }] = await Promise.all([purge, writes]);
      expect(entries).toBeGreaterThanOrEqual(before.length);
      expect(
        await present(
          store,
          [...before, ...racing].map((entry) => entry.id),
        ),
      ).toEqual([]);
      const after = makeEntry('wave-after', { tags: ['wave'], storedAt: await nextMillisecond() });
      await expect(store.put(after, TTL_MS)).resolves.toBe(true);
      expect(await present(store, [after.id])).toEqual([after.id]);
    });

    it('every put fetched before a soft purge ends up marked with its time, however the two interleave', async () => {
      const store = await fresh();
      const ids = Array.from({ length: 200 }, (_, i) => `race-${i}`);
      const storedAt = Date.now() - 1;
      const entries = ids.map((id) => makeEntry(id, { tags: ['race-soft', `own:${id}`], storedAt }));
      const early = entries.slice(0, 100).map((entry) => store.put(entry, TTL_MS));
      const purge = store.invalidate({ kind: 'tags', tags: ['race-soft'] }, 'soft');
      const late = entries.slice(100).map((entry) => store.put(entry, TTL_MS));
      await Promise.all([...early, purge, ...late]);
      const marks = await Promise.all(ids.map(async (id) => (await read(store, id))?.softPurgedAt));
      expect(new Set(marks).size).toBe(1);
      expect(marks[0]).toBeGreaterThanOrEqual(storedAt);
    });

    it('forgets a purge after tombstoneMs: a response fetched before it is stored again', async () => {
      const store = await fresh({ tombstoneMs: 500 });
      const early = makeEntry('early', { tags: ['news'], storedAt: Date.now() - 1 });
      await store.invalidate({ kind: 'tags', tags: ['news'] }, 'hard');
      await store.put(early, TTL_MS);
      expect(await read(store, early.id)).toBeUndefined();
      await expect
        .poll(
          async () => {
            await store.put(early, TTL_MS);
            return (await read(store, early.id)) !== undefined;
          },
          { timeout: 5_000, interval: 50 },
        )
        .toBe(true);
      expect((await read(store, early.id))?.softPurgedAt).toBe(0);
    });
  });
}
