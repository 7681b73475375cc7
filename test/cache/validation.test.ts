import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { storeCases } from './stores.js';

const cases = storeCases({ direct: true });
let origin: Origin;
let n = 0;
const path = () => `/v${++n}`;
const LM = 'Tue, 01 Jan 2030 00:00:00 GMT';

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

describe.each(cases)('validation (RFC 9111 §4.3) on the $name store', (store) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy({ UPSTREAM_URL: origin.url, ...store.env() });
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('revalidates a stale entry with If-None-Match and serves it after a 304', async () => {
    const p = path();
    origin.on(p, (req, res, c) => {
      if (c > 1) {
        expect(req.headers['if-none-match']).toBe('"a"');
        res.writeHead(304, { etag: '"a"', 'cache-control': 'max-age=60' }).end();
        return;
      }
      res
        .writeHead(200, { etag: '"a"', 'cache-control': 'max-age=0', 'content-type': 'text/plain' })
        .end('original');
    });
    await fetchRaw(proxy.url + p);
    const second = await fetchRaw(proxy.url + p);
    expect(second.headers['x-cache']).toBe('REVALIDATED');
    expect(second.headers['cache-status']).toContain('fwd=stale; fwd-status=304');
    expect(second.text()).toBe('original');
    // The 304's max-age=60 made the entry fresh again.
    const third = await fetchRaw(proxy.url + p);
    expect(third.headers['x-cache']).toBe('HIT');
    expect(origin.count(p)).toBe(2);
  });

  it('revalidates with If-Modified-Since when only Last-Modified is known', async () => {
    const p = path();
    origin.on(p, (req, res, c) => {
      if (c > 1 && req.headers['if-modified-since'] === LM) return void res.writeHead(304, {}).end();
      res.writeHead(200, { 'last-modified': LM, 'cache-control': 'max-age=0' }).end('lm body');
    });
    await fetchRaw(proxy.url + p);
    const second = await fetchRaw(proxy.url + p);
    expect(second.headers['x-cache']).toBe('REVALIDATED');
    expect(second.text()).toBe('lm body');
  });

  it('updates stored headers from a 304 but never its Content-Length or Content-Type', async () => {
    const p = path();
    origin.on(p, (_req, res, c) => {
      if (c > 1) {
        res
          .writeHead(304, {
            etag: '"a"',
            'x-version': '2',
            'cache-control': 'max-age=60',
            'content-type': 'text/html',
          })
          .end();
        return;
      }
      res
        .writeHead(200, {
          etag: '"a"',
          'x-version': '1',
          'cache-control': 'max-age=0',
          'content-type': 'text/plain',
        })
        .end('12345');
    });
    await fetchRaw(proxy.url + p);
    await fetchRaw(proxy.url + p);
    const third = await fetchRaw(proxy.url + p);
    expect(third.headers['x-cache']).toBe('HIT');
    expect(third.headers['x-version']).toBe('2');
    expect(third.headers['content-length']).toBe('5');
    expect(third.headers['content-type']).toBe('text/plain');
  });

  it('replaces the entry when validation brings a full 200', async () => {
    const p = path();
    origin.on(p, (_req, res, c) =>
      res
        .writeHead(200, { etag: `"v${c}"`, 'cache-control': c === 1 ? 'max-age=0' : 'max-age=60' })
        .end(`v${c}`),
    );
    await fetchRaw(proxy.url + p);
    const second = await fetchRaw(proxy.url + p);
    expect(second.text()).toBe('v2');
    expect(second.headers['x-cache']).toBe('MISS');
    const third = await fetchRaw(proxy.url + p);
    expect(third.headers['x-cache']).toBe('HIT');
    expect(third.text()).toBe('v2');
  });

  it('answers a client If-None-Match with 304 from a fresh entry', async () => {
    const p = path();
    origin.on(p, respond(200, { etag: '"tag"', 'cache-control': 'max-age=60' }));
    await fetchRaw(proxy.url + p);
    const res = await fetchRaw(proxy.url + p, { headers: { 'if-none-match': '"other", "tag"' } });
    expect(res.status).toBe(304);
    expect(res.body.length).toBe(0);
    expect(res.headers.etag).toBe('"tag"');
    expect(res.headers['cache-control']).toBe('max-age=60');
    expect(origin.count(p)).toBe(1);
  });

  it('answers a client If-Modified-Since with 304 when not modified, 200 otherwise', async () => {
    const p = path();
    origin.on(
      p,
      respond(200, { 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT', 'cache-control': 'max-age=60' }),
    );
    await fetchRaw(proxy.url + p);
    const same = await fetchRaw(proxy.url + p, {
      headers: { 'if-modified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' },
    });
    const older = await fetchRaw(proxy.url + p, {
      headers: { 'if-modified-since': 'Sun, 31 Dec 2023 00:00:00 GMT' },
    });
    expect(same.status).toBe(304);
    expect(older.status).toBe(200);
    expect(origin.count(p)).toBe(1);
  });

  it('does not send the client its own validators for the stored response', async () => {
    const p = path();
    origin.on(p, (req, res, c) => {
      if (c > 1) {
        // The revalidation speaks of the stored "a", never the client's "zzz".
        expect(req.headers['if-none-match']).toBe('"a"');
        return void res.writeHead(304, { etag: '"a"' }).end();
      }
      res.writeHead(200, { etag: '"a"', 'cache-control': 'max-age=0' }).end('a');
    });
    await fetchRaw(proxy.url + p);
    const res = await fetchRaw(proxy.url + p, { headers: { 'if-none-match': '"zzz"' } });
    expect(res.status).toBe(200);
    expect(res.text()).toBe('a');
  });
});
