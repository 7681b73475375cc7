import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { InvalidationEvent, Store, StoredEntry } from '../../src/modules/store/types.js';
import { inBatches, makeEntry, nextMillisecond } from './entries.js';
import { leaseContract } from './lease-contract.js';
import { tombstoneContract } from './tombstone-contract.js';

export interface ContractOptions {
  /** Entries in the one-huge-tag case: 100k where that fits the time budget. */
  readonly bigTagEntries: number;
  /** Opens a second instance sharing the first one's data (Redis): the cross-instance event case. */
  readonly openPeer?: (first: Store) => Promise<Store>;
}

/** What a test may ask of the store it opens; everything else is the file's default. */
export interface OpenSettings {
  readonly tombstoneMs?: number;
  /** Redis only (others ignore them): members per purge command, and such batches in flight. */
  readonly batchSize?: number;
  readonly purgeInFlight?: number;
  /** Redis only: how long one command may take, its wait behind the others sent with it included. */
  readonly commandTimeoutMs?: number;
}

export type OpenStore = (settings?: OpenSettings) => Promise<Store>;

const TTL_MS = 60_000;

/**
 * What every Store must do, run unchanged against the memory store, a single
 * Redis and a Redis Cluster. open() gives a store with no entries in it.
 */
export function storeContract(name: string, open: OpenStore, options: ContractOptions): void {
  tombstoneContract(name, open);
  leaseContract(name, () => open(), options.openPeer);
  describe(`${name}: the Store contract`, () => {
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
    const putAll = async (store: Store, entries: readonly StoredEntry[], ttlMs = TTL_MS) => {
      await Promise.all(entries.map((entry) => store.put(entry, ttlMs)));
    };
    const tagged = (id: string, ...tags: string[]) => makeEntry(id, { tags });

    it('returns an entry as stored: every byte value, megabytes of body, headers with several values', async () => {
      const store = await fresh();
      const body = Buffer.concat([
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        randomBytes(3 << 20),
      ]);
      const entry = makeEntry('https://shop.example/blob.bin', {
        status: 206,
        headers: {
          'content-type': 'application/octet-stream',
          'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
          link: ['</a.css>; rel=preload', '</b.js>; rel=preload'],
          'x-unicode': 'grüße 🙂',
        },
        body,
        policy: JSON.stringify({ v: 1, rescc: { 's-maxage': '60' } }),
        tags: ['blob', 'product:1'],
        route: 'assets',
        storedAt: 1_750_000_000_123,
      });
      await store.put(entry, TTL_MS);
      const got = await read(store, entry.id);
      // Bodies compared with Buffer.equals: a deep equality walks megabytes one element at a time.
      expect({ ...got, body: undefined }).toEqual({ ...entry, body: undefined });
      expect(got?.body.equals(body)).toBe(true);
    });

    it('returns fields the contract does not name as stored, buffers nested in them too', async () => {
      const store = await fresh();
      // Such as alternative encodings of the body a later version may keep beside it.
      const encodings = {
        br: randomBytes(300),
        gzip: Buffer.alloc(0),
        note: ['x', { deep: Buffer.from('y') }],
      };
      const entry = { ...makeEntry('extra', { body: randomBytes(100) }), encodings, level: 3 };
      await store.put(entry, TTL_MS);
      const got = (await read(store, 'extra')) as (StoredEntry & typeof encodings) | undefined;
      expect(got).toEqual(entry);
      expect(Buffer.isBuffer((got as unknown as typeof entry).encodings.br)).toBe(true);
    });

    it('keeps the encoded forms of an entry with it, and a re-put without forms leaves none behind', async () => {
      const store = await fresh();
      const gzip = randomBytes(300);
      const br = Buffer.from([0, 255, 13, 10]);
      await store.put(makeEntry('formed', { forms: { gzip, br, source: 'gzip' } }), TTL_MS);
      const got = await read(store, 'formed');
      expect(got?.forms?.gzip?.equals(gzip)).toBe(true);
      expect(got?.forms?.br?.equals(br)).toBe(true);
      expect(got?.forms?.source).toBe('gzip');
      await store.put(makeEntry('formed'), TTL_MS);
      expect((await read(store, 'formed'))?.forms).toBeUndefined();
    });

    it('misses an id it never stored, and delete says whether the entry existed', async () => {
      const store = await fresh();
      expect(await read(store, 'nothing')).toBeUndefined();
      expect(await store.delete('nothing')).toBe(false);
      await store.put(tagged('one', 'a'), TTL_MS);
      expect(await store.delete('one')).toBe(true);
      expect(await read(store, 'one')).toBeUndefined();
      expect(await store.invalidate({ kind: 'tags', tags: ['a'] }, 'hard')).toEqual({ entries: 0 });
    });

    it('forgets an entry once its TTL has passed', async () => {
      const store = await fresh();
      await store.put(tagged('short', 'brief'), 500);
      await store.put(tagged('long', 'brief'), TTL_MS);
      expect(await read(store, 'short')).toBeDefined();
      await expect.poll(() => read(store, 'short'), { timeout: 5_000, interval: 50 }).toBeUndefined();
      expect(await store.invalidate({ kind: 'tags', tags: ['brief'] }, 'hard')).toEqual({ entries: 1 });
    });

    it('a hard tag purge deletes the entries carrying the tag and no others', async () => {
      const store = await fresh();
      await putAll(store, [tagged('p1', 'product:1', 'products'), tagged('p2', 'product:2', 'products')]);
      await putAll(store, [tagged('about', 'page:about'), makeEntry('untagged')]);
      expect(await store.invalidate({ kind: 'tags', tags: ['product:1'] }, 'hard')).toEqual({ entries: 1 });
      expect(await present(store, ['p1', 'p2', 'about', 'untagged'])).toEqual(['p2', 'about', 'untagged']);
      expect(await store.invalidate({ kind: 'tags', tags: ['products'] }, 'hard')).toEqual({ entries: 1 });
      expect(await present(store, ['p1', 'p2', 'about', 'untagged'])).toEqual(['about', 'untagged']);
    });

    it('a soft tag purge marks the entries stale and keeps them, with their TTL', async () => {
      const store = await fresh();
      const before = Date.now();
      await putAll(store, [tagged('n1', 'news'), tagged('n2', 'news', 'sport'), tagged('s1', 'sport')]);
      await store.put(tagged('n3', 'news'), 2_000);
      expect(await store.invalidate({ kind: 'tags', tags: ['news'] }, 'soft')).toEqual({ entries: 3 });
      for (const id of ['n1', 'n2', 'n3']) {
        const entry = await read(store, id);
        expect(entry?.softPurgedAt).toBeGreaterThanOrEqual(before);
        expect(entry?.body.toString()).toBe(`body of ${id}`);
      }
      expect((await read(store, 's1'))?.softPurgedAt).toBe(0);
      // Still indexed: a later hard purge of the tag finds the stale entries.
      expect(await store.invalidate({ kind: 'tags', tags: ['sport'] }, 'hard')).toEqual({ entries: 2 });
      expect(await present(store, ['n1', 'n2', 's1'])).toEqual(['n1']);
      await expect.poll(() => read(store, 'n3'), { timeout: 10_000, interval: 50 }).toBeUndefined();
    });

    it('matches whole tags only', async () => {
      const store = await fresh();
      await putAll(store, [
        tagged('year', '/api/routes/2026'),
        tagged('programme', '/api/routes/2026/programme'),
        tagged('p1', 'product:1'),
        tagged('p10', 'product:10'),
        tagged('upper', 'Product:1'),
      ]);
      expect(await store.invalidate({ kind: 'tags', tags: ['/api/routes/2026'] }, 'hard')).toEqual({
        entries: 1,
      });
      expect(await store.invalidate({ kind: 'tags', tags: ['product:1'] }, 'hard')).toEqual({ entries: 1 });
      expect(await store.invalidate({ kind: 'tags', tags: ['/api/routes', 'product', ''] }, 'hard')).toEqual({
        entries: 0,
      });
      expect(await present(store, ['year', 'programme', 'p1', 'p10', 'upper'])).toEqual([
        'programme',
        'p10',
        'upper',
      ]);
    });

    it('counts an entry once when several purged tags carry it', async () => {
      const store = await fresh();
      await putAll(store, [tagged('both', 'a', 'b'), tagged('only-a', 'a'), tagged('none', 'c')]);
      expect(await store.invalidate({ kind: 'tags', tags: ['a', 'b', 'a'] }, 'soft')).toEqual({ entries: 2 });
      expect(await store.invalidate({ kind: 'tags', tags: ['a', 'b'] }, 'hard')).toEqual({ entries: 2 });
      expect(await present(store, ['both', 'only-a', 'none'])).toEqual(['none']);
    });

    it('a re-put with other tags drops the old memberships', async () => {
      const store = await fresh();
      await store.put(tagged('page', 'old', 'kept'), TTL_MS);
      await store.put(makeEntry('page', { tags: ['kept', 'new'], body: Buffer.from('v2') }), TTL_MS);
      expect(await store.invalidate({ kind: 'tags', tags: ['old'] }, 'hard')).toEqual({ entries: 0 });
      expect(await store.invalidate({ kind: 'tags', tags: ['old'] }, 'soft')).toEqual({ entries: 0 });
      expect((await read(store, 'page'))?.body.toString()).toBe('v2');
      expect((await read(store, 'page'))?.softPurgedAt).toBe(0);
      expect(await store.invalidate({ kind: 'tags', tags: ['new'] }, 'hard')).toEqual({ entries: 1 });
    });

    it('purges every variant of a URL key and the entry at the key itself, and only that key', async () => {
      const store = await fresh();
      const key = 'GET https://shop.example/products/1';
      const variants = ['gzip', 'br', 'identity'].map((encoding) => makeEntry(`${key}#${encoding}`, { key }));
      const marker = makeEntry(key); // the vary marker lives at the key's own id
      const other = makeEntry('GET https://shop.example/products/10#gzip', {
        key: 'GET https://shop.example/products/10',
      });
      const plain = makeEntry('GET https://shop.example/products/10'); // its marker: same key, kept
      await putAll(store, [...variants, marker, other, plain]);
      const ids = [...variants, marker, other, plain].map((entry) => entry.id);
      expect(await store.invalidate({ kind: 'keys', keys: [key] }, 'soft')).toEqual({ entries: 4 });
      expect((await read(store, variants[0]?.id ?? ''))?.softPurgedAt).toBeGreaterThan(0);
      expect((await read(store, marker.id))?.softPurgedAt).toBeGreaterThan(0);
      expect((await read(store, other.id))?.softPurgedAt).toBe(0);
      expect((await read(store, plain.id))?.softPurgedAt).toBe(0);
      expect(
        await store.invalidate({ kind: 'keys', keys: [key, 'GET https://shop.example/none'] }, 'hard'),
      ).toEqual({
        entries: 4,
      });
      expect(await present(store, ids)).toEqual([other.id, plain.id]);
    });

    it('a prefix purge takes every key of its site under the path, exactly at the boundary', async () => {
      const store = await fresh();
      const key = 'https://shop.example/products/1';
      const inside = [
        makeEntry('https://shop.example/products/'),
        makeEntry(key),
        makeEntry(`${key}\naccept-language=fr`, { key }), // a variant
        makeEntry('https://shop.example/products/1?page=2'),
        makeEntry('https://shop.example/products/a/b/c'),
      ];
      const outside = [
        makeEntry('https://shop.example/products'),
        makeEntry('https://shop.example/products-old/1'),
        makeEntry('https://shop.example/product/1'),
        makeEntry('https://shop.example/Products/1'),
        makeEntry('http://shop.example/products/1'), // the other scheme is another prefix
        makeEntry('https://shop.example.evil/products/1'),
        makeEntry('https://shop.example:8443/products/1'),
        makeEntry('https://other.example/products/1'),
      ];
      await putAll(store, [...inside, ...outside]);
      const prefixes = ['https://shop.example/products/'];
      expect(await store.invalidate({ kind: 'prefixes', prefixes }, 'soft')).toEqual({ entries: 5 });
      for (const entry of inside) expect((await read(store, entry.id))?.softPurgedAt).toBeGreaterThan(0);
      for (const entry of outside) expect((await read(store, entry.id))?.softPurgedAt).toBe(0);
      expect(await store.invalidate({ kind: 'prefixes', prefixes }, 'hard')).toEqual({ entries: 5 });
      const ids = [...inside, ...outside].map((entry) => entry.id);
      expect(await present(store, ids)).toEqual(outside.map((entry) => entry.id));
      expect(await store.invalidate({ kind: 'prefixes', prefixes }, 'hard')).toEqual({ entries: 0 });
      // The whole site, both schemes named.
      expect(
        await store.invalidate(
          { kind: 'prefixes', prefixes: ['https://shop.example/', 'http://shop.example/'] },
          'hard',
        ),
      ).toEqual({ entries: 5 });
      expect(await present(store, ids)).toEqual([
        'https://shop.example.evil/products/1',
        'https://shop.example:8443/products/1',
        'https://other.example/products/1',
      ]);
    });

    it('a prefix purge pages through more matches than one batch, and forgets what it purged', async () => {
      const store = await fresh();
      const entries = Array.from({ length: 700 }, (_, i) => makeEntry(`https://shop.example/a/${i}`));
      const bystanders = Array.from({ length: 50 }, (_, i) => makeEntry(`https://shop.example/b/${i}`));
      await inBatches([...entries, ...bystanders], 100, (entry) => store.put(entry, TTL_MS));
      const target = { kind: 'prefixes', prefixes: ['https://shop.example/a/'] } as const;
      expect(await store.invalidate(target, 'soft')).toEqual({ entries: 700 });
      expect(await store.invalidate(target, 'hard')).toEqual({ entries: 700 });
      expect(
        await present(
          store,
          bystanders.map((entry) => entry.id),
        ),
      ).toHaveLength(50);
      expect(
        await store.invalidate({ kind: 'prefixes', prefixes: ['https://shop.example/'] }, 'hard'),
      ).toEqual({
        entries: 50,
      });
    });

    it('a host-scoped tag purge takes the tagged entries of that host only', async () => {
      const store = await fresh();
      const shop = [
        makeEntry('https://shop.example/1', { tags: ['products'] }),
        makeEntry('http://shop.example/2', { tags: ['products', 'x'] }),
      ];
      const others = [
        makeEntry('https://blog.example/1', { tags: ['products'] }),
        makeEntry('https://shop.example.evil/1', { tags: ['products'] }),
        makeEntry('https://shop.example:8443/1', { tags: ['products'] }),
        makeEntry('https://shop.example/untagged', { tags: ['other'] }),
      ];
      await putAll(store, [...shop, ...others]);
      const target = {
        kind: 'tags',
        tags: ['products'],
        sites: ['http://shop.example', 'https://shop.example'],
      } as const;
      expect(await store.invalidate(target, 'soft')).toEqual({ entries: 2 });
      for (const entry of shop) expect((await read(store, entry.id))?.softPurgedAt).toBeGreaterThan(0);
      for (const entry of others) expect((await read(store, entry.id))?.softPurgedAt).toBe(0);
      expect(await store.invalidate(target, 'hard')).toEqual({ entries: 2 });
      const ids = [...shop, ...others].map((entry) => entry.id);
      expect(await present(store, ids)).toEqual(others.map((entry) => entry.id));
      // The tag still finds the other hosts' entries.
      expect(await store.invalidate({ kind: 'tags', tags: ['products'] }, 'hard')).toEqual({ entries: 3 });
    });

    it('shows what is stored under a key (marker and variants) and under a tag, without bodies', async () => {
      const store = await fresh();
      const key = 'https://shop.example/inspect';
      const marker = makeEntry(key, {
        status: 0,
        headers: { vary: 'accept-language' },
        body: Buffer.alloc(0),
      });
      const en = makeEntry(`${key}\naccept-language:en\n`, { key, tags: ['look'], body: Buffer.alloc(1234) });
      const fr = makeEntry(`${key}\naccept-language:fr\n`, { key, tags: ['look'], body: Buffer.alloc(10) });
      const elsewhere = makeEntry('https://shop.example/inspect2', { tags: ['look'] });
      await putAll(store, [marker, en, fr, elsewhere]);
      const found = await store.inspectKey(key);
      expect(found.map((e) => e.id).sort()).toEqual([marker.id, en.id, fr.id].sort());
      const got = found.find((e) => e.id === en.id);
      expect(got).toMatchObject({ key, tags: ['look'], bodyBytes: 1234, status: 200 });
      expect(got).not.toHaveProperty('body');
      expect(got?.ttlMs).toBeGreaterThan(TTL_MS - 10_000);
      expect(got?.ttlMs).toBeLessThanOrEqual(TTL_MS);
      expect(await store.inspectKey('https://shop.example/none')).toEqual([]);
      const tagged = await store.inspectTag('look', 2);
      expect(tagged.count).toBe(3);
      expect(tagged.entries).toHaveLength(2);
      expect(tagged.entries.every((e) => e.tags.includes('look'))).toBe(true);
      await store.invalidate({ kind: 'tags', tags: ['look'] }, 'hard');
      expect(await store.inspectTag('look', 10)).toEqual({ count: 0, entries: [] });
    });

    it('keeps an invalidation history, newest first', async () => {
      const store = await fresh();
      for (const record of ['one', 'two', 'three']) await store.recordInvalidation(record);
      expect(await store.recentInvalidations(2)).toEqual(['three', 'two']);
      expect(await store.recentInvalidations(10)).toEqual(expect.arrayContaining(['three', 'two', 'one']));
    });

    it('purges everything, soft then hard', async () => {
      const store = await fresh();
      const entries = Array.from({ length: 30 }, (_, i) => tagged(`all-${i}`, `t${i % 3}`));
      await putAll(store, entries);
      const ids = entries.map((entry) => entry.id);
      expect(await store.invalidate({ kind: 'all' }, 'soft')).toEqual({ entries: 30 });
      const marked = await Promise.all(ids.map((id) => read(store, id)));
      expect(marked.every((entry) => (entry?.softPurgedAt ?? 0) > 0)).toBe(true);
      expect(await store.invalidate({ kind: 'all' }, 'hard')).toEqual({ entries: 30 });
      expect(await present(store, ids)).toEqual([]);
      expect(await store.invalidate({ kind: 'tags', tags: ['t0', 't1', 't2'] }, 'hard')).toEqual({
        entries: 0,
      });
      // Fetched after the purges: a response of their very millisecond would be refused (tombstones).
      await store.put(makeEntry('after', { tags: ['t0'], storedAt: await nextMillisecond() }), TTL_MS);
      expect(await store.invalidate({ kind: 'tags', tags: ['t0'] }, 'hard')).toEqual({ entries: 1 });
    });

    it('an entry written while its tag is purged is caught by the next purge', async () => {
      const store = await fresh();
      const ids = Array.from({ length: 200 }, (_, i) => `race-${i}`);
      const write = (id: string, body: string) =>
        store.put(makeEntry(id, { tags: ['race', `own:${id}`], body: Buffer.from(body) }), TTL_MS);
      await Promise.all(ids.filter((_, i) => i % 2 === 0).map((id) => write(id, 'v1')));
      for (let round = 0; round < 3; round++) {
        const early = ids.slice(0, 100).map((id) => write(id, `v${round + 2}`));
        const purge = store.invalidate({ kind: 'tags', tags: ['race'] }, 'hard');
        const late = ids.slice(100).map((id) => write(id, `v${round + 2}`));
        await Promise.all([...early, purge, ...late]);
        await store.invalidate({ kind: 'tags', tags: ['race'] }, 'hard');
        expect(await present(store, ids)).toEqual([]);
      }
    });

    // The fill is most of the time: 35 s for 100k puts on a 2-core machine under load, minutes when starved.
    it(`purges a tag of ${options.bigTagEntries} entries in batches`, { timeout: 300_000 }, async () => {
      // A put waits behind the 999 sent with it, its command timeout running: not what is under test.
      const store = await fresh({ commandTimeoutMs: 30_000 });
      const ids = Array.from({ length: options.bigTagEntries }, (_, i) => `huge-${i}`);
      const body = Buffer.from('x');
      // An hour, not a minute: entries that expire during a slow fill would not be there to purge.
      await inBatches(ids, 1_000, (id) => store.put(makeEntry(id, { tags: ['huge'], body }), 3_600_000));
      await putAll(store, [tagged('bystander', 'small'), tagged('both', 'small', 'huge')]);
      expect(await store.invalidate({ kind: 'tags', tags: ['huge'] }, 'hard')).toEqual({
        entries: options.bigTagEntries + 1,
      });
      const sample = ids.filter((_, i) => i % Math.ceil(ids.length / 200) === 0);
      expect(await present(store, [...sample, 'both', 'bystander'])).toEqual(['bystander']);
      expect(await store.invalidate({ kind: 'tags', tags: ['huge'] }, 'hard')).toEqual({ entries: 0 });
    });

    it('keeps odd tags and ids apart: separators, braces, globs, unicode, 1 KiB', async () => {
      const store = await fresh();
      const tags = [
        'a:b',
        'a',
        '/x/y',
        '{slot}',
        '{slot}x',
        '*',
        '?',
        '[a-z]',
        '\\',
        'grüße',
        '日本語',
        '🙂',
        'x'.repeat(1024),
        'x'.repeat(1023),
      ];
      const entries = tags.map((tag, i) => makeEntry(`id ${i} ${tag.slice(0, 16)} {*} ü`, { tags: [tag] }));
      await putAll(store, entries);
      for (const entry of entries) expect((await read(store, entry.id))?.tags).toEqual(entry.tags);
      for (const [i, entry] of entries.entries()) {
        expect(await store.invalidate({ kind: 'tags', tags: entry.tags }, 'hard')).toEqual({ entries: 1 });
        const left = await present(
          store,
          entries.map((e) => e.id),
        );
        expect(left).toEqual(entries.slice(i + 1).map((e) => e.id));
      }
    });

    it('keeps an entry with thousands of tags, findable by any of them', async () => {
      const store = await fresh();
      const tags = Array.from({ length: 3_000 }, (_, i) => `many:${i}`);
      await store.put(makeEntry('many', { tags }), TTL_MS);
      expect((await read(store, 'many'))?.tags).toEqual(tags);
      expect(await store.invalidate({ kind: 'tags', tags: ['many:2999'] }, 'soft')).toEqual({ entries: 1 });
      expect(await store.invalidate({ kind: 'tags', tags: ['many:0'] }, 'hard')).toEqual({ entries: 1 });
    });

    it('tells its listeners about each invalidation, until they unsubscribe', async () => {
      const store = await fresh();
      const heard: InvalidationEvent[] = [];
      const stop = store.onInvalidation((event) => heard.push(event));
      // A Redis store subscribes in the background: repeat until the first event comes through.
      await expect
        .poll(
          async () => {
            await store.invalidate({ kind: 'tags', tags: ['news'] }, 'soft');
            return heard.length;
          },
          { timeout: 10_000, interval: 100 },
        )
        .toBeGreaterThan(0);
      expect(heard[0]).toEqual({
        target: { kind: 'tags', tags: ['news'] },
        mode: 'soft',
        source: expect.any(String),
      });
      await store.invalidate({ kind: 'keys', keys: ['GET https://shop.example/'] }, 'hard');
      await store.invalidate({ kind: 'prefixes', prefixes: ['https://shop.example/a/'] }, 'soft');
      await store.invalidate({ kind: 'tags', tags: ['t'], sites: ['https://shop.example'] }, 'hard');
      await store.invalidate({ kind: 'all' }, 'soft');
      await expect.poll(() => heard.some((event) => event.target.kind === 'all')).toBe(true);
      await expect.poll(() => heard.some((event) => event.target.kind === 'keys')).toBe(true);
      // Late echoes of the polling above are 'news' events. Order is not promised: a Cluster relays
      // each PUBLISH from whichever node took it.
      await expect.poll(() => heard.some((event) => event.target.kind === 'prefixes')).toBe(true);
      await expect
        .poll(() => heard.some((event) => event.mode === 'hard' && event.target.kind === 'tags'))
        .toBe(true);
      const others = heard.filter((event) => event.target.kind !== 'tags' || event.mode === 'hard');
      expect(others.map((event) => [event.target, event.mode])).toEqual(
        expect.arrayContaining([
          [{ kind: 'keys', keys: ['GET https://shop.example/'] }, 'hard'],
          [{ kind: 'prefixes', prefixes: ['https://shop.example/a/'] }, 'soft'],
          [{ kind: 'tags', tags: ['t'], sites: ['https://shop.example'] }, 'hard'],
          [{ kind: 'all' }, 'soft'],
        ]),
      );
      expect(others).toHaveLength(4);
      stop();
      const heardBeforeStop = heard.length;
      const later: InvalidationEvent[] = [];
      store.onInvalidation((event) => later.push(event));
      await store.invalidate({ kind: 'tags', tags: ['after'] }, 'hard');
      await expect.poll(() => later.some((event) => event.mode === 'hard')).toBe(true);
      expect(heard).toHaveLength(heardBeforeStop);
    });

    it.skipIf(options.openPeer === undefined)(
      'tells listeners on another instance sharing the store, and purges for it',
      async () => {
        const first = await fresh();
        const second = await (options.openPeer ?? (() => open()))(first);
        opened.push(second);
        const heardByFirst: InvalidationEvent[] = [];
        const heardBySecond: InvalidationEvent[] = [];
        first.onInvalidation((event) => heardByFirst.push(event));
        second.onInvalidation((event) => heardBySecond.push(event));
        await first.put(tagged('shared', 'shared-tag'), TTL_MS);
        await expect
          .poll(
            async () => {
              await second.invalidate({ kind: 'tags', tags: ['shared-tag'] }, 'hard');
              return heardByFirst.length > 0 && heardBySecond.length > 0;
            },
            { timeout: 10_000, interval: 100 },
          )
          .toBe(true);
        expect(await read(first, 'shared')).toBeUndefined();
        expect(heardByFirst[0]).toEqual(heardBySecond[0]);
        await first.invalidate({ kind: 'all' }, 'soft');
        await expect.poll(() => heardBySecond.some((event) => event.target.kind === 'all')).toBe(true);
        const fromFirst = heardBySecond.find((event) => event.target.kind === 'all');
        expect(fromFirst?.source).not.toBe(heardByFirst[0]?.source);
      },
    );

    it('answers ping while it is up', async () => {
      const store = await fresh();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
