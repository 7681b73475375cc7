import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { storeCases } from './stores.js';

const cases = storeCases({ direct: true });
let origin: Origin;
let n = 0;
const path = () => `/u${++n}`;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

describe.each(cases)('invalidation by unsafe methods (RFC 9111 §4.4) on the $name store', (store) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy({ UPSTREAM_URL: origin.url, ...store.env() });
  });
  afterAll(async () => {
    await proxy.close();
  });

  async function cached(p: string): Promise<void> {
    origin.on(p, (req, res, c) => {
      if (req.method === 'GET')
        return void res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`get #${c}`);
      res.writeHead(200, {}).end('done');
    });
    await fetchRaw(proxy.url + p);
    expect((await fetchRaw(proxy.url + p)).headers['x-cache']).toBe('HIT');
  }

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    'a successful %s invalidates the target URI',
    async (method) => {
      const p = path();
      await cached(p);
      const res = await fetchRaw(proxy.url + p, { method, body: 'x' });
      expect(res.headers['x-cache']).toBe('BYPASS');
      expect((await fetchRaw(proxy.url + p)).headers['x-cache']).toBe('MISS');
    },
  );

  it('a failed POST invalidates nothing', async () => {
    const p = path();
    await cached(p);
    origin.on(`${p}?fail`, respond(500, {}));
    origin.on(p, (req, res, c) => {
      if (req.method === 'GET')
        return void res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`get #${c}`);
      res.writeHead(500).end('no');
    });
    await fetchRaw(proxy.url + p, { method: 'POST', body: 'x' });
    expect((await fetchRaw(proxy.url + p)).headers['x-cache']).toBe('HIT');
  });

  it('invalidates Location and Content-Location on the same host, not on others', async () => {
    const a = path();
    const b = path();
    const c = path();
    await cached(a);
    await cached(b);
    const target = path();
    origin.on(target, (_req, res) => {
      res.writeHead(201, { location: a, 'content-location': `http://elsewhere.example${b}` }).end();
    });
    await fetchRaw(proxy.url + target, { method: 'POST', body: 'x' });
    expect((await fetchRaw(proxy.url + a)).headers['x-cache']).toBe('MISS');
    expect((await fetchRaw(proxy.url + b)).headers['x-cache']).toBe('HIT');
    void c;
  });

  it('invalidates every variant of the target', async () => {
    const p = path();
    origin.on(p, (req, res, c) => {
      if (req.method === 'GET')
        return void res
          .writeHead(200, { 'cache-control': 'max-age=3600', vary: 'accept-language' })
          .end(`#${c}`);
      res.writeHead(204).end();
    });
    for (const lang of ['en', 'fr']) await fetchRaw(proxy.url + p, { headers: { 'accept-language': lang } });
    await fetchRaw(proxy.url + p, { method: 'DELETE' });
    for (const lang of ['en', 'fr']) {
      expect(
        (await fetchRaw(proxy.url + p, { headers: { 'accept-language': lang } })).headers['x-cache'],
      ).toBe('MISS');
    }
  });
});

describe.each(cases)('unsafe methods and the purge API share one scheme rule on the $name store', (store) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    // The loopback peer is a trusted proxy, so X-Forwarded-Proto picks the scheme a request is keyed under.
    proxy = await startProxy({ UPSTREAM_URL: origin.url, TRUSTED_PROXIES: '127.0.0.1', ...store.env() });
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('a POST that came over http invalidates the copy cached for https as well', async () => {
    const p = path();
    origin.on(p, (req, res, c) => {
      if (req.method === 'GET')
        return void res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`get #${c}`);
      res.writeHead(200).end('done');
    });
    const https = { 'x-forwarded-proto': 'https' };
    await fetchRaw(proxy.url + p, { headers: https });
    expect((await fetchRaw(proxy.url + p, { headers: https })).headers['x-cache']).toBe('HIT');
    await fetchRaw(proxy.url + p, { method: 'POST', body: 'x' });
    expect((await fetchRaw(proxy.url + p, { headers: https })).headers['x-cache']).toBe('MISS');
  });
});
