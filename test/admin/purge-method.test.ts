import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeCases } from '../cache/stores.js';
import { fetchRaw, type SimpleResponse } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';

const cases = storeCases({ direct: true });
const FULL = 'purge-all-token-0123456789';
const READER = 'reader-token-0123456789';
let origin: Origin;
let tokensFile: string;
let n = 0;
const path = () => `/pm${++n}`;

beforeAll(async () => {
  origin = await startOrigin();
  tokensFile = join(mkdtempSync(join(tmpdir(), 'tagcache-tokens-')), 'tokens.json');
  writeFileSync(
    tokensFile,
    JSON.stringify([
      { name: 'varnish-compat', token: FULL, scopes: ['purge:tags', 'purge:urls'] },
      { name: 'reader', token: READER, scopes: ['read'] },
    ]),
  );
});
afterAll(async () => {
  const purges = origin.seen.filter((seen) => seen.method === 'PURGE');
  await origin.close();
  // The whole file's worth: no PURGE, allowed, refused or off, ever reached the backend.
  expect(purges).toEqual([]);
});

function json(res: SimpleResponse): Record<string, unknown> {
  return JSON.parse(res.text()) as Record<string, unknown>;
}

/** Caches p (tagged, varying on Accept-Language) and checks both variants are hits. */
async function cacheVariants(proxy: RunningProxy, p: string, tags: string): Promise<void> {
  origin.on(p, (_req, res, c) => {
    res
      .writeHead(200, { 'cache-control': 'max-age=3600', vary: 'accept-language', 'surrogate-key': tags })
      .end(`#${c}`);
  });
  for (const lang of ['en', 'fr']) {
    await fetchRaw(proxy.url + p, { headers: { 'accept-language': lang } });
    await expect
      .poll(
        async () =>
          (await fetchRaw(proxy.url + p, { headers: { 'accept-language': lang } })).headers['x-cache'],
      )
      .toBe('HIT');
  }
  // A hit can come from Redis's local tier before the write to Redis lands; purge counts are Redis's.
  const stored = async () => {
    const found = (await proxy.app.ops.entries({ url: proxy.url + p })) as {
      keys: { variants: unknown[] }[];
    };
    return found.keys[0]?.variants.length;
  };
  await expect.poll(stored).toBe(2);
}

const xcache = async (proxy: RunningProxy, p: string, lang = 'en') =>
  (await fetchRaw(proxy.url + p, { headers: { 'accept-language': lang } })).headers['x-cache'];

describe.each(cases)('PURGE on the proxy port, $name store', (store) => {
  describe('off (the default)', () => {
    let proxy: RunningProxy;
    beforeAll(async () => {
      proxy = await startProxy({ UPSTREAM_URL: origin.url, ...store.env() });
    });
    afterAll(async () => {
      await proxy.close();
    });

    it('answers 405 and purges nothing, whatever the credentials', async () => {
      const p = path();
      await cacheVariants(proxy, p, 'off');
      const attempts: Record<string, string>[] = [
        {},
        { authorization: 'Bearer test-token-0123456789' },
        { 'xkey-purge': 'off' },
      ];
      for (const headers of attempts) {
        const res = await fetchRaw(proxy.url + p, { method: 'PURGE', headers });
        expect(res.status).toBe(405);
        expect(json(res)).toMatchObject({ error: 'TC_METHOD_NOT_ALLOWED' });
      }
      expect(await xcache(proxy, p)).toBe('HIT');
    });
  });

  describe('on, with a token', () => {
    let proxy: RunningProxy;
    beforeAll(async () => {
      proxy = await startProxy({
        UPSTREAM_URL: origin.url,
        PURGE_METHOD: 'on',
        // Loopback is not allowed: every request here must bring a token.
        PURGE_ALLOW: '10.0.0.0/8',
        INVALIDATE_TOKENS_FILE: tokensFile,
        ...store.env(),
      });
    });
    afterAll(async () => {
      await proxy.close();
    });

    it.each([
      ['no token', {}, 'no bearer token was sent and the client is not in PURGE_ALLOW'],
      [
        'a wrong token',
        { authorization: 'Bearer wrong-token-0123456789' },
        'the bearer token is not one tagcache knows',
      ],
      [
        'a token without the scope',
        { authorization: `Bearer ${READER}` },
        'the token "reader" lacks the scope "purge:urls"',
      ],
      // X-Forwarded-For is believed only from TRUSTED_PROXIES: a client cannot claim an allowed address.
      ['a forged X-Forwarded-For', { 'x-forwarded-for': '10.1.2.3' }, 'no bearer token was sent'],
    ])(
      'refuses a PURGE with %s (403) and purges nothing',
      async (_what, headers: Record<string, string>, why) => {
        const p = path();
        await cacheVariants(proxy, p, 'refused');
        const res = await fetchRaw(proxy.url + p, { method: 'PURGE', headers });
        expect(res.status).toBe(403);
        expect(json(res).error).toBe('TC_FORBIDDEN');
        expect(String(json(res).message)).toContain(why);
        expect(await xcache(proxy, p)).toBe('HIT');
      },
    );

    it('PURGE <url> with a token holding purge:urls purges every variant of that URL', async () => {
      const p = path();
      const other = path();
      await cacheVariants(proxy, p, 'url');
      await cacheVariants(proxy, other, 'url');
      const res = await fetchRaw(proxy.url + p, {
        method: 'PURGE',
        headers: { authorization: `Bearer ${FULL}` },
      });
      expect(res.status).toBe(200);
      expect(json(res)).toMatchObject({ status: 'ok', mode: 'hard', urls: 1, entries: 3 }); // 2 variants + marker
      expect(await xcache(proxy, p, 'en')).toBe('MISS');
      expect(await xcache(proxy, p, 'fr')).toBe('MISS');
      expect(await xcache(proxy, other)).toBe('HIT');
      const history = await fetchRaw(`${proxy.adminUrl}/invalidations?limit=1`, {
        headers: { authorization: `Bearer ${READER}` },
      });
      expect((json(history).invalidations as unknown[])[0]).toMatchObject({
        kind: 'urls',
        by: 'varnish-compat',
      });
    });
  });

  describe('on, from an address in PURGE_ALLOW', () => {
    let proxy: RunningProxy;
    beforeAll(async () => {
      proxy = await startProxy({
        UPSTREAM_URL: origin.url,
        PURGE_METHOD: 'on',
        PURGE_ALLOW: '127.0.0.1,::1',
        // Loopback forwards for others: X-Forwarded-For names the client.
        TRUSTED_PROXIES: '127.0.0.1,::1',
        ...store.env(),
      });
    });
    afterAll(async () => {
      await proxy.close();
    });

    it('xkey-purge purges the tags, xkey-softpurge marks them stale', async () => {
      const hard = path();
      const soft = path();
      const kept = path();
      await cacheVariants(proxy, hard, `hard-${n}`);
      await cacheVariants(proxy, soft, `soft-${n}`);
      await cacheVariants(proxy, kept, `kept-${n}`);
      const purged = await fetchRaw(`${proxy.url}/`, {
        method: 'PURGE',
        headers: { 'xkey-purge': `hard-${n}, x` },
      });
      expect(json(purged)).toMatchObject({ mode: 'hard', tags: 2, entries: 2 });
      expect(await xcache(proxy, hard)).toBe('MISS');
      const marked = await fetchRaw(`${proxy.url}/`, {
        method: 'PURGE',
        headers: { 'xkey-softpurge': `soft-${n}` },
      });
      expect(json(marked)).toMatchObject({ mode: 'soft', entries: 2 });
      expect(await xcache(proxy, soft)).not.toBe('HIT');
      expect(await xcache(proxy, kept)).toBe('HIT');
      const history = (await proxy.app.ops.history(2)).map((record) => [record.kind, record.mode, record.by]);
      expect(history).toEqual([
        ['tags', 'soft', 'PURGE_ALLOW'],
        ['tags', 'hard', 'PURGE_ALLOW'],
      ]);
    });

    it('Surrogate-Key purges the tags, and Surrogate-Key-Host limits them to one host', async () => {
      const p = path();
      const tag = `sk-${n}`;
      origin.on(p, (_req, res, c) => {
        res.writeHead(200, { 'cache-control': 'max-age=3600', 'surrogate-key': tag }).end(`#${c}`);
      });
      for (const host of ['a.example', 'b.example']) {
        await fetchRaw(proxy.url + p, { headers: { host } });
        const stored = async () =>
          (
            (await proxy.app.ops.entries({ url: `http://${host}${p}` })) as {
              keys: { variants: unknown[] }[];
            }
          ).keys[0]?.variants.length;
        await expect.poll(stored).toBe(1);
        expect((await fetchRaw(proxy.url + p, { headers: { host } })).headers['x-cache']).toBe('HIT');
      }
      const res = await fetchRaw(`${proxy.url}/`, {
        method: 'PURGE',
        headers: { 'surrogate-key': tag, 'surrogate-key-host': 'a.example' },
      });
      expect(json(res)).toMatchObject({ tags: 1, host: 'a.example', entries: 1 });
      expect((await fetchRaw(proxy.url + p, { headers: { host: 'a.example' } })).headers['x-cache']).toBe(
        'MISS',
      );
      expect((await fetchRaw(proxy.url + p, { headers: { host: 'b.example' } })).headers['x-cache']).toBe(
        'HIT',
      );
    });

    it('refuses a client forwarded from elsewhere, and a PURGE with two tag headers', async () => {
      const refused = await fetchRaw(`${proxy.url}/`, {
        method: 'PURGE',
        headers: { 'x-forwarded-for': '203.0.113.9', 'xkey-purge': 'a' },
      });
      expect(refused.status).toBe(403);
      const both = await fetchRaw(`${proxy.url}/`, {
        method: 'PURGE',
        headers: { 'xkey-purge': 'a', 'surrogate-key': 'b' },
      });
      expect(both.status).toBe(400);
      expect(json(both).message).toBe('send one tag header, not xkey-purge and surrogate-key');
    });

    it('discards a body sent with a PURGE and closes the connection', async () => {
      const res = await fetchRaw(`${proxy.url}/`, {
        method: 'PURGE',
        headers: { 'xkey-purge': 'body' },
        body: 'x'.repeat(100_000),
      });
      expect(res.status).toBe(200);
      expect(res.headers.connection).toBe('close');
    });
  });
});
