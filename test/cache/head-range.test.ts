import { expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { describeCache } from './stores.js';

let n = 0;
const path = () => `/h${++n}`;
const BODY = '0123456789abcdefghij';

describeCache('HEAD and Range from cache', {}, (h) => {
  function stored(p: string) {
    h.origin.on(p, (req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"r1"', 'content-length': BODY.length });
      res.end(req.method === 'HEAD' ? undefined : BODY);
    });
  }

  it('answers HEAD from a cached GET', async () => {
    const p = path();
    stored(p);
    await fetchRaw(h.proxy.url + p);
    const head = await fetchRaw(h.proxy.url + p, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['x-cache']).toBe('HIT');
    expect(head.headers['content-length']).toBe(String(BODY.length));
    expect(head.body.length).toBe(0);
    expect(h.origin.count(p)).toBe(1);
  });

  it('does not store the answer to a HEAD miss as a GET', async () => {
    const p = path();
    stored(p);
    await fetchRaw(h.proxy.url + p, { method: 'HEAD' });
    const get = await fetchRaw(h.proxy.url + p);
    expect(get.text()).toBe(BODY);
  });

  it('answers a single range with 206 from cache', async () => {
    const p = path();
    stored(p);
    await fetchRaw(h.proxy.url + p);
    const part = await fetchRaw(h.proxy.url + p, { headers: { range: 'bytes=2-5' } });
    expect(part.status).toBe(206);
    expect(part.text()).toBe('2345');
    expect(part.headers['content-range']).toBe(`bytes 2-5/${BODY.length}`);
    const suffix = await fetchRaw(h.proxy.url + p, { headers: { range: 'bytes=-3' } });
    expect(suffix.text()).toBe('hij');
    expect(h.origin.count(p)).toBe(1);
  });

  it('answers an unsatisfiable range with 416', async () => {
    const p = path();
    stored(p);
    await fetchRaw(h.proxy.url + p);
    const res = await fetchRaw(h.proxy.url + p, { headers: { range: 'bytes=100-' } });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${BODY.length}`);
  });

  it('passes a backend 206 through on a miss without storing it', async () => {
    const p = path();
    h.origin.on(p, (req, res) => {
      if (req.headers.range !== undefined) {
        res
          .writeHead(206, { 'content-range': `bytes 0-1/${BODY.length}`, 'cache-control': 'max-age=60' })
          .end('01');
        return;
      }
      res.writeHead(200, { 'cache-control': 'max-age=60' }).end(BODY);
    });
    const part = await fetchRaw(h.proxy.url + p, { headers: { range: 'bytes=0-1' } });
    expect(part.status).toBe(206);
    const full = await fetchRaw(h.proxy.url + p);
    expect(full.status).toBe(200);
    expect(full.text()).toBe(BODY);
  });

  it('streams a body over MAX_OBJECT_BYTES through without storing it', async () => {
    const small = await h.startProxy({ MAX_OBJECT_BYTES: '10', CACHE_MAX_BYTES: '1MiB' });
    const p = path();
    stored(p);
    const first = await fetchRaw(small.url + p);
    const second = await fetchRaw(small.url + p);
    expect(first.text()).toBe(BODY);
    expect(second.text()).toBe(BODY);
    expect(second.headers['x-cache']).toBe('MISS');
  });
});
