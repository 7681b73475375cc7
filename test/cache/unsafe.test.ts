import { expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { respond } from '../support/origin.js';
import { describeCache } from './stores.js';

let n = 0;
const path = () => `/u${++n}`;

// A store timeout of 2 s as in the store suites: under CI load the default 250 ms fails writes and
// invalidations open (MISS where HIT is expected, HIT after a PUT), which is not what is tested here.
describeCache(
  'invalidation by unsafe methods (RFC 9111 §4.4)',
  { env: { STORE_TIMEOUT_MS: '2000' } },
  (h) => {
    async function cached(p: string): Promise<void> {
      h.origin.on(p, (req, res, c) => {
        if (req.method === 'GET')
          return void res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`get #${c}`);
        res.writeHead(200, {}).end('done');
      });
      await fetchRaw(h.proxy.url + p);
      expect((await fetchRaw(h.proxy.url + p)).headers['x-cache']).toBe('HIT');
    }

    it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
      'a successful %s invalidates the target URI',
      async (method) => {
        const p = path();
        await cached(p);
        const res = await fetchRaw(h.proxy.url + p, { method, body: 'x' });
        expect(res.headers['x-cache']).toBe('BYPASS');
        expect((await fetchRaw(h.proxy.url + p)).headers['x-cache']).toBe('MISS');
      },
    );

    it('a failed POST invalidates nothing', async () => {
      const p = path();
      await cached(p);
      h.origin.on(`${p}?fail`, respond(500, {}));
      h.origin.on(p, (req, res, c) => {
        if (req.method === 'GET')
          return void res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`get #${c}`);
        res.writeHead(500).end('no');
      });
      await fetchRaw(h.proxy.url + p, { method: 'POST', body: 'x' });
      expect((await fetchRaw(h.proxy.url + p)).headers['x-cache']).toBe('HIT');
    });

    it('invalidates Location and Content-Location on the same host, not on others', async () => {
      const a = path();
      const b = path();
      const c = path();
      await cached(a);
      await cached(b);
      const target = path();
      h.origin.on(target, (_req, res) => {
        res.writeHead(201, { location: a, 'content-location': `http://elsewhere.example${b}` }).end();
      });
      await fetchRaw(h.proxy.url + target, { method: 'POST', body: 'x' });
      expect((await fetchRaw(h.proxy.url + a)).headers['x-cache']).toBe('MISS');
      expect((await fetchRaw(h.proxy.url + b)).headers['x-cache']).toBe('HIT');
      void c;
    });

    it('invalidates every variant of the target', async () => {
      const p = path();
      h.origin.on(p, (req, res, c) => {
        if (req.method === 'GET')
          return void res
            .writeHead(200, { 'cache-control': 'max-age=3600', vary: 'accept-language' })
            .end(`#${c}`);
        res.writeHead(204).end();
      });
      for (const lang of ['en', 'fr'])
        await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': lang } });
      await fetchRaw(h.proxy.url + p, { method: 'DELETE' });
      for (const lang of ['en', 'fr']) {
        expect(
          (await fetchRaw(h.proxy.url + p, { headers: { 'accept-language': lang } })).headers['x-cache'],
        ).toBe('MISS');
      }
    });
  },
);

// The loopback peer is a trusted proxy, so X-Forwarded-Proto picks the scheme a request is keyed under.
describeCache(
  'unsafe methods and the purge API share one scheme rule',
  { env: { TRUSTED_PROXIES: '127.0.0.1', STORE_TIMEOUT_MS: '2000' } },
  (h) => {
    it('a POST that came over http invalidates the copy cached for https as well', async () => {
      const p = path();
      h.origin.on(p, (req, res, c) => {
        if (req.method === 'GET')
          return void res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`get #${c}`);
        res.writeHead(200).end('done');
      });
      const https = { 'x-forwarded-proto': 'https' };
      await fetchRaw(h.proxy.url + p, { headers: https });
      expect((await fetchRaw(h.proxy.url + p, { headers: https })).headers['x-cache']).toBe('HIT');
      await fetchRaw(h.proxy.url + p, { method: 'POST', body: 'x' });
      expect((await fetchRaw(h.proxy.url + p, { headers: https })).headers['x-cache']).toBe('MISS');
    });
  },
);
