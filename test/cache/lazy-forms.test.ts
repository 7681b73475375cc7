import type { IncomingMessage, ServerResponse } from 'node:http';
import { expect, it } from 'vitest';
import { scrape, sumOf } from '../core/prom.js';
import { decoded, fetchRaw } from '../support/http.js';
import { describeCache, POLL, untilStored } from './stores.js';

/**
 * Small bodies (up to 4 KiB) are stored with their gzip and br forms pending:
 * each is made the first time a client that prefers it asks, once per entry,
 * and written back to the store.
 */

/** 2 KiB of HTML: compressible, above COMPRESSION_MIN_BYTES, within the event-loop size. */
const BODY = Buffer.from('<li>an item of a small page that compresses well</li>\n'.repeat(38));

let n = 0;
const path = () => `/lazy${++n}`;

const ENCODINGS = [
  'gzip, deflate, br, zstd',
  'gzip, deflate',
  'br',
  '',
  'identity',
  'GZIP',
  'br;q=0.5, gzip',
];

it('the body is compressible and small enough to be made on a hit', () => {
  expect(BODY.length).toBeGreaterThan(1024);
  expect(BODY.length).toBeLessThanOrEqual(4096);
});

describeCache('forms made when first asked for', {}, (h) => {
  function serve(p: string) {
    h.origin.on(p, (req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, {
        'content-type': 'text/html',
        'cache-control': 'max-age=60',
        vary: 'Accept-Encoding',
        'content-length': String(BODY.length),
      });
      res.end(req.method === 'HEAD' ? undefined : BODY);
    });
  }

  it('makes no form while no client asks for one', async () => {
    const proxy = await h.startProxy();
    const p = path();
    serve(p);
    const get = () => fetchRaw(proxy.url + p);
    await get();
    await untilStored(proxy.url + p);
    for (let i = 0; i < 20; i++) {
      const res = await get();
      expect(res.headers['content-encoding']).toBeUndefined();
      expect(res.headers.vary).toMatch(/accept-encoding/i);
      expect(res.body.equals(BODY)).toBe(true);
    }
    expect(sumOf(await scrape(proxy.adminUrl), 'tagcache_compressed_forms_total')).toBe(0);
    expect(h.origin.count(p)).toBe(1);
  });

  it('makes each form once, on the first hit that prefers it, however Accept-Encoding alternates', async () => {
    const proxy = await h.startProxy();
    const p = path();
    serve(p);
    await fetchRaw(proxy.url + p);
    await untilStored(proxy.url + p);
    const answers = await Promise.all(
      Array.from({ length: 140 }, (_, i) =>
        fetchRaw(proxy.url + p, { headers: { 'accept-encoding': ENCODINGS[i % ENCODINGS.length] ?? '' } }),
      ),
    );
    answers.forEach((res, i) => {
      const asked = ENCODINGS[i % ENCODINGS.length] ?? '';
      const want =
        /br/.test(asked) && !/q=0\.5/.test(asked) ? 'br' : /gzip/i.test(asked) ? 'gzip' : undefined;
      expect(res.headers['content-encoding']).toBe(want);
      expect(res.headers['content-length']).toBe(String(res.body.length));
      expect(decoded(res).equals(BODY)).toBe(true);
    });
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_compressed_forms_total', { encoding: 'br' })).toBe(1);
    expect(sumOf(metrics, 'tagcache_compressed_forms_total', { encoding: 'gzip' })).toBe(1);
    expect(h.origin.count(p)).toBe(1);
  });

  it('a miss makes only the form its client prefers, and answers in it', async () => {
    const proxy = await h.startProxy();
    const p = path();
    serve(p);
    const res = await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(res.headers['content-encoding']).toBe('br');
    expect(decoded(res).equals(BODY)).toBe(true);
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_compressed_forms_total', { encoding: 'br' })).toBe(1);
    expect(sumOf(metrics, 'tagcache_compressed_forms_total', { encoding: 'gzip' })).toBe(0);
  });

  it.skipIf(h.store.name === 'memory')(
    'writes a form back to Redis: another instance finds it made',
    async () => {
      // One REDIS_PREFIX for both: the same store, as two instances of a fleet.
      const shared = h.store.env();
      const first = await h.startProxy(shared);
      const second = await h.startProxy(shared);
      const p = path();
      serve(p);
      const puts = async () =>
        sumOf(await scrape(first.adminUrl), 'tagcache_store_operation_duration_seconds_count', {
          operation: 'put',
        });
      // One Host for both: the key names the site, not the instance's port.
      const host = 'lazy.example';
      await fetchRaw(first.url + p, { headers: { host } });
      await expect.poll(puts, POLL).toBe(1);
      const br = await fetchRaw(first.url + p, { headers: { host, 'accept-encoding': 'br' } });
      expect(br.headers['content-encoding']).toBe('br');
      // The entry rewritten with its br form has reached Redis.
      await expect.poll(puts, POLL).toBe(2);
      const other = await fetchRaw(second.url + p, { headers: { host, 'accept-encoding': 'br' } });
      expect(other.headers['content-encoding']).toBe('br');
      expect(other.body.equals(br.body)).toBe(true);
      expect(sumOf(await scrape(second.adminUrl), 'tagcache_compressed_forms_total')).toBe(0);
      expect(h.origin.count(p)).toBe(1);
    },
  );
});
