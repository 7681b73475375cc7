import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, type SimpleResponse } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import {
  startRedis,
  startRedisCluster,
  type TestRedis,
  type TestRedisCluster,
  uniquePrefix,
} from '../support/redis.js';

const TOKEN = 'test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

let redis: TestRedis | undefined;
let cluster: TestRedisCluster | undefined;
let origin: Origin;

beforeAll(async () => {
  [redis, cluster, origin] = await Promise.all([startRedis(), startRedisCluster(), startOrigin()]);
}, 120_000);
afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop(), origin?.close()]);
});

interface Case {
  readonly name: string;
  /** Settings of the store; instances given the same settings share it. */
  env(): Record<string, string>;
  readonly shared: boolean;
}

const CASES: Case[] = [
  { name: 'memory', env: () => ({}), shared: false },
  {
    name: 'Redis',
    env: () => ({ REDIS_URL: redis?.url ?? '', REDIS_PREFIX: uniquePrefix('api') }),
    shared: true,
  },
  {
    name: 'Redis without the local tier',
    env: () => ({ REDIS_URL: redis?.url ?? '', REDIS_PREFIX: uniquePrefix('api'), LOCAL_TIER_TTL_MS: '0' }),
    shared: true,
  },
  {
    name: 'Redis Cluster',
    env: () => ({
      REDIS_CLUSTER_NODES: (cluster?.nodes ?? []).map((n) => `${n.host}:${n.port}`).join(','),
      REDIS_PREFIX: uniquePrefix('api'),
    }),
    shared: true,
  },
];

let n = 0;
/** A fresh path segment per test, so tests on one origin never meet. */
const unique = () => `t${++n}`;

function json(res: SimpleResponse): Record<string, unknown> {
  return JSON.parse(res.text()) as Record<string, unknown>;
}

describe.each(CASES)('purge API on the $name store', (store) => {
  let proxy: RunningProxy;
  let env: Record<string, string>;
  beforeAll(async () => {
    env = { UPSTREAM_URL: origin.url, ...store.env() };
    proxy = await startProxy(env, undefined, { instanceId: 'instance-a' });
  }, 30_000);
  afterAll(async () => {
    await proxy?.close();
  });

  const get = (host: string, path: string) => fetchRaw(proxy.url + path, { headers: { host } });
  /**
   * Caches path on host (tagged as given), and waits until the shared store has it: a hit can come
   * from the local tier before the write to Redis lands, and purge counts are the store's.
   */
  async function cache(host: string, path: string, tags = 'none'): Promise<void> {
    origin.on(
      path.split('?')[0] ?? path,
      respond(200, { 'cache-control': 'max-age=3600', 'surrogate-key': tags }),
    );
    await get(host, path);
    await expect.poll(async () => (await get(host, path)).headers['x-cache']).toBe('HIT');
    const stored = async () => {
      const res = await fetchRaw(
        `${proxy.adminUrl}/entries?url=${encodeURIComponent(`http://${host}${path}`)}`,
        {
          headers: auth,
        },
      );
      return (JSON.parse(res.text()) as { keys: { variants: unknown[] }[] }).keys[0]?.variants.length;
    };
    await expect.poll(stored).toBe(1);
  }
  const xcache = async (host: string, path: string) => (await get(host, path)).headers['x-cache'];
  const purge = (body: unknown, headers: Record<string, string> = {}) =>
    fetchRaw(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('a prefix purge takes every URL of the host under the path, exact at the boundary', async () => {
    const t = unique();
    const host = `${t}.shop.example`;
    const inside = [`/${t}/products/`, `/${t}/products/1`, `/${t}/products/2?page=3`, `/${t}/products/a/b`];
    const outside = [`/${t}/products`, `/${t}/products-old/1`, `/${t}/productsx`, `/${t}/Products/1`];
    for (const path of [...inside, ...outside]) await cache(host, path);
    await cache(`other.${host}`, `/${t}/products/1`);
    const res = await purge({ prefixes: [`https://${host}/${t}/products/`] });
    expect(res.status).toBe(200);
    expect(json(res)).toMatchObject({ status: 'ok', mode: 'hard', prefixes: 1, entries: inside.length });
    for (const path of inside) expect(await xcache(host, path), path).toBe('MISS');
    for (const path of outside) expect(await xcache(host, path), path).toBe('HIT');
    expect(await xcache(`other.${host}`, `/${t}/products/1`)).toBe('HIT');
  });

  it('a soft prefix purge marks the entries stale: the next request revalidates', async () => {
    const t = unique();
    const host = `${t}.shop.example`;
    await cache(host, `/${t}/news/1`);
    await cache(host, `/${t}/sport/1`);
    const before = origin.count(`/${t}/news/1`);
    const res = await purge({ prefixes: [`http://${host}/${t}/news/`], soft: true });
    expect(json(res)).toMatchObject({ mode: 'soft', entries: 1 });
    expect(await xcache(host, `/${t}/news/1`)).not.toBe('HIT');
    expect(origin.count(`/${t}/news/1`)).toBe(before + 1);
    expect(await xcache(host, `/${t}/sport/1`)).toBe('HIT');
  });

  it('a tag purge scoped to a host leaves the same tag on other hosts (JSON and Surrogate-Key-Host)', async () => {
    const t = unique();
    const [a, b, c] = [`a.${t}.example`, `b.${t}.example`, `c.${t}.example`];
    for (const host of [a, b, c]) await cache(host, `/${t}/page`, `shared-${t}`);
    const res = await purge({ tags: [`shared-${t}`], host: a.toUpperCase() });
    expect(json(res)).toMatchObject({ mode: 'hard', tags: 1, host: a.toUpperCase(), entries: 1 });
    expect(await xcache(a, `/${t}/page`)).toBe('MISS');
    expect(await xcache(b, `/${t}/page`)).toBe('HIT');
    const header = await fetchRaw(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { ...auth, 'surrogate-key': `shared-${t}`, 'surrogate-key-host': b },
    });
    expect(json(header)).toMatchObject({ entries: 1, host: b });
    expect(await xcache(b, `/${t}/page`)).toBe('MISS');
    expect(await xcache(c, `/${t}/page`)).toBe('HIT');
  });

  it('lists each purge in the history, newest first, with its token name and what it named', async () => {
    const t = unique();
    await purge({ tags: [`h1-${t}`] });
    await purge({ prefixes: [`https://${t}.example/a/`], soft: true });
    const res = await fetchRaw(`${proxy.adminUrl}/invalidations?limit=2`, { headers: auth });
    expect(res.status).toBe(200);
    const { invalidations } = json(res) as { invalidations: Record<string, unknown>[] };
    expect(invalidations).toHaveLength(2);
    expect(invalidations[0]).toMatchObject({
      kind: 'prefixes',
      mode: 'soft',
      items: [`https://${t}.example/a/`],
      more: 0,
      entries: 0,
      instance: 'instance-a',
      by: 'INVALIDATE_TOKEN',
    });
    expect(invalidations[1]).toMatchObject({ kind: 'tags', mode: 'hard', items: [`h1-${t}`] });
    expect(Date.parse(String(invalidations[0]?.at))).toBeGreaterThan(Date.now() - 60_000);
  });

  const lookup = async (query: string) => {
    const res = await fetchRaw(`${proxy.adminUrl}/entries?${query}`, { headers: auth });
    expect(res.status).toBe(200);
    return json(res);
  };

  it('looks up a URL: each variant with its Vary values, tags, age, freshness, stale windows and size', async () => {
    const t = unique();
    const host = `${t}.shop.example`;
    const path = `/${t}/page`;
    origin.on(path, (req, res) => {
      const body = `hello ${req.headers['accept-language']}`;
      res
        .writeHead(200, {
          'cache-control': 'max-age=600, stale-while-revalidate=30, stale-if-error=300',
          vary: 'Accept-Language',
          'surrogate-key': `look-${t} page`,
          'content-length': Buffer.byteLength(body),
        })
        .end(body);
    });
    for (const lang of ['en', 'fr']) {
      await fetchRaw(proxy.url + path, { headers: { host, 'accept-language': lang } });
    }
    const query = `url=${encodeURIComponent(`https://${host}${path}`)}`;
    // Entries are written after the answer goes out: wait until both variants are there.
    await expect
      .poll(async () => ((await lookup(query)).keys as { variants: unknown[] }[])[0]?.variants.length)
      .toBe(2);
    const found = await lookup(query);
    const keys = found.keys as Record<string, unknown>[];
    expect(keys.map((k) => k.key)).toEqual([`http://${host}${path}`, `https://${host}${path}`]);
    expect(keys[1]).toMatchObject({ vary: null, variants: [], notStored: null });
    expect(keys[0]?.vary).toEqual(['accept-language']);
    const variants = (keys[0]?.variants ?? []) as Record<string, unknown>[];
    expect(variants.map((v) => v.variant)).toEqual(
      expect.arrayContaining([{ 'accept-language': 'en' }, { 'accept-language': 'fr' }]),
    );
    const en = variants.find((v) => (v.variant as Record<string, string>)['accept-language'] === 'en');
    expect(en).toMatchObject({
      status: 200,
      tags: [`look-${t}`, 'page'],
      stale: false,
      staleWhileRevalidateSeconds: 30,
      staleIfErrorSeconds: 300,
      mustRevalidate: false,
      softPurgedAt: null,
      bodyBytes: 8,
      contentEncoding: 'identity',
    });
    expect(en?.freshForSeconds).toBeGreaterThan(590);
    expect(en?.ageSeconds).toBeLessThan(10);
    expect(en?.keptForSeconds).toBeGreaterThanOrEqual(900);
  });

  it('says why the last response for a URL was not stored', async () => {
    const t = unique();
    const path = `/${t}/cookie`;
    origin.on(path, respond(200, { 'cache-control': 'max-age=600', 'set-cookie': 'session=1' }));
    await fetchRaw(proxy.url + path, { headers: { host: 'refused.example' } });
    const found = await lookup(`url=${encodeURIComponent(`http://refused.example${path}`)}`);
    const [http] = found.keys as Record<string, unknown>[];
    expect(http?.variants).toEqual([]);
    expect(http?.notStored).toMatchObject({
      reason: 'set-cookie',
      status: 200,
      explanation: expect.stringContaining('cacheSetCookie'),
    });
  });

  it('looks up a tag: how many entries carry it and the first N URLs', async () => {
    const t = unique();
    for (let i = 0; i < 5; i++) await cache(`${t}.example`, `/${t}/item/${i}`, `many-${t}`);
    const found = await lookup(`tag=many-${t}&limit=3`);
    expect(found).toMatchObject({ tag: `many-${t}`, count: 5 });
    expect(found.urls).toHaveLength(3);
    for (const url of found.urls as string[])
      expect(url).toMatch(new RegExp(`^http://${t}.example/${t}/item/\\d$`));
    await purge({ tags: [`many-${t}`] });
    expect(await lookup(`tag=many-${t}`)).toMatchObject({ count: 0, urls: [] });
  });

  it.runIf(store.shared)(
    'a prefix or host-scoped purge through one instance reaches the copies another keeps',
    async () => {
      const peer = await startProxy(env, undefined, { instanceId: 'instance-c' });
      try {
        const t = unique();
        const host = `${t}.example`;
        const paths = [`/${t}/a/1`, `/${t}/b/1`];
        for (const path of paths) {
          origin.on(path, respond(200, { 'cache-control': 'max-age=3600', 'surrogate-key': `scoped-${t}` }));
          await fetchRaw(peer.url + path, { headers: { host } });
          // In the shared store, not only in the peer's local tier: a prefix purge's tombstone covers
          // the whole site, so a write still in flight would be refused (tombstones.ts).
          const stored = async () =>
            (
              (await peer.app.ops.entries({ url: `http://${host}${path}` })) as {
                keys: { variants: unknown[] }[];
              }
            ).keys[0]?.variants.length;
          await expect.poll(stored).toBe(1);
          await expect
            .poll(async () => (await fetchRaw(peer.url + path, { headers: { host } })).headers['x-cache'])
            .toBe('HIT');
        }
        // What the peer answers is checked, not counts: the MISS below stores /a/1 again in the background.
        expect((await purge({ prefixes: [`http://${host}/${t}/a/`] })).status).toBe(200);
        await expect
          .poll(async () => (await fetchRaw(peer.url + paths[0], { headers: { host } })).headers['x-cache'])
          .toBe('MISS');
        expect((await fetchRaw(peer.url + paths[1], { headers: { host } })).headers['x-cache']).toBe('HIT');
        expect((await purge({ tags: [`scoped-${t}`], host })).status).toBe(200);
        await expect
          .poll(async () => (await fetchRaw(peer.url + paths[1], { headers: { host } })).headers['x-cache'])
          .toBe('MISS');
      } finally {
        await peer.close();
      }
    },
  );

  it.runIf(store.shared)('shares the history among instances sharing the store', async () => {
    const peer = await startProxy(env, undefined, { instanceId: 'instance-b' });
    try {
      const t = unique();
      await fetchRaw(`${peer.adminUrl}/invalidate`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ urls: [`https://${t}.example/x`] }),
      });
      const res = await fetchRaw(`${proxy.adminUrl}/invalidations?limit=1`, { headers: auth });
      expect((json(res) as { invalidations: unknown[] }).invalidations[0]).toMatchObject({
        kind: 'urls',
        items: [`https://${t}.example/x`],
        instance: 'instance-b',
      });
    } finally {
      await peer.close();
    }
  });
});

describe('purge API requests it refuses', () => {
  let proxy: RunningProxy;
  const tokens = {
    reader: 'reader-token-0123456789',
    purger: 'purger-token-0123456789',
  };
  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tagcache-tokens-')), 'tokens.json');
    const hex = (token: string) => createHash('sha256').update(token).digest('hex');
    writeFileSync(
      file,
      JSON.stringify([
        { name: 'reader', sha256: hex(tokens.reader), scopes: ['read'] },
        {
          name: 'purger',
          sha256: hex(tokens.purger),
          scopes: ['purge:tags', 'purge:urls', 'purge:prefixes', 'purge:all'],
        },
      ]),
    );
    proxy = await startProxy({
      UPSTREAM_URL: origin.url,
      INVALIDATE_TOKEN: '',
      INVALIDATE_TOKENS_FILE: file,
    });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  const purgeAs = (token: string, body: unknown) =>
    fetchRaw(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it.each([
    [{ tags: ['a'] }, 'purge:tags'],
    [{ tags: ['a'], host: 'shop.example' }, 'purge:tags'],
    [{ urls: ['https://shop.example/a'] }, 'purge:urls'],
    [{ prefixes: ['https://shop.example/a/'] }, 'purge:prefixes'],
    [{ all: true }, 'purge:all'],
  ])('refuses %j to a token without %s, naming it', async (body, scope) => {
    const res = await purgeAs(tokens.reader, body);
    expect(res.status).toBe(403);
    expect(json(res)).toEqual({
      error: 'TC_FORBIDDEN',
      message: `the token "reader" lacks the scope "${scope}" this request needs`,
    });
    expect((await purgeAs(tokens.purger, body)).status).toBe(200);
  });

  it.each(['/invalidations', '/entries?tag=a', '/entries?url=https%3A%2F%2Fshop.example%2F'])(
    'refuses %s to a token without read, and to no token',
    async (path) => {
      const read = (headers: Record<string, string>) => fetchRaw(`${proxy.adminUrl}${path}`, { headers });
      const res = await read({ authorization: `Bearer ${tokens.purger}` });
      expect(res.status).toBe(403);
      expect(json(res).message).toContain('"read"');
      expect((await read({})).status).toBe(401);
      expect((await read({ authorization: `Bearer ${tokens.reader}` })).status).toBe(200);
    },
  );

  it.each([
    ['', 'give exactly one url=<absolute URL> or tag=<tag>'],
    ['url=a&tag=b', 'give exactly one url=<absolute URL> or tag=<tag>'],
    ['url=%2Fpath', /^URL "\/path" is not absolute/],
    ['tag=a&limit=0', 'limit must be a whole number from 1 to 100; got "0"'],
    ['tag=a&limit=101', 'limit must be a whole number from 1 to 100; got "101"'],
    ['tag=a%20b', /^tag "a b" /],
  ])('answers 400 to GET /entries?%s', async (query, message) => {
    const res = await fetchRaw(`${proxy.adminUrl}/entries?${query}`, {
      headers: { authorization: `Bearer ${tokens.reader}` },
    });
    expect(res.status).toBe(400);
    expect(json(res).error).toBe('TC_BAD_REQUEST');
    if (typeof message === 'string') expect(json(res).message).toBe(message);
    else expect(String(json(res).message)).toMatch(message);
  });

  it.each([
    ['0', 'limit must be a whole number from 1 to 1000; got "0"'],
    ['1001', 'limit must be a whole number from 1 to 1000; got "1001"'],
    ['-1', 'limit must be a whole number from 1 to 1000; got "-1"'],
    ['2x', 'limit must be a whole number from 1 to 1000; got "2x"'],
  ])('answers 400 to limit=%s', async (limit, message) => {
    const res = await fetchRaw(`${proxy.adminUrl}/invalidations?limit=${limit}`, {
      headers: { authorization: `Bearer ${tokens.reader}` },
    });
    expect(res.status).toBe(400);
    expect(json(res)).toEqual({ error: 'TC_BAD_REQUEST', message });
  });

  it.each([
    [{ prefixes: ['/products/'] }, /^prefixes\[0\]: URL "\/products\/" is not absolute/],
    [{ prefixes: ['ftp://shop.example/'] }, /^prefixes\[0\]: URL "ftp:\/\/shop.example\/" is not http\(s\)/],
    [{ prefixes: [] }, /^"prefixes" is empty/],
    [{ tags: ['a'], host: 'shop example' }, /^"host" must be a host name/],
    [{ tags: ['a'], host: 7 }, /^"host" must be a host name/],
    [{ urls: ['https://shop.example/'], host: 'shop.example' }, /^"host" scopes a tag purge/],
    [{ prefixes: ['https://shop.example/'], tags: ['a'] }, /^send only one of/],
  ])('answers 400 to %j', async (body, message) => {
    const res = await purgeAs(tokens.purger, body);
    expect(res.status).toBe(400);
    expect(String(json(res).message)).toMatch(message);
  });
});
