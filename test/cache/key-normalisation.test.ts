import { describe, expect, it } from 'vitest';
import { getTarget } from '../support/http.js';
import { respond } from '../support/origin.js';
import { describeCache } from './stores.js';

/**
 * Issue 15's key rules as sentences, each against a real origin that counts
 * requests: one stored object per URL however clients write it, forced
 * freshness per route, Surrogate-Control per directive, and a Cache-Status
 * that says `stored` only when the answer is kept.
 */
const MAX_OBJECT_BYTES = 8192;
let n = 0;
const id = () => ++n;

const ROUTES = {
  routes: [
    {
      name: 'sorted',
      pattern: '^/sorted/',
      cacheKeyQuery: { sort: true, ignore: ['utm_*', 'fbclid', 'gclid'] },
    },
    { name: 'kept', pattern: '^/kept/', cacheKeyQuery: { keep: ['id', 'page'], ignore: ['page'] } },
    { name: 'forced', pattern: '^/forced/', ttl: 600 },
    { name: 'forced-zero', pattern: '^/forced-zero/', ttl: 0 },
    { name: 'forced-private', pattern: '^/forced-private/', ttl: 600, ttlOverrides: ['private', 'no-store'] },
    { name: 'uncached', pattern: '^/uncached/', cache: false },
  ],
  default: { name: 'all' },
};

const get = getTarget;

describeCache(
  'one object per URL',
  { env: { MAX_OBJECT_BYTES: String(MAX_OBJECT_BYTES) }, routes: ROUTES },
  (h) => {
    /** The targets that reached the origin for a path, query included. */
    const seenFor = (path: string) =>
      h.origin.seen.filter((s) => s.url.split('?')[0] === path).map((s) => s.url);

    describe('cacheKeyQuery object form', () => {
      it('sort: true makes parameter order irrelevant, and the backend sees them sorted', async () => {
        const p = `/sorted/${id()}`;
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=600' }));
        await get(h.proxy.url, `${p}?b=2&a=1&a=0`);
        const second = await get(h.proxy.url, `${p}?a=1&a=0&b=2`);
        expect(second.headers['x-cache']).toBe('HIT');
        // Stable: a repeated name keeps its order.
        expect(seenFor(p)).toEqual([`${p}?a=1&a=0&b=2`]);
      });

      it('ignore drops tracking parameters by glob from the key and from the backend request', async () => {
        const p = `/sorted/${id()}`;
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=600' }));
        await get(h.proxy.url, `${p}?id=1&utm_source=news&utm_medium=mail`);
        expect((await get(h.proxy.url, `${p}?fbclid=abc&id=1`)).headers['x-cache']).toBe('HIT');
        expect((await get(h.proxy.url, `${p}?id=1&gclid=x`)).headers['x-cache']).toBe('HIT');
        expect((await get(h.proxy.url, `${p}?id=1`)).headers['x-cache']).toBe('HIT');
        expect(seenFor(p)).toEqual([`${p}?id=1`]);
      });

      it('keep is the allow-list and ignore still applies after it', async () => {
        const p = `/kept/${id()}`;
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=600' }));
        await get(h.proxy.url, `${p}?x=1&id=7&page=2`);
        expect((await get(h.proxy.url, `${p}?id=7`)).headers['x-cache']).toBe('HIT');
        expect(seenFor(p)).toEqual([`${p}?id=7`]);
      });
    });

    describe('path normalisation (RFC 3986 §6.2.2)', () => {
      it('dot segments, encoded unreserved characters and hex case make one entry', async () => {
        const p = `/paths/${id()}`;
        h.origin.on(`${p}/caf%C3%A9/~x`, respond(200, { 'cache-control': 'max-age=600' }));
        const spellings = [
          `${p}/caf%C3%A9/~x`,
          `${p}/caf%c3%a9/%7Ex`,
          `${p}/./caf%C3%A9/%7ex`,
          `${p}/x/../caf%C3%A9/~x`,
          `${p}/%2E%2E/${p.slice(1)}/caf%C3%A9/~x`,
        ];
        for (const target of spellings) await get(h.proxy.url, target);
        expect(h.origin.count(`${p}/caf%C3%A9/~x`)).toBe(1);
        expect(seenFor(`${p}/caf%C3%A9/~x`)).toHaveLength(1);
      });

      it('an encoded slash is not a slash', async () => {
        const p = `/paths/${id()}`;
        h.origin.on(`${p}/a%2Fb`, respond(200, { 'cache-control': 'max-age=600' }));
        h.origin.on(`${p}/a/b`, respond(200, { 'cache-control': 'max-age=600' }, 'other'));
        await get(h.proxy.url, `${p}/a%2fb`);
        const plain = await get(h.proxy.url, `${p}/a/b`);
        expect(plain.text()).toBe('other #1');
      });
    });

    describe('forced freshness: route ttl', () => {
      it("replaces the backend's lifetime", async () => {
        const p = `/forced/${id()}`;
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=0' }));
        await get(h.proxy.url, p);
        const second = await get(h.proxy.url, p);
        expect(second.headers['x-cache']).toBe('HIT');
        expect(String(second.headers['cache-status'])).toMatch(/ttl=(599|600)/);
        expect(h.origin.count(p)).toBe(1);
      });

      it('ttl 0 sends every request to the backend whatever it said', async () => {
        const p = `/forced-zero/${id()}`;
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=600' }));
        await get(h.proxy.url, p);
        expect((await get(h.proxy.url, p)).headers['x-cache']).not.toBe('HIT');
        expect(h.origin.count(p)).toBe(2);
      });

      it.each([
        ['private', { 'cache-control': 'private' }, 'private'],
        ['no-store', { 'cache-control': 'no-store' }, 'no-store'],
        ['Set-Cookie', { 'set-cookie': 'sid=1' }, 'set-cookie'],
      ])('does not store a %s answer', async (_label, headers, detail) => {
        const p = `/forced/${id()}`;
        h.origin.on(p, respond(200, headers));
        const first = await get(h.proxy.url, p);
        expect(first.headers['cache-status']).toContain(`detail=${detail}`);
        await get(h.proxy.url, p);
        expect(h.origin.count(p)).toBe(2);
      });

      it('ttlOverrides stores what the route says despite private and no-store, but never a Set-Cookie', async () => {
        const p = `/forced-private/${id()}`;
        h.origin.on(p, respond(200, { 'cache-control': 'private, no-store' }));
        await get(h.proxy.url, p);
        expect((await get(h.proxy.url, p)).headers['x-cache']).toBe('HIT');
        const q = `/forced-private/${id()}`;
        h.origin.on(q, respond(200, { 'set-cookie': 'sid=1' }));
        await get(h.proxy.url, q);
        await get(h.proxy.url, q);
        expect(h.origin.count(q)).toBe(2);
      });

      it('does not make a backend error live longer than the backend said', async () => {
        const p = `/forced/${id()}`;
        h.origin.on(p, respond(503, { 'cache-control': 'max-age=0' }));
        await get(h.proxy.url, p);
        await get(h.proxy.url, p);
        expect(h.origin.count(p)).toBe(2);
      });
    });

    describe('Surrogate-Control per directive', () => {
      it('an ESI-only Surrogate-Control leaves Cache-Control in charge', async () => {
        const p = `/esi/${id()}`;
        h.origin.on(
          p,
          respond(200, { 'surrogate-control': 'content="ESI/1.0"', 'cache-control': 'max-age=600' }),
        );
        await get(h.proxy.url, p);
        expect((await get(h.proxy.url, p)).headers['x-cache']).toBe('HIT');
        expect(h.origin.count(p)).toBe(1);
      });

      it('a Surrogate-Control with max-age still replaces Cache-Control', async () => {
        const p = `/esi/${id()}`;
        h.origin.on(
          p,
          respond(200, {
            'surrogate-control': 'max-age=600, content="ESI/1.0"',
            'cache-control': 'no-cache',
          }),
        );
        await get(h.proxy.url, p);
        expect((await get(h.proxy.url, p)).headers['x-cache']).toBe('HIT');
      });
    });

    describe('honest Cache-Status', () => {
      it.each([
        ['private', { 'cache-control': 'private, max-age=600' }],
        ['no-store', { 'cache-control': 'no-store' }],
        ['set-cookie', { 'cache-control': 'max-age=600', 'set-cookie': 'a=1' }],
        ['vary-star', { 'cache-control': 'max-age=600', vary: '*' }],
      ])('says detail=%s and not stored', async (detail, headers) => {
        const p = `/status/${id()}`;
        h.origin.on(p, respond(200, headers));
        const res = await get(h.proxy.url, p);
        expect(res.headers['cache-status']).toBe(`tagcache; fwd=uri-miss; fwd-status=200; detail=${detail}`);
      });

      it('says detail=too-large for a body the backend declares over MAX_OBJECT_BYTES', async () => {
        const p = `/status/${id()}`;
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=600' }, 'x'.repeat(MAX_OBJECT_BYTES + 1)));
        const res = await get(h.proxy.url, p);
        expect(res.headers['cache-status']).toContain('detail=too-large');
        expect(res.headers['cache-status']).not.toContain('stored');
      });

      it('says detail=route-bypass on a route with cache: false', async () => {
        const p = `/uncached/${id()}`;
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=600' }));
        const res = await get(h.proxy.url, p);
        expect(res.headers['cache-status']).toBe('tagcache; fwd=bypass; fwd-status=200; detail=route-bypass');
      });

      it('keeps a body just under MAX_OBJECT_BYTES that it said it stored', async () => {
        const p = `/status/${id()}`;
        const body = 'x'.repeat(MAX_OBJECT_BYTES - 10); // respond() appends " #1": 3 bytes
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'a b c' }, body));
        const first = await get(h.proxy.url, p);
        expect(first.headers['cache-status']).toContain('stored');
        await expect
          .poll(async () => (await get(h.proxy.url, p)).headers['x-cache'], { timeout: 10_000 })
          .toBe('HIT');
      });
    });
  },
);
