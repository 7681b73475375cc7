import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/support/redis-server.js';
import { storeCases } from '../cache/stores.js';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import {
  type ProxyProcess,
  type RunningProxy,
  spawnProxy,
  startProxy,
  waitForHttp,
  writeRoutes,
} from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';

const TOKEN = 'test-token-0123456789';
const ROUTES = {
  routes: [{ name: 'product', pattern: '^/products/(?<id>\\d+)$', tags: ['product:{id}', 'products'] }],
  default: { name: 'other' },
};

function purge(adminUrl: string, body: unknown, headers: Record<string, string> = {}) {
  return fetchRaw(`${adminUrl}/invalidate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const cases = storeCases({ direct: true });
let origin: Origin;
let n = 0;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

describe.each(cases)("a publisher's view on the $name store", (store) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy({ UPSTREAM_URL: origin.url, ...store.env() }, ROUTES);
  });
  afterAll(async () => {
    await proxy.close();
  });
  const get = (p: string, headers: Record<string, string> = {}) => fetchRaw(proxy.url + p, { headers });
  const product = () => `/products/${++n}`;

  it('GET MISS → GET HIT → purge the tag → GET MISS → GET HIT', async () => {
    const p = product();
    origin.on(p, respond(200, { 'cache-control': 'max-age=3600', 'surrogate-key': 'catalogue' }));
    expect((await get(p)).headers['x-cache']).toBe('MISS');
    expect((await get(p)).headers['x-cache']).toBe('HIT');
    const res = await purge(proxy.adminUrl, { tags: ['catalogue'] });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text())).toMatchObject({ status: 'ok', mode: 'hard', tags: 1, entries: 1 });
    const after = await get(p);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.text()).toBe('body #2');
    expect((await get(p)).headers['x-cache']).toBe('HIT');
  });

  it('purges by a route template tag', async () => {
    const p = product();
    const id = p.split('/')[2];
    origin.on(p, respond(200, { 'cache-control': 'max-age=3600' }));
    await get(p);
    await purge(proxy.adminUrl, { tags: [`product:${id}`] });
    expect((await get(p)).headers['x-cache']).toBe('MISS');
  });

  it('purges whole tags only', async () => {
    const a = product();
    origin.on(
      a,
      respond(200, { 'cache-control': 'max-age=3600', 'surrogate-key': '/api/routes/2026/programme' }),
    );
    await get(a);
    await purge(proxy.adminUrl, { tags: ['/api/routes/2026'] });
    expect((await get(a)).headers['x-cache']).toBe('HIT');
  });

  it('soft purge: served stale once while the entry revalidates (stale-while-revalidate)', async () => {
    const p = product();
    origin.on(
      p,
      respond(200, {
        'cache-control': 'max-age=3600, stale-while-revalidate=60',
        'surrogate-key': `soft${n}`,
      }),
    );
    await get(p);
    const res = await purge(proxy.adminUrl, { tags: [`soft${n}`], soft: true });
    expect(JSON.parse(res.text())).toMatchObject({ mode: 'soft', entries: 1 });
    const stale = await get(p);
    expect(stale.headers['x-cache']).toBe('STALE');
    expect(stale.text()).toBe('body #1');
    await expect.poll(() => origin.count(p)).toBe(2);
    await expect.poll(async () => (await get(p)).text()).toBe('body #2');
    expect((await get(p)).headers['x-cache']).toBe('HIT');
  });

  it('soft purge: served stale when the backend then fails (stale-if-error)', async () => {
    const p = product();
    origin.on(p, (_q, res, c) =>
      c === 1
        ? res
            .writeHead(200, {
              'cache-control': 'max-age=3600, stale-if-error=600',
              'surrogate-key': `sie${n}`,
            })
            .end('v1')
        : res.writeHead(503).end('down'),
    );
    await get(p);
    await purge(proxy.adminUrl, { tags: [`sie${n}`], soft: true });
    const res = await get(p);
    expect(res.status).toBe(200);
    expect(res.text()).toBe('v1');
    expect(res.headers['x-cache']).toBe('STALE');
  });

  it('hard purge leaves nothing to serve when the backend then fails', async () => {
    const p = product();
    origin.on(p, (_q, res, c) =>
      c === 1
        ? res
            .writeHead(200, {
              'cache-control': 'max-age=3600, stale-if-error=600',
              'surrogate-key': `hard${n}`,
            })
            .end('v1')
        : res.writeHead(503).end('down'),
    );
    await get(p);
    await purge(proxy.adminUrl, { tags: [`hard${n}`] });
    expect((await get(p)).status).toBe(503);
  });

  it('purges a URL with every variant, and everything', async () => {
    const p = product();
    origin.on(p, (req, res, c) =>
      res
        .writeHead(200, { 'cache-control': 'max-age=3600', vary: 'accept-language' })
        .end(`${req.headers['accept-language']} #${c}`),
    );
    await get(p, { 'accept-language': 'en' });
    await get(p, { 'accept-language': 'fr' });
    const res = await purge(proxy.adminUrl, { urls: [`https://127.0.0.1:${new URL(proxy.url).port}${p}`] });
    expect(JSON.parse(res.text())).toMatchObject({ urls: 1 });
    expect((await get(p, { 'accept-language': 'en' })).headers['x-cache']).toBe('MISS');
    expect((await get(p, { 'accept-language': 'fr' })).headers['x-cache']).toBe('MISS');
    await purge(proxy.adminUrl, { all: true });
    expect((await get(p, { 'accept-language': 'en' })).headers['x-cache']).toBe('MISS');
  });

  it('takes the Fastly form: an empty body and a Surrogate-Key header', async () => {
    const p = product();
    origin.on(p, respond(200, { 'cache-control': 'max-age=3600', 'surrogate-key': `fastly${n} other` }));
    await get(p);
    const res = await purge(proxy.adminUrl, undefined, { 'surrogate-key': `fastly${n}` });
    expect(res.status).toBe(200);
    expect((await get(p)).headers['x-cache']).toBe('MISS');
  });
});

describe('two proxy processes sharing one Redis', () => {
  let redis: TestRedis;
  let a: ProxyProcess;
  let b: ProxyProcess;
  let shared: Origin;
  beforeAll(async () => {
    redis = await startRedis();
    shared = await startOrigin();
    const env = {
      UPSTREAM_URL: shared.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('pair'),
      INVALIDATE_TOKEN: TOKEN,
      ROUTES_FILE: writeRoutes(ROUTES),
      LOG_LEVEL: 'warn',
    };
    a = await spawnProxy(env, { port: await freePort(), adminPort: await freePort() });
    b = await spawnProxy(env, { port: await freePort(), adminPort: await freePort() });
    await waitForHttp(`${a.adminUrl}/health/live`);
    await waitForHttp(`${b.adminUrl}/health/live`);
  });
  afterAll(async () => {
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    await Promise.all([a.exited, b.exited]);
    await shared.close();
    await redis.stop();
  });

  it('a purge sent to one is seen by the other', async () => {
    shared.on('/products/1', respond(200, { 'cache-control': 'max-age=3600' }));
    await fetchRaw(`${a.url}/products/1`);
    // A writes to Redis after its client has the body; B sees the entry once the write landed.
    await expect.poll(async () => (await fetchRaw(`${b.url}/products/1`)).headers['x-cache']).toBe('HIT');
    const res = await purge(a.adminUrl, { tags: ['product:1'] });
    expect(res.status).toBe(200);
    expect((await fetchRaw(`${b.url}/products/1`)).headers['x-cache']).toBe('MISS');
    await expect.poll(async () => (await fetchRaw(`${a.url}/products/1`)).headers['x-cache']).toBe('HIT');
  });
});
