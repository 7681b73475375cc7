import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrape, sumOf } from '../core/prom.js';
import { closedPortUrl } from '../support/ports.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';
import { answered, type Backend, page, send, startBackend } from './support.js';

const ROUTES = {
  routes: [
    // A burst of three, hits included; the slow refill (one token in 20 s) keeps a loaded machine from
    // handing a token back between the burst and the request that must be refused.
    { name: 'limited', pattern: '^/limited', rateLimit: { requestsPerSecond: 0.05, burst: 3 } },
    // Hits are free; only what goes to the backend takes a token. The same slow refill: ten hits
    // taking over a second on a loaded machine must not hand the bucket a token back.
    { name: 'hits', pattern: '^/hits', rateLimit: { requestsPerSecond: 0.05, burst: 2, exemptHits: true } },
    { name: 'open', pattern: '^/open' },
  ],
  default: { name: 'other' },
};

let b: Backend;
let proxy: RunningProxy;

beforeAll(async () => {
  b = await startBackend(page('max-age=60'));
  proxy = await startProxy({ UPSTREAM_URL: b.url, TRUSTED_PROXIES: '127.0.0.4', ACCESS_LOG: 'off' }, ROUTES);
});
afterAll(async () => {
  await proxy?.close();
  await b?.close();
});

/** Statuses of `n` requests in a row from one client. */
async function burst(
  base: string,
  path: (i: number) => string,
  n: number,
  opts: Parameters<typeof send>[1] = {},
) {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(answered(await send(`${base}${path(i)}`, opts)).status);
  return out;
}

describe('rate limits per route and client address', () => {
  it('answers 429 with Retry-After and a short text body once the burst is spent', async () => {
    const from = { localAddress: '127.0.0.2' };
    expect(await burst(proxy.url, (i) => `/limited/a${i}`, 3, from)).toEqual([200, 200, 200]);
    const limited = answered(await send(`${proxy.url}/limited/a3`, from));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.headers['content-type']).toMatch(/^text\/plain/);
    expect(limited.body).toBe('429 Too Many Requests\n');
    expect(limited.headers['cache-status']).toContain('detail=TC_RATE_LIMITED');
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_rate_limited_total', { route: 'limited' })).toBeGreaterThan(0);
  });

  it('keeps each client address in its own bucket, and other routes unlimited', async () => {
    expect(await burst(proxy.url, (i) => `/limited/b${i}`, 4, { localAddress: '127.0.0.3' })).toEqual([
      200, 200, 200, 429,
    ]);
    expect(await burst(proxy.url, (i) => `/limited/c${i}`, 3, { localAddress: '127.0.0.5' })).toEqual([
      200, 200, 200,
    ]);
    expect(await burst(proxy.url, (i) => `/open/${i}`, 10, { localAddress: '127.0.0.3' })).toEqual(
      Array(10).fill(200),
    );
  });

  it('counts cache hits on routes without exemptHits', async () => {
    const from = { localAddress: '127.0.0.6' };
    expect(await burst(proxy.url, () => '/limited/same', 4, from)).toEqual([200, 200, 200, 429]);
  });

  it('lets cache hits through on routes with exemptHits', async () => {
    const from = { localAddress: '127.0.0.7' };
    expect(await burst(proxy.url, () => '/hits/same', 10, from)).toEqual(Array(10).fill(200));
    // One token went on the first miss; one is left for a new key, then the bucket is empty.
    expect(await burst(proxy.url, (i) => `/hits/new${i}`, 2, from)).toEqual([200, 429]);
    expect(answered(await send(`${proxy.url}/hits/same`, from)).headers['x-cache']).toBe('HIT');
  });

  it('honours X-Forwarded-For only from a trusted proxy', async () => {
    // Behind the trusted proxy 127.0.0.4, each forwarded client has its own bucket.
    const lb = (client: string) => ({
      localAddress: '127.0.0.4',
      headers: { 'x-forwarded-for': `${client}, 10.9.9.9` },
    });
    const viaLb = await burst(proxy.url, (i) => `/limited/lb${i}`, 4, {
      localAddress: '127.0.0.4',
      headers: { 'x-forwarded-for': '198.51.100.1' },
    });
    expect(viaLb).toEqual([200, 200, 200, 429]);
    expect(
      await burst(proxy.url, (i) => `/limited/lb2-${i}`, 3, {
        localAddress: '127.0.0.4',
        headers: { 'x-forwarded-for': '198.51.100.2' },
      }),
    ).toEqual([200, 200, 200]);
    // The right-most untrusted entry is the client: what the client wrote to its left does not matter.
    expect(answered(await send(`${proxy.url}/limited/lb3`, lb('198.51.100.1'))).status).toBe(200);
    // An untrusted peer cannot escape its bucket by inventing X-Forwarded-For values.
    const spoofed = [];
    for (let i = 0; i < 4; i++) {
      spoofed.push(
        answered(
          await send(`${proxy.url}/limited/sp${i}`, {
            localAddress: '127.0.0.8',
            headers: { 'x-forwarded-for': `203.0.113.${i}` },
          }),
        ).status,
      );
    }
    expect(spoofed).toEqual([200, 200, 200, 429]);
  });
});

describe('rate limits shared through Redis', () => {
  let redis: TestRedis;
  const proxies: RunningProxy[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    const prefix = uniquePrefix('ratelimit');
    for (let i = 0; i < 2; i++) {
      proxies.push(
        await startProxy(
          { UPSTREAM_URL: b.url, REDIS_URL: redis.url, REDIS_PREFIX: prefix, ACCESS_LOG: 'off' },
          ROUTES,
        ),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await redis?.stop();
  });

  it('draws one bucket across two instances', async () => {
    const [one, two] = proxies;
    if (one === undefined || two === undefined) throw new Error('two proxies');
    const from = { localAddress: '127.0.0.9' };
    expect(await burst(one.url, (i) => `/limited/r${i}`, 2, from)).toEqual([200, 200]);
    expect(await burst(two.url, (i) => `/limited/s${i}`, 2, from)).toEqual([200, 429]);
    expect(answered(await send(`${one.url}/limited/t`, from)).status).toBe(429);
  });

  it('falls back to a per-instance limit when Redis cannot be reached', async () => {
    const down = await startProxy(
      {
        UPSTREAM_URL: b.url,
        REDIS_URL: (await closedPortUrl()).replace('http', 'redis'),
        STORE_TIMEOUT_MS: '100',
        ACCESS_LOG: 'off',
      },
      ROUTES,
    );
    try {
      expect(await burst(down.url, (i) => `/limited/d${i}`, 4, { localAddress: '127.0.0.10' })).toEqual([
        200, 200, 200, 429,
      ]);
    } finally {
      await down.close();
    }
  });
});
