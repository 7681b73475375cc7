import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { attackStores, fromStore, purge } from './support.js';

/**
 * From finding 11 of issue 13: a backend that sends a revalidation's headers
 * and then stalls or drops the body must not cut a client the stale copy
 * could have answered, nor leave anything half-written behind.
 */
const stores = attackStores();
let origin: Origin;
let n = 0;
const path = () => `/fallback/${++n}`;
/** A body past MAX_OBJECT_BYTES: read ahead only so far, then streamed. */
const BIG = 64 * 1024;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

type Failure = (req: IncomingMessage, res: ServerResponse) => void;
const stalls: Failure = (_req, res) => {
  res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-length': '100' });
  res.write('half of a new');
};
const drops: Failure = (req, res) => {
  res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-length': '100' });
  res.write('half of a new', () => req.socket.destroy());
};

describe.each(stores)('on the $name store', (store) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy({
      UPSTREAM_URL: origin.url,
      UPSTREAM_BODY_TIMEOUT_MS: '200',
      MAX_OBJECT_BYTES: String(BIG / 2),
      ...store.env(),
    });
  });
  afterAll(async () => {
    await proxy.close();
  });

  /** Stored, made stale by a soft purge, and from then on the backend fails mid-body. */
  async function staleThenFailing(cc: string, failure: Failure): Promise<string> {
    const p = path();
    const tag = `f${n}`;
    origin.on(p, (req, res, c) => {
      if (c === 1) return void res.writeHead(200, { 'cache-control': cc, 'surrogate-key': tag }).end('good');
      failure(req, res);
    });
    await fetchRaw(proxy.url + p);
    await purge(proxy, { tags: [tag], soft: true });
    return p;
  }

  it.each([
    ['stalls', stalls],
    ['drops the connection', drops],
  ])(
    'a revalidation whose body %s is answered from the stale copy inside stale-if-error',
    async (_n, failure) => {
      const p = await staleThenFailing('max-age=3600, stale-if-error=600', failure);
      const res = await fetchRaw(proxy.url + p);
      expect(res.status).toBe(200);
      expect(res.text()).toBe('good');
      expect(res.headers['x-cache']).toBe('STALE');
      expect(res.headers['cache-status']).toContain('detail=stale-if-error');
      // Nothing of the half body was stored.
      expect((await fromStore(proxy, p)).text()).toBe('good');
    },
  );

  it.each([
    ['a client with a cookie', { headers: { cookie: 'sid=ALICE' } }],
    ['a HEAD', { method: 'HEAD' }],
  ])('the revalidation tagcache sends beside %s falls back the same way', async (_n, request) => {
    const p = await staleThenFailing('max-age=3600, stale-if-error=600', stalls);
    const res = await fetchRaw(proxy.url + p, request);
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('STALE');
    // One revalidation, no second try with the client's own request.
    expect(origin.count(p)).toBe(2);
  });

  it('a revalidation whose body stalls is answered from the stale copy during an outage', async () => {
    const p = await staleThenFailing('max-age=3600', stalls);
    const res = await fetchRaw(proxy.url + p);
    expect(res.text()).toBe('good');
    expect(res.headers['cache-status']).toContain('detail=backend-outage');
  });

  it('without leave to serve stale the body streams as it comes, and the cut is the client’s to see', async () => {
    const p = await staleThenFailing('max-age=3600, must-revalidate', drops);
    await expect(fetchRaw(proxy.url + p)).rejects.toThrow();
    expect((await fromStore(proxy, p)).status).not.toBe(200);
  });

  it('a whole new body replaces the stale copy as before', async () => {
    const p = path();
    const tag = `f${n}`;
    origin.on(p, (_req, res, c) =>
      res
        .writeHead(200, { 'cache-control': 'max-age=3600, stale-if-error=600', 'surrogate-key': tag })
        .end(`v${c}`),
    );
    await fetchRaw(proxy.url + p);
    await purge(proxy, { tags: [tag], soft: true });
    const res = await fetchRaw(proxy.url + p);
    expect(res.text()).toBe('v2');
    expect((await fromStore(proxy, p)).text()).toBe('v2');
  });

  it('a new body too large to read ahead reaches the client whole, streamed', async () => {
    const p = path();
    const tag = `f${n}`;
    const big = Buffer.alloc(BIG, 'x');
    origin.on(p, (_req, res, c) => {
      const cc = { 'cache-control': 'max-age=3600, stale-if-error=600', 'surrogate-key': tag };
      if (c === 1) return void res.writeHead(200, cc).end('small');
      res.writeHead(200, cc);
      // In pieces, so the read-ahead stops part-way and the rest follows through its stream.
      for (let i = 0; i < 8; i++) res.write(big.subarray((i * BIG) / 8, ((i + 1) * BIG) / 8));
      res.end();
    });
    await fetchRaw(proxy.url + p);
    await purge(proxy, { tags: [tag], soft: true });
    const res = await fetchRaw(proxy.url + p);
    expect(res.status).toBe(200);
    expect(res.body.equals(big)).toBe(true);
  });

  it('a background refresh whose body stalls leaves the stale copy as it was', async () => {
    const p = path();
    const tag = `f${n}`;
    let cut: () => void = () => undefined;
    const refreshCut = new Promise<void>((r) => {
      cut = r;
    });
    origin.on(p, (req, res, c) => {
      const cc = { 'cache-control': 'max-age=3600, stale-while-revalidate=600', 'surrogate-key': tag };
      if (c === 1) return void res.writeHead(200, cc).end('good');
      res.once('close', cut);
      stalls(req, res);
    });
    await fetchRaw(proxy.url + p);
    await purge(proxy, { tags: [tag], soft: true });
    expect((await fetchRaw(proxy.url + p)).headers['x-cache']).toBe('STALE');
    // The proxy gave up on the refresh's body (UPSTREAM_BODY_TIMEOUT_MS) and closed the connection.
    await refreshCut;
    const after = await fromStore(proxy, p);
    expect(after.text()).toBe('good');
  });
});
