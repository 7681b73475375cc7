import { expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { describeCache } from './stores.js';

let n = 0;
const path = () => `/head-update/${++n}`;
const BODY = 'good';
const MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';

/**
 * RFC 9111 §4.3.5: a 200 to a HEAD the cache sends on as itself (here, one
 * with If-Match, which a cache does not evaluate) updates the stored GET
 * response it selects when the validators it carries and its Content-Length
 * agree, and makes it stale (never deletes it) when they do not.
 */
describeCache('a HEAD response and the stored GET', {}, (h) => {
  /** GETs answer with `stored`; HEADs with `head` (defaults: the same validators, a new field, a long life). */
  function script(p: string, stored: Record<string, string>, head: Record<string, string> = {}) {
    h.origin.on(p, (req, res) => {
      if (req.method === 'HEAD') {
        res
          .writeHead(200, {
            'content-length': String(BODY.length),
            ...stored,
            'cache-control': 'max-age=600',
            'x-version': '2',
            ...head,
          })
          .end();
        return;
      }
      res.writeHead(200, { 'content-length': String(BODY.length), 'x-version': '1', ...stored }).end(BODY);
    });
  }
  const gets = (p: string) => h.origin.seen.filter((s) => s.url === p && s.method === 'GET').length;
  const head = (p: string, headers: Record<string, string> = {}) =>
    fetchRaw(h.proxy.url + p, { method: 'HEAD', headers: { 'if-match': '*', ...headers } });

  it.each([
    ['ETag', { etag: '"v1"' }],
    ['Last-Modified', { 'last-modified': MODIFIED }],
  ])('updates the stored fields and freshness when the %s matches', async (_name, validator) => {
    const p = path();
    script(p, { 'cache-control': 'max-age=0', ...validator });
    expect((await fetchRaw(h.proxy.url + p)).headers['cache-status']).toContain('stored');
    const answer = await head(p);
    expect(answer.status).toBe(200);
    expect(answer.headers['x-cache']).toBe('BYPASS');
    const get = await fetchRaw(h.proxy.url + p);
    // Fresh again from the HEAD's max-age, with its fields, and the body stored by the GET.
    expect(get.headers['x-cache']).toBe('HIT');
    expect(get.headers['x-version']).toBe('2');
    expect(get.text()).toBe(BODY);
    expect(gets(p)).toBe(1);
  });

  it('updates the stored response from a HEAD without validators whose Content-Length agrees', async () => {
    const p = path();
    script(p, { 'cache-control': 'max-age=600' });
    await fetchRaw(h.proxy.url + p);
    expect((await head(p)).status).toBe(200);
    const get = await fetchRaw(h.proxy.url + p);
    expect(get.headers['x-cache']).toBe('HIT');
    expect(get.headers['x-version']).toBe('2');
    expect(gets(p)).toBe(1);
  });

  const differing = [
    ['another ETag', { etag: '"v1"' }, { etag: '"v2"' }],
    [
      'another Last-Modified',
      { 'last-modified': MODIFIED },
      { 'last-modified': 'Wed, 02 Dec 2026 10:00:00 GMT' },
    ],
    ['the same ETag but another Content-Length', { etag: '"v1"' }, { 'content-length': '99' }],
    ['no validator and another Content-Length', {}, { 'content-length': '99' }],
  ] as const;

  it.each(differing)(
    'considers the stored response stale when the HEAD carries %s',
    async (_name, validator, differs) => {
      const p = path();
      script(p, { 'cache-control': 'max-age=600', ...validator }, differs);
      await fetchRaw(h.proxy.url + p);
      expect((await fetchRaw(h.proxy.url + p)).headers['x-cache']).toBe('HIT');
      expect((await head(p)).status).toBe(200);
      const get = await fetchRaw(h.proxy.url + p);
      expect(get.headers['x-cache']).not.toBe('HIT');
      expect(get.text()).toBe(BODY);
      expect(gets(p)).toBe(2);
    },
  );

  // Any client may send the HEAD: it can make the entry be revalidated, never take it away.
  it.each(differing)(
    'keeps the stale response for stale-if-error after a HEAD with %s',
    async (_name, validator, differs) => {
      const p = path();
      const stored = {
        'content-length': String(BODY.length),
        'cache-control': 'max-age=600, stale-if-error=600',
        ...validator,
      };
      h.origin.on(p, (req, res, c) => {
        if (req.method === 'HEAD') return void res.writeHead(200, { ...stored, ...differs }).end();
        if (c === 1) return void res.writeHead(200, stored).end(BODY);
        res.writeHead(503).end('down');
      });
      await fetchRaw(h.proxy.url + p);
      expect((await head(p)).status).toBe(200);
      const get = await fetchRaw(h.proxy.url + p);
      expect(get.status).toBe(200);
      expect(get.headers['x-cache']).toBe('STALE');
      expect(get.text()).toBe(BODY);
      expect(gets(p)).toBe(2);
    },
  );

  it('leaves the stored response alone when the HEAD carried credentials it was not stored with', async () => {
    const p = path();
    script(p, { 'cache-control': 'max-age=600', etag: '"v1"' }, { etag: '"v2"' });
    await fetchRaw(h.proxy.url + p);
    expect((await head(p, { cookie: 'sid=ALICE' })).status).toBe(200);
    const get = await fetchRaw(h.proxy.url + p);
    expect(get.headers['x-cache']).toBe('HIT');
    expect(get.headers['x-version']).toBe('1');
    expect(gets(p)).toBe(1);
  });
});
