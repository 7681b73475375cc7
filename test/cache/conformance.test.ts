import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { respond } from '../support/origin.js';
import { describeCache, POLL } from './stores.js';

/**
 * The edge cases of RFC 9111 that mature proxies get wrong, one test per
 * sentence, on every store: what is stored must read back the same from Redis.
 */
let n = 0;
const path = () => `/k${++n}`;
const hour = () => new Date(Date.now() + 3_600_000).toUTCString();

describeCache(
  'RFC 9111 edge cases',
  // These tests answer 5xx on purpose; a circuit breaker opening on them would answer the rest.
  { env: { BREAKER_CONSECUTIVE_FAILURES: '0', BREAKER_ERROR_RATE: '0' } },
  (h) => {
    async function cachedAfter(headers: Record<string, string | string[]>, status = 200): Promise<boolean> {
      const p = path();
      h.origin.on(p, respond(status, headers));
      await fetchRaw(h.proxy.url + p);
      await fetchRaw(h.proxy.url + p);
      return h.origin.count(p) === 1;
    }

    describe('Age parsing (RFC 9111 §5.1)', () => {
      const base = { 'cache-control': 'max-age=3600' };
      it.each([
        ['abc', true],
        ['-7200', true],
        ['7200.0', true],
        ['2147483647', false],
        ['2147483648', false],
        ['2147483649', false],
        ['7200, 0', false],
        ['0, 7200', true],
        ['0, 0', true],
      ])('Age: %s → cached %s', async (age, cached) => {
        expect(await cachedAfter({ ...base, age })).toBe(cached);
      });
      it('uses the first of two Age lines', async () => {
        expect(await cachedAfter({ ...base, age: ['7200', '0'] })).toBe(false);
        expect(await cachedAfter({ ...base, age: ['0', '7200'] })).toBe(true);
      });
      it('never serves a negative Age', async () => {
        const p = path();
        h.origin.on(p, respond(200, { ...base, age: '-100' }));
        await fetchRaw(h.proxy.url + p);
        expect(Number((await fetchRaw(h.proxy.url + p)).headers.age)).toBeGreaterThanOrEqual(0);
      });
    });

    describe('Expires parsing (RFC 9111 §5.3, RFC 9110 §5.6.7)', () => {
      it.each([
        'Thu, 18 Aug 2050 02:01:18 UTC',
        'Thu, 18 Aug 2050 02:01:18 AEST',
        'Thu, 18 Aug 50 02:01:18 GMT',
        'Thu 18 Aug 2050 02:01:18 GMT',
        'Thu, 18  Aug  2050 02:01:18 GMT',
        'Thu, 18-Aug-2050 02:01:18 GMT',
        'Thu, 18 Aug 2050 02.01.18 GMT',
        'Thu, 18 Aug 2050 2:01:18 GMT',
        '0',
      ])('treats Expires: %s as already expired', async (expires) => {
        expect(await cachedAfter({ expires })).toBe(false);
      });
      it('treats two Expires lines as invalid', async () => {
        expect(
          await cachedAfter({ expires: ['Thu, 18 Aug 2050 02:01:18 GMT', 'Thu, 18 Aug 2050 02:01:19 GMT'] }),
        ).toBe(false);
      });
      it.each([
        'Thursday, 18-Aug-50 02:01:18 GMT',
        'Thu Aug  8 02:01:18 2050',
        'THU, 18 AUG 2050 02:01:18 gmt',
      ])('accepts the other HTTP-date forms: %s', async (expires) => {
        expect(await cachedAfter({ expires })).toBe(true);
      });
      it('computes the lifetime against Date, not the clock', async () => {
        const now = Date.now();
        expect(
          await cachedAfter({
            date: new Date(now + 400_000).toUTCString(),
            expires: new Date(now + 300_000).toUTCString(),
          }),
        ).toBe(false);
      });
    });

    describe('Cache-Control parsing (RFC 9111 §5.2)', () => {
      it.each([
        ['extension="max-age=3600", max-age=0', false],
        ['max-age=0, max-age=3600', false],
        ['max-age=003600', true],
        ["max-age='3600'", false],
        ['max-age=10000, No-CaChE', false],
        ['No-StOrE, max-age=3600', false],
        ['MaX-aGe=3600', true],
        ['foobar, max-age=3600', true],
      ])('Cache-Control: %s → cached %s', async (cc, cached) => {
        expect(await cachedAfter({ 'cache-control': cc })).toBe(cached);
      });
      it('takes s-maxage over max-age whichever comes first, even on separate lines', async () => {
        expect(await cachedAfter({ 'cache-control': ['max-age=3600', 's-maxage=0'] })).toBe(false);
        expect(await cachedAfter({ 'cache-control': 's-maxage=0, max-age=3600' })).toBe(false);
      });
      it('reuses a fresh must-revalidate response without revalidating', async () => {
        expect(await cachedAfter({ 'cache-control': 'max-age=3600, must-revalidate', etag: '"m"' })).toBe(
          true,
        );
      });
    });

    describe('status codes (RFC 9111 §3, §4.2.2)', () => {
      it.each([200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500, 502, 503, 504, 599])(
        'stores a %i with explicit freshness',
        async (status) => {
          expect(await cachedAfter({ 'cache-control': 'max-age=3600' }, status)).toBe(true);
        },
      );
      it.each([201, 202, 403, 502, 503, 504, 599])(
        'applies no heuristic freshness to a %i',
        async (status) => {
          expect(
            await cachedAfter({ 'last-modified': new Date(Date.now() - 86_400_000).toUTCString() }, status),
          ).toBe(false);
        },
      );
      it('applies heuristic freshness to any status marked public', async () => {
        expect(
          await cachedAfter(
            { 'cache-control': 'public', 'last-modified': new Date(Date.now() - 86_400_000).toUTCString() },
            599,
          ),
        ).toBe(true);
      });
      it('lets must-understand override no-store only for a status it understands', async () => {
        expect(await cachedAfter({ 'cache-control': 'max-age=3600, no-store, must-understand' }, 200)).toBe(
          true,
        );
        expect(await cachedAfter({ 'cache-control': 'max-age=3600, no-store, must-understand' }, 599)).toBe(
          false,
        );
      });
    });

    describe('CDN-Cache-Control (RFC 9213)', () => {
      it.each([
        [{ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=3600' }, true],
        [{ 'cache-control': 'max-age=3600', 'cdn-cache-control': 'max-age=0' }, false],
        [{ 'cdn-cache-control': 'max-age=0', expires: hour() }, false],
        [{ 'cache-control': 'max-age=3600', 'cdn-cache-control': 'private' }, false],
        [{ 'cache-control': 'max-age=3600', 'cdn-cache-control': 'no-cache' }, false],
        [{ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=3600, &&&&&' }, false],
        [{ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age="3600"' }, false],
        [{ 'cdn-cache-control': 'max-age=3600', age: '7200' }, false],
      ])('%o → cached %s', async (headers, cached) => {
        expect(await cachedAfter(headers)).toBe(cached);
      });
    });

    describe('stored headers (RFC 9111 §3.1, §5.1; RFC 9110 §6.6.1)', () => {
      it('serves the stored Date unchanged and a growing Age', async () => {
        const p = path();
        const date = new Date(Date.now() - 10_000).toUTCString();
        h.origin.on(p, respond(200, { 'cache-control': 'max-age=3600', date, age: '30' }));
        const first = await fetchRaw(h.proxy.url + p);
        expect(first.headers.age).toBe('30');
        const second = await fetchRaw(h.proxy.url + p);
        expect(second.headers.date).toBe(date);
        expect(Number(second.headers.age)).toBeGreaterThanOrEqual(30);
      });
      it('drops the fields Connection names, on misses and on hits', async () => {
        const p = path();
        h.origin.on(
          p,
          respond(200, { 'cache-control': 'max-age=3600', connection: 'a, b', a: '1', b: '2', c: '3' }),
        );
        for (const res of [await fetchRaw(h.proxy.url + p), await fetchRaw(h.proxy.url + p)]) {
          expect(res.headers.a).toBeUndefined();
          expect(res.headers.b).toBeUndefined();
          expect(res.headers.c).toBe('3');
        }
      });
      it('stores exactly the Content-Length the backend declared', async () => {
        const p = path();
        h.origin.on(p, (_req, res) => {
          res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-length': '10' });
          res.end();
        });
        h.origin.on(p, (req, res) => {
          // Declares 10 bytes and sends 10; the proxy must replay the same framing.
          res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-length': '10' });
          res.end('0123456789');
          void req;
        });
        await fetchRaw(h.proxy.url + p);
        const hit = await fetchRaw(h.proxy.url + p);
        expect(hit.headers['content-length']).toBe('10');
        expect(hit.text()).toBe('0123456789');
      });
    });

    describe('304 updates (RFC 9111 §3.2, §4.3.4)', () => {
      it('updates fields from the 304, adds new ones, keeps Content-Length and the body', async () => {
        const p = path();
        h.origin.on(p, (_req, res, c) => {
          if (c === 1)
            return void res
              .writeHead(200, {
                'cache-control': 'max-age=0',
                etag: '"e"',
                'test-header': 'A',
                'content-foo': 'A',
              })
              .end('12345');
          res
            .writeHead(304, {
              'cache-control': 'max-age=3600',
              etag: '"e"',
              'test-header': 'B',
              'content-foo': 'B',
              'new-header': 'N',
              'content-length': '99',
            })
            .end();
        });
        await fetchRaw(h.proxy.url + p);
        const validated = await fetchRaw(h.proxy.url + p);
        const hit = await fetchRaw(h.proxy.url + p);
        for (const res of [validated, hit]) {
          expect(res.status).toBe(200);
          expect(res.text()).toBe('12345');
          expect(res.headers['test-header']).toBe('B');
          expect(res.headers['content-foo']).toBe('B');
          expect(res.headers['new-header']).toBe('N');
          expect(res.headers['content-length']).toBe('5');
          expect(res.headers['cache-control']).toBe('max-age=3600');
        }
        expect(hit.headers['x-cache']).toBe('HIT');
        expect(h.origin.count(p)).toBe(2);
      });
    });

    describe('serving stale when the backend is unreachable (RFC 9111 §4.2.4)', () => {
      const TOKEN = 'test-token-0123456789';
      /** Stores a fresh entry, soft-purges it (stale now, no sleeping), then the backend drops the next request. */
      async function afterDisconnect(cc: string) {
        const p = path();
        h.origin.on(p, (req, res, c) => {
          if (c === 1)
            return void res.writeHead(200, { 'cache-control': cc, 'surrogate-key': `k${n}` }).end('stored');
          req.socket.destroy();
        });
        await fetchRaw(h.proxy.url + p);
        await fetchRaw(`${h.proxy.adminUrl}/invalidate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ tags: [`k${n}`], soft: true }),
        });
        return fetchRaw(h.proxy.url + p);
      }
      it('serves a plain stale entry', async () => {
        const res = await afterDisconnect('max-age=3600');
        expect(res.status).toBe(200);
        expect(res.text()).toBe('stored');
        expect(res.headers['cache-status']).toContain('detail=backend-outage');
      });
      it.each([
        'max-age=3600, must-revalidate',
        'max-age=3600, proxy-revalidate',
        'max-age=3600, no-cache',
        'max-age=3600, s-maxage=3600',
      ])('answers an error, not the stale entry, for %s', async (cc) => {
        const res = await afterDisconnect(cc);
        expect(res.status).toBe(502);
        expect(res.text()).not.toBe('stored');
      });
    });

    describe('other methods', () => {
      it('invalidates on an unknown method such as M-SEARCH', async () => {
        const p = path();
        h.origin.on(p, (req, res) => {
          if (req.method === 'GET')
            return void res.writeHead(200, { 'cache-control': 'max-age=3600' }).end('x');
          res.writeHead(200).end('done');
        });
        await fetchRaw(h.proxy.url + p);
        await fetchRaw(h.proxy.url + p, { method: 'M-SEARCH', body: 'abc' });
        expect((await fetchRaw(h.proxy.url + p)).headers['x-cache']).toBe('MISS');
      });
    });

    describe('interim responses (RFC 9110 §15.2)', () => {
      it('relays 103 Early Hints and caches only the final response', async () => {
        const p = path();
        h.origin.on(p, (_req, res) => {
          res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
          res.writeHead(200, { 'cache-control': 'max-age=3600' }).end('final');
        });
        const hints: string[] = [];
        await new Promise<void>((resolve, reject) => {
          const socket = connect(
            new URL(h.proxy.url).port ? Number(new URL(h.proxy.url).port) : 80,
            '127.0.0.1',
          );
          let raw = '';
          socket.on('data', (c: Buffer) => {
            raw += c.toString('latin1');
            if (raw.includes('final')) {
              hints.push(raw);
              socket.destroy();
              resolve();
            }
          });
          socket.on('error', reject);
          socket.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
        });
        expect(hints[0]).toMatch(/^HTTP\/1\.1 103 Early Hints\r\n[\s\S]*link: <\/style\.css>/i);
        await expect.poll(async () => (await fetchRaw(h.proxy.url + p)).headers['x-cache'], POLL).toBe('HIT');
        expect((await fetchRaw(h.proxy.url + p)).headers.link).toBeUndefined();
      });
    });
  },
);
