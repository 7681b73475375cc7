import { request } from 'node:http';
import { expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { respond } from '../support/origin.js';
import { describeCache, POLL } from './stores.js';

let n = 0;
/** A fresh path per test: entries never leak between tests. */
const path = () => `/f${++n}`;

describeCache(
  'freshness (RFC 9111 §4.2)',
  {
    routes: {
      routes: [
        { name: 'ttl', pattern: '^/ttl', defaultTtl: 60 },
        { name: 'cookies', pattern: '^/cookie', cacheSetCookie: true },
      ],
      default: { name: 'all' },
    },
  },
  (h) => {
    async function twice(p: string, headers: Record<string, string> = {}) {
      const first = await fetchRaw(h.proxy.url + p, { headers });
      const second = await fetchRaw(h.proxy.url + p, { headers });
      return { first, second };
    }

    it('reuses a response with max-age', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=60' }));
      const { first, second } = await twice(p);
      expect(first.headers['x-cache']).toBe('MISS');
      expect(second.headers['x-cache']).toBe('HIT');
      expect(second.text()).toBe('body #1');
      expect(h.origin.count(p)).toBe(1);
    });

    it('prefers s-maxage over max-age as a shared cache', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=0, s-maxage=60' }));
      await twice(p);
      expect(h.origin.count(p)).toBe(1);
    });

    it('reuses a response with a future Expires', async () => {
      const p = path();
      h.origin.on(p, respond(200, { expires: new Date(Date.now() + 3_600_000).toUTCString() }));
      await twice(p);
      expect(h.origin.count(p)).toBe(1);
    });

    it('treats an invalid Expires as already expired', async () => {
      const p = path();
      h.origin.on(p, respond(200, { expires: 'never' }));
      await twice(p);
      expect(h.origin.count(p)).toBe(2);
    });

    it('lets max-age win over Expires', async () => {
      const p = path();
      h.origin.on(
        p,
        respond(200, { 'cache-control': 'max-age=60', expires: 'Thu, 01 Jan 1970 00:00:00 GMT' }),
      );
      await twice(p);
      expect(h.origin.count(p)).toBe(1);
    });

    it('counts an Age header from upstream against the lifetime', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=60', age: '120' }));
      await twice(p);
      expect(h.origin.count(p)).toBe(2);
    });

    it('serves Age that includes the upstream Age', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=3600', age: '100' }));
      const { second } = await twice(p);
      expect(Number(second.headers.age)).toBeGreaterThanOrEqual(100);
    });

    it("replaces a backend's own Age, X-Cache, Cache-Status and X-Request-Id rather than repeating them", async () => {
      const p = path();
      h.origin.on(
        p,
        respond(200, {
          'cache-control': 'max-age=3600',
          age: '5',
          'x-cache': 'HIT from an inner cache',
          'cache-status': 'inner; hit',
          'x-request-id': 'inner-id',
        }),
      );
      for (const expected of ['MISS', 'HIT']) {
        const raw = await rawHeaderLines(h.proxy.url + p);
        const named = (name: string) => raw.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
        expect(named('x-cache')).toEqual([expected]);
        expect(named('cache-status')).toHaveLength(1);
        expect(named('cache-status')[0]).toMatch(/^tagcache; /);
        expect(named('x-request-id')).toHaveLength(1);
        expect(named('x-request-id')[0]).not.toBe('inner-id');
        expect(named('age')).toHaveLength(1);
        expect(Number(named('age')[0])).toBeGreaterThanOrEqual(5);
      }
    });

    it('uses the first of conflicting max-age directives', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=0, max-age=3600' }));
      await twice(p);
      expect(h.origin.count(p)).toBe(2);
    });

    it('applies heuristic freshness from Last-Modified to a 200', async () => {
      const p = path();
      h.origin.on(
        p,
        respond(200, { 'last-modified': new Date(Date.now() - 100 * 86_400_000).toUTCString() }),
      );
      await twice(p);
      expect(h.origin.count(p)).toBe(1);
    });

    it('applies no heuristic freshness to a status not cacheable by default', async () => {
      const p = path();
      h.origin.on(
        p,
        respond(302, {
          location: '/x',
          'last-modified': new Date(Date.now() - 100 * 86_400_000).toUTCString(),
        }),
      );
      await twice(p);
      expect(h.origin.count(p)).toBe(2);
    });

    it('stores a 404 with max-age and a 500 with explicit freshness', async () => {
      const a = path();
      const b = path();
      h.origin.on(a, respond(404, { 'cache-control': 'max-age=60' }));
      h.origin.on(b, respond(500, { 'cache-control': 'max-age=60' }));
      await twice(a);
      await twice(b);
      expect(h.origin.count(a)).toBe(1);
      expect(h.origin.count(b)).toBe(1);
    });

    it('gives the route default TTL to a response with no freshness of its own', async () => {
      const p = `/ttl${path()}`;
      h.origin.on(p, respond(200, {}));
      const { second } = await twice(p);
      expect(second.headers['x-cache']).toBe('HIT');
      expect(h.origin.count(p)).toBe(1);
    });

    it('does not store no-store or private responses', async () => {
      const a = path();
      const b = path();
      h.origin.on(a, respond(200, { 'cache-control': 'max-age=60, no-store' }));
      h.origin.on(b, respond(200, { 'cache-control': 'max-age=60, private' }));
      await twice(a);
      await twice(b);
      expect(h.origin.count(a)).toBe(2);
      expect(h.origin.count(b)).toBe(2);
    });

    it('stores a no-cache response but validates it on every use', async () => {
      const p = path();
      h.origin.on(p, (req, res, count) => {
        if (req.headers['if-none-match'] === '"v1"') return void res.writeHead(304, { etag: '"v1"' }).end();
        res.writeHead(200, { 'cache-control': 'no-cache', etag: '"v1"' }).end(`body #${count}`);
      });
      const { second } = await twice(p);
      expect(h.origin.count(p)).toBe(2);
      expect(second.headers['x-cache']).toBe('REVALIDATED');
      expect(second.text()).toBe('body #1');
    });

    it('stores a response to an authorised request only when the response allows it', async () => {
      const a = path();
      const b = path();
      h.origin.on(a, respond(200, { 'cache-control': 'max-age=60' }));
      h.origin.on(b, respond(200, { 'cache-control': 'max-age=60, public' }));
      await twice(a, { authorization: 'Bearer x' });
      await twice(b, { authorization: 'Bearer x' });
      expect(h.origin.count(a)).toBe(2);
      expect(h.origin.count(b)).toBe(1);
    });

    it('does not store Set-Cookie responses unless the route opts in', async () => {
      const a = path();
      const b = `/cookie${path()}`;
      h.origin.on(a, respond(200, { 'cache-control': 'max-age=60', 'set-cookie': 'a=1' }));
      h.origin.on(b, respond(200, { 'cache-control': 'max-age=60', 'set-cookie': 'a=1' }));
      await twice(a);
      const { second } = await twice(b);
      expect(h.origin.count(a)).toBe(2);
      expect(h.origin.count(b)).toBe(1);
      expect(second.headers['set-cookie']).toEqual(['a=1']);
    });

    it('lets CDN-Cache-Control override Cache-Control for this cache and passes it on', async () => {
      const a = path();
      const b = path();
      h.origin.on(a, respond(200, { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }));
      h.origin.on(b, respond(200, { 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-store' }));
      const { second } = await twice(a);
      await twice(b);
      expect(h.origin.count(a)).toBe(1);
      expect(h.origin.count(b)).toBe(2);
      expect(second.headers['cdn-cache-control']).toBe('max-age=60');
      expect(second.headers['cache-control']).toBe('no-store');
    });

    it('ignores an invalid CDN-Cache-Control and falls back to Cache-Control', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=60', 'cdn-cache-control': 'Max-Age=0,' }));
      await twice(p);
      expect(h.origin.count(p)).toBe(1);
    });

    it('honours Surrogate-Control and hides it from clients', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'no-cache', 'surrogate-control': 'max-age=60' }));
      const { first, second } = await twice(p);
      expect(h.origin.count(p)).toBe(1);
      expect(first.headers['surrogate-control']).toBeUndefined();
      expect(second.headers['cache-control']).toBe('no-cache');
    });

    it('never stores a Vary: * response', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=60', vary: '*' }));
      await twice(p);
      expect(h.origin.count(p)).toBe(2);
    });

    it('answers request no-cache and max-age=0 by validating upstream', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=60' }));
      await fetchRaw(h.proxy.url + p);
      await fetchRaw(h.proxy.url + p, { headers: { 'cache-control': 'no-cache' } });
      await fetchRaw(h.proxy.url + p, { headers: { 'cache-control': 'max-age=0' } });
      await fetchRaw(h.proxy.url + p, { headers: { pragma: 'no-cache' } });
      expect(h.origin.count(p)).toBe(4);
    });

    it('answers only-if-cached with 504 when nothing is stored', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=60' }));
      const res = await fetchRaw(h.proxy.url + p, { headers: { 'cache-control': 'only-if-cached' } });
      expect(res.status).toBe(504);
      expect(res.headers['cache-status']).toBe('tagcache; fwd=miss; detail=only-if-cached');
      expect(h.origin.count(p)).toBe(0);
      // The client's own ask, answered as asked: logged at info under its own code, no upstream error.
      await expect
        .poll(() => h.proxy.lines.find((l) => l.msg === 'request' && l.path === p), POLL)
        .toBeDefined();
      const logged = h.proxy.lines.find((l) => l.msg === 'request' && l.path === p);
      expect(logged?.level).toBe('info');
      expect(logged?.err).toMatch(/^TC_ONLY_IF_CACHED: /);
    });

    it('answers only-if-cached with 504 when the stored response must be revalidated', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=0, must-revalidate', etag: '"o"' }));
      await fetchRaw(h.proxy.url + p);
      const res = await fetchRaw(h.proxy.url + p, { headers: { 'cache-control': 'only-if-cached' } });
      expect(res.status).toBe(504);
      expect(res.headers['cache-status']).toBe('tagcache; fwd=miss; detail=only-if-cached');
      expect(h.origin.count(p)).toBe(1);
    });

    it('stores a 200 that carries Content-Range: only a 206 is partial (RFC 9110 §14.4)', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=60', 'content-range': 'bytes 0-6/7' }));
      const { first, second } = await twice(p);
      expect(first.headers['x-cache']).toBe('MISS');
      expect(second.headers['x-cache']).toBe('HIT');
      expect(second.headers['content-range']).toBe('bytes 0-6/7');
      expect(second.text()).toBe('body #1');
      expect(h.origin.count(p)).toBe(1);
    });

    it('does not store when the request says no-store', async () => {
      const p = path();
      h.origin.on(p, respond(200, { 'cache-control': 'max-age=60' }));
      await twice(p, { 'cache-control': 'no-store' });
      expect(h.origin.count(p)).toBe(2);
    });
  },
);

/** Response header lines as sent, repeats kept (IncomingMessage.headers folds or drops them). */
function rawHeaderLines(url: string): Promise<[string, string][]> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const pairs: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          pairs.push([res.rawHeaders[i] ?? '', res.rawHeaders[i + 1] ?? '']);
        }
        resolve(pairs);
      });
    })
      .on('error', reject)
      .end();
  });
}
