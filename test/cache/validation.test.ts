import { expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { respond } from '../support/origin.js';
import { describeCache } from './stores.js';

let n = 0;
const path = () => `/v${++n}`;
const LM = 'Tue, 01 Jan 2030 00:00:00 GMT';

describeCache('validation (RFC 9111 §4.3)', {}, (h) => {
  it('revalidates a stale entry with If-None-Match and serves it after a 304', async () => {
    const p = path();
    h.origin.on(p, (req, res, c) => {
      if (c > 1) {
        expect(req.headers['if-none-match']).toBe('"a"');
        res.writeHead(304, { etag: '"a"', 'cache-control': 'max-age=60' }).end();
        return;
      }
      res
        .writeHead(200, { etag: '"a"', 'cache-control': 'max-age=0', 'content-type': 'text/plain' })
        .end('original');
    });
    await fetchRaw(h.proxy.url + p);
    const second = await fetchRaw(h.proxy.url + p);
    expect(second.headers['x-cache']).toBe('REVALIDATED');
    expect(second.headers['cache-status']).toContain('fwd=stale; fwd-status=304');
    expect(second.text()).toBe('original');
    // The 304's max-age=60 made the entry fresh again.
    const third = await fetchRaw(h.proxy.url + p);
    expect(third.headers['x-cache']).toBe('HIT');
    expect(h.origin.count(p)).toBe(2);
  });

  it('revalidates with If-Modified-Since when only Last-Modified is known', async () => {
    const p = path();
    h.origin.on(p, (req, res, c) => {
      if (c > 1 && req.headers['if-modified-since'] === LM) return void res.writeHead(304, {}).end();
      res.writeHead(200, { 'last-modified': LM, 'cache-control': 'max-age=0' }).end('lm body');
    });
    await fetchRaw(h.proxy.url + p);
    const second = await fetchRaw(h.proxy.url + p);
    expect(second.headers['x-cache']).toBe('REVALIDATED');
    expect(second.text()).toBe('lm body');
  });

  it('updates stored headers from a 304 but never its Content-Length or Content-Type', async () => {
    const p = path();
    h.origin.on(p, (_req, res, c) => {
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
    await fetchRaw(h.proxy.url + p);
    await fetchRaw(h.proxy.url + p);
    const third = await fetchRaw(h.proxy.url + p);
    expect(third.headers['x-cache']).toBe('HIT');
    expect(third.headers['x-version']).toBe('2');
    expect(third.headers['content-length']).toBe('5');
    expect(third.headers['content-type']).toBe('text/plain');
  });

  it('replaces the entry when validation brings a full 200', async () => {
    const p = path();
    h.origin.on(p, (_req, res, c) =>
      res
        .writeHead(200, { etag: `"v${c}"`, 'cache-control': c === 1 ? 'max-age=0' : 'max-age=60' })
        .end(`v${c}`),
    );
    await fetchRaw(h.proxy.url + p);
    const second = await fetchRaw(h.proxy.url + p);
    expect(second.text()).toBe('v2');
    expect(second.headers['x-cache']).toBe('MISS');
    const third = await fetchRaw(h.proxy.url + p);
    expect(third.headers['x-cache']).toBe('HIT');
    expect(third.text()).toBe('v2');
  });

  it('answers a client If-None-Match with 304 from a fresh entry', async () => {
    const p = path();
    h.origin.on(p, respond(200, { etag: '"tag"', 'cache-control': 'max-age=60' }));
    await fetchRaw(h.proxy.url + p);
    const res = await fetchRaw(h.proxy.url + p, { headers: { 'if-none-match': '"other", "tag"' } });
    expect(res.status).toBe(304);
    expect(res.body.length).toBe(0);
    expect(res.headers.etag).toBe('"tag"');
    expect(res.headers['cache-control']).toBe('max-age=60');
    expect(h.origin.count(p)).toBe(1);
  });

  it('answers a client If-Modified-Since with 304 when not modified, 200 otherwise', async () => {
    const p = path();
    h.origin.on(
      p,
      respond(200, { 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT', 'cache-control': 'max-age=60' }),
    );
    await fetchRaw(h.proxy.url + p);
    const same = await fetchRaw(h.proxy.url + p, {
      headers: { 'if-modified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' },
    });
    const older = await fetchRaw(h.proxy.url + p, {
      headers: { 'if-modified-since': 'Sun, 31 Dec 2023 00:00:00 GMT' },
    });
    expect(same.status).toBe(304);
    expect(older.status).toBe(200);
    expect(h.origin.count(p)).toBe(1);
  });

  it('does not send the client its own validators for the stored response', async () => {
    const p = path();
    h.origin.on(p, (req, res, c) => {
      if (c > 1) {
        // The revalidation speaks of the stored "a", never the client's "zzz".
        expect(req.headers['if-none-match']).toBe('"a"');
        return void res.writeHead(304, { etag: '"a"' }).end();
      }
      res.writeHead(200, { etag: '"a"', 'cache-control': 'max-age=0' }).end('a');
    });
    await fetchRaw(h.proxy.url + p);
    const res = await fetchRaw(h.proxy.url + p, { headers: { 'if-none-match': '"zzz"' } });
    expect(res.status).toBe(200);
    expect(res.text()).toBe('a');
  });
});
