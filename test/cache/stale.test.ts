import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { storeCases } from './stores.js';

const cases = storeCases({ direct: true });
let origin: Origin;
let n = 0;
const path = () => `/s${++n}`;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

describe.each(cases)('stale responses (RFC 5861) on the $name store', (store) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy(
      { UPSTREAM_URL: origin.url, UPSTREAM_HEADERS_TIMEOUT_MS: '500', ...store.env() },
      {
        routes: [{ name: 'swr-route', pattern: '^/route-swr', staleWhileRevalidate: 60 }],
        default: { name: 'all' },
      },
    );
  });
  afterAll(async () => {
    await proxy.close();
  });

  describe('stale-while-revalidate', () => {
    it('serves the stale entry at once and refreshes it in the background', async () => {
      const p = path();
      origin.on(p, respond(200, { 'cache-control': 'max-age=0, stale-while-revalidate=60' }));
      await fetchRaw(proxy.url + p);
      const stale = await fetchRaw(proxy.url + p);
      expect(stale.headers['x-cache']).toBe('STALE');
      expect(stale.text()).toBe('body #1');
      expect(stale.headers['cache-status']).toContain('detail=stale-while-revalidate');
      await expect.poll(() => origin.count(p)).toBe(2);
      // The refresh replaced the entry: the next stale answer carries the second body.
      await expect.poll(async () => (await fetchRaw(proxy.url + p)).text()).toBe('body #2');
    });

    it('refreshes exactly once however many stale hits arrive together', async () => {
      const p = path();
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      // The refresh gets its headers at once and its body only at the release: held before its
      // headers, it would meet this suite's 500 ms UPSTREAM_HEADERS_TIMEOUT_MS on a loaded machine,
      // fail, and rightly leave the next stale hit to refresh again.
      origin.on(p, (_req, res, count) => {
        res.writeHead(200, { 'cache-control': 'max-age=0, stale-while-revalidate=60' });
        if (count === 1) return void res.end(`body #${count}`);
        res.flushHeaders();
        void gate.then(() => res.end(`body #${count}`));
      });
      await fetchRaw(proxy.url + p);
      const answers = await Promise.all(Array.from({ length: 50 }, () => fetchRaw(proxy.url + p)));
      expect(answers.every((a) => a.headers['x-cache'] === 'STALE')).toBe(true);
      release();
      await expect.poll(() => origin.count(p), { timeout: 15_000 }).toBe(2);
      // Still two after the refresh settled and more stale hits came in.
      await expect
        .poll(async () => (await fetchRaw(proxy.url + p)).text(), { timeout: 15_000 })
        .toBe('body #2');
      expect(origin.count(p)).toBeLessThanOrEqual(3);
    });

    it('takes the window from the route when the backend gives none', async () => {
      const p = `/route-swr${path()}`;
      origin.on(p, respond(200, { 'cache-control': 'max-age=0' }));
      await fetchRaw(proxy.url + p);
      const stale = await fetchRaw(proxy.url + p);
      expect(stale.headers['x-cache']).toBe('STALE');
    });

    it('never serves stale past must-revalidate', async () => {
      const p = path();
      origin.on(
        p,
        respond(200, { 'cache-control': 'max-age=0, must-revalidate, stale-while-revalidate=60' }),
      );
      await fetchRaw(proxy.url + p);
      const second = await fetchRaw(proxy.url + p);
      expect(second.headers['x-cache']).toBe('MISS');
      expect(origin.count(p)).toBe(2);
    });
  });

  describe('stale-if-error', () => {
    const failures: [string, (p: string) => void][] = [
      ['a 500', (p) => origin.on(p, (_q, res, c) => (c === 1 ? ok(res) : res.writeHead(500).end('boom')))],
      ['a 502', (p) => origin.on(p, (_q, res, c) => (c === 1 ? ok(res) : res.writeHead(502).end('boom')))],
      ['a 503', (p) => origin.on(p, (_q, res, c) => (c === 1 ? ok(res) : res.writeHead(503).end('boom')))],
      ['a 504', (p) => origin.on(p, (_q, res, c) => (c === 1 ? ok(res) : res.writeHead(504).end('boom')))],
      [
        'a reset connection',
        (p) => origin.on(p, (req, res, c) => (c === 1 ? ok(res) : req.socket.destroy())),
      ],
      ['a headers timeout', (p) => origin.on(p, (_q, res, c) => (c === 1 ? ok(res) : undefined))],
    ];
    function ok(res: import('node:http').ServerResponse) {
      res.writeHead(200, { 'cache-control': 'max-age=0, stale-if-error=600', etag: '"e1"' }).end('good');
    }

    it.each(failures)('answers %s with the stale entry', async (_name, script) => {
      const p = path();
      script(p);
      expect((await fetchRaw(proxy.url + p)).status).toBe(200);
      const second = await fetchRaw(proxy.url + p);
      expect(second.status).toBe(200);
      expect(second.text()).toBe('good');
      expect(second.headers['x-cache']).toBe('STALE');
      expect(second.headers['cache-status']).toContain('detail=stale-if-error');
    });

    it('answers a dead backend with the stale entry', async () => {
      const dead = await startOrigin();
      dead.on('/x', respond(200, { 'cache-control': 'max-age=0, stale-if-error=600' }));
      const p2 = await startProxy({ UPSTREAM_URL: dead.url, ...store.env() });
      try {
        await fetchRaw(`${p2.url}/x`);
        await dead.close();
        const second = await fetchRaw(`${p2.url}/x`);
        expect(second.status).toBe(200);
        expect(second.headers['x-cache']).toBe('STALE');
      } finally {
        await p2.close();
      }
    });

    it('passes the error on once the window is over (or never opened)', async () => {
      const p = path();
      origin.on(p, (_q, res, c) =>
        c === 1
          ? res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"x"' }).end('good')
          : res.writeHead(503).end('boom'),
      );
      await fetchRaw(proxy.url + p);
      const second = await fetchRaw(proxy.url + p);
      expect(second.status).toBe(503);
    });

    it('answers a HEAD with the failed revalidation itself: one backend request, not a GET then a HEAD', async () => {
      const p = path();
      origin.on(p, (_q, res, c) =>
        c === 1
          ? res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"x"' }).end('good')
          : res.writeHead(503).end('boom'),
      );
      await fetchRaw(proxy.url + p);
      const head = await fetchRaw(proxy.url + p, { method: 'HEAD' });
      expect(head.status).toBe(503);
      expect(head.headers['x-cache']).toBe('MISS');
      expect(origin.seen.filter((s) => s.url === p).map((s) => s.method)).toEqual(['GET', 'GET']);
    });

    it('passes a dead backend on to a HEAD once, when the entry forbids stale use', async () => {
      const p = path();
      origin.on(p, (req, res, c) =>
        c === 1
          ? res.writeHead(200, { 'cache-control': 'max-age=0, must-revalidate', etag: '"x"' }).end('good')
          : req.socket.destroy(),
      );
      await fetchRaw(proxy.url + p);
      const head = await fetchRaw(proxy.url + p, { method: 'HEAD' });
      expect(head.status).toBe(502);
      expect(head.headers['cache-status']).toContain('detail=TC_UPSTREAM_RESET');
      expect(origin.count(p)).toBe(2);
    });

    it('accepts the window from the request directive', async () => {
      const p = path();
      origin.on(p, (_q, res, c) =>
        c === 1
          ? res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"x"' }).end('good')
          : res.writeHead(503).end('boom'),
      );
      await fetchRaw(proxy.url + p);
      const second = await fetchRaw(proxy.url + p, { headers: { 'cache-control': 'stale-if-error=60' } });
      expect(second.status).toBe(200);
      expect(second.text()).toBe('good');
    });
  });
});
