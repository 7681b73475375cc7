import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/modules/store/memory-store.js';
import { createRedisStore } from '../../src/modules/store/redis-store.js';
import type { Store, StoredEntry } from '../../src/modules/store/types.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';
import { type AdminServer, entryFor, json, startAdmin, TOKEN } from './admin-server.js';

const TTL_MS = 60_000;

/** Each store the proxy can run on, opened fresh for one suite and closed after it. */
const stores: [string, () => Promise<{ store: Store; stop: () => Promise<void> }>][] = [
  [
    'memory',
    async () => {
      const store = createMemoryStore({ maxBytes: 1024 * 1024 });
      return { store, stop: () => store.close() };
    },
  ],
  [
    'redis',
    async () => {
      const redis: TestRedis = await startRedis();
      const store = createRedisStore({
        url: redis.url,
        prefix: uniquePrefix('invalidate'),
        commandTimeoutMs: 2_000,
      });
      return {
        store,
        stop: async () => {
          await store.close();
          await redis.stop();
        },
      };
    },
  ],
];

describe.each(stores)('POST /invalidate on the %s store', (_name, open) => {
  let store: Store;
  let stop: () => Promise<void>;
  let admin: AdminServer;

  beforeAll(async () => {
    ({ store, stop } = await open());
    admin = await startAdmin(store);
  });
  afterAll(async () => {
    await admin?.close();
    await stop?.();
  });
  beforeEach(async () => {
    await store.invalidate({ kind: 'all' }, 'hard');
  });

  const put = async <T extends StoredEntry[]>(...entries: T): Promise<T> => {
    for (const entry of entries) await store.put(entry, TTL_MS);
    return entries;
  };
  const presence = async (...entries: StoredEntry[]) =>
    Promise.all(entries.map(async (entry) => (await store.get(entry.id)) !== undefined));
  const softPurgedAt = async (entry: StoredEntry) => (await store.get(entry.id))?.softPurgedAt;
  const counter = async (metric: 'invalidations' | 'invalidatedEntries', labels: Record<string, string>) =>
    (await admin.metrics[metric].get()).values.find((v) => {
      const have: Record<string, string | number | undefined> = v.labels;
      return Object.entries(labels).every(([name, value]) => have[name] === value);
    })?.value ?? 0;

  it('purges every entry carrying a tag, and only those', async () => {
    const [one, two, page] = await put(
      entryFor('http://shop.example/products/1', ['product:1', 'products']),
      entryFor('http://shop.example/products/2', ['product:2', 'products']),
      entryFor('http://shop.example/about', ['page:about']),
    );
    const before = await counter('invalidations', { kind: 'tags', mode: 'hard' });
    const res = await admin.post(JSON.stringify({ tags: ['product:1'] }));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(json(res)).toMatchObject({ status: 'ok', mode: 'hard', tags: 1, entries: 1 });
    expect(typeof json(res).durationMs).toBe('number');
    expect(await presence(one, two, page)).toEqual([false, true, true]);
    expect(await counter('invalidations', { kind: 'tags', mode: 'hard' })).toBe(before + 1);
  });

  it('purges several tags at once, counting each entry once', async () => {
    const [one, two, page] = await put(
      entryFor('http://shop.example/products/1', ['product:1', 'products']),
      entryFor('http://shop.example/products/2', ['product:2', 'products']),
      entryFor('http://shop.example/about', ['page:about']),
    );
    const res = await admin.post(JSON.stringify({ tags: ['products', 'product:1', 'products'] }));
    expect(json(res)).toMatchObject({ status: 'ok', mode: 'hard', tags: 2, entries: 2 });
    expect(await presence(one, two, page)).toEqual([false, false, true]);
  });

  it('matches whole tags only: a tag that is a prefix of another leaves the other alone', async () => {
    const [year, programme] = await put(
      entryFor('http://shop.example/api/routes/2026', ['/api/routes/2026']),
      entryFor('http://shop.example/api/routes/2026/programme', ['/api/routes/2026/programme']),
    );
    const res = await admin.post(JSON.stringify({ tags: ['/api/routes/2026'] }));
    expect(json(res)).toMatchObject({ entries: 1 });
    expect(await presence(year, programme)).toEqual([false, true]);
    expect(json(await admin.post(JSON.stringify({ tags: ['Product:1'] })))).toMatchObject({ entries: 0 });
  });

  it('purges a URL under both its http and https keys', async () => {
    const [plain, tls, other] = await put(
      entryFor('http://shop.example/products/1', []),
      entryFor('http://shop.example/products/1', [], 'https'),
      entryFor('http://shop.example/products/2', []),
    );
    const res = await admin.post(JSON.stringify({ urls: ['https://Shop.Example:443/products/1'] }));
    expect(json(res)).toMatchObject({ status: 'ok', mode: 'hard', urls: 1, entries: 2 });
    expect(await presence(plain, tls, other)).toEqual([false, false, true]);
    expect(await counter('invalidatedEntries', { kind: 'urls' })).toBeGreaterThanOrEqual(2);
  });

  it('keys a URL by the query rule of the route its path matches', async () => {
    const [paged, search] = await put(
      entryFor('http://shop.example/products/1?page=2', []),
      entryFor('http://shop.example/search', []),
    );
    // `utm` is not part of a product key and no search parameter is: both URLs name the stored entries.
    const res = await admin.post(
      JSON.stringify({
        urls: ['http://shop.example/products/1?utm=x&page=2', 'http://shop.example/search?q=shoes'],
      }),
    );
    expect(json(res)).toMatchObject({ urls: 2, entries: 2 });
    expect(await presence(paged, search)).toEqual([false, false]);
  });

  it('purges everything with all', async () => {
    const entries = await put(
      entryFor('http://a.example/products/1', ['product:1']),
      entryFor('http://b.example/about', []),
    );
    const res = await admin.post(JSON.stringify({ all: true }));
    expect(json(res)).toEqual({ status: 'ok', mode: 'hard', entries: 2, durationMs: expect.any(Number) });
    expect(await presence(...entries)).toEqual([false, false]);
  });

  it('soft purge marks entries stale and keeps them for revalidation', async () => {
    const [one, two] = await put(
      entryFor('http://shop.example/products/1', ['product:1']),
      entryFor('http://shop.example/products/2', ['product:2']),
    );
    const res = await admin.post(JSON.stringify({ tags: ['product:1'], soft: true }));
    expect(json(res)).toMatchObject({ status: 'ok', mode: 'soft', tags: 1, entries: 1 });
    expect(await softPurgedAt(one)).toBeGreaterThan(0);
    expect(await softPurgedAt(two)).toBe(0);
    expect(await counter('invalidations', { kind: 'tags', mode: 'soft' })).toBe(1);
  });

  it('accepts the Fastly form: an empty body with a Surrogate-Key header', async () => {
    const [one, two, page] = await put(
      entryFor('http://shop.example/products/1', ['product:1']),
      entryFor('http://shop.example/products/2', ['product:2']),
      entryFor('http://shop.example/about', ['page:about']),
    );
    const res = await admin.post(undefined, { 'surrogate-key': ' product:1  product:2 ' });
    expect(json(res)).toMatchObject({ status: 'ok', mode: 'hard', tags: 2, entries: 2 });
    expect(await presence(one, two, page)).toEqual([false, false, true]);
  });

  it('makes the Fastly form soft with Fastly-Soft-Purge: 1', async () => {
    const [one] = await put(entryFor('http://shop.example/products/1', ['product:1']));
    const res = await admin.post('', { 'surrogate-key': 'product:1', 'fastly-soft-purge': '1' });
    expect(json(res)).toMatchObject({ mode: 'soft', entries: 1 });
    expect(await softPurgedAt(one)).toBeGreaterThan(0);
  });

  it('accepts a JSON media type with parameters', async () => {
    const res = await admin.post(JSON.stringify({ tags: ['x'] }), {
      'content-type': 'application/json; charset=utf-8',
    });
    expect(res.status).toBe(200);
  });

  it('logs each invalidation at info, never the token', async () => {
    await put(entryFor('http://shop.example/products/9', ['product:9']));
    await admin.post(JSON.stringify({ tags: ['product:9'] }));
    const line = admin.lines.findLast((l) => l.msg === 'invalidated');
    expect(line).toMatchObject({
      level: 'info',
      kind: 'tags',
      mode: 'hard',
      tags: 1,
      entries: 1,
      items: ['product:9'],
    });
    expect(JSON.stringify(admin.lines)).not.toContain(TOKEN);
  });

  it('times each invalidation in the duration histogram', async () => {
    await admin.post(JSON.stringify({ all: true }));
    const metric = await admin.metrics.invalidationDuration.get();
    const count = metric.values.find((v) => v.metricName?.endsWith('_count') && v.labels.kind === 'all');
    expect(count?.value).toBeGreaterThanOrEqual(1);
  });
});
