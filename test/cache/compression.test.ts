import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodingPreference } from '../../src/modules/cache/encoding.js';
import { scrape, sumOf } from '../core/prom.js';
import { decoded, fetchRaw } from '../support/http.js';
import type { Origin } from '../support/origin.js';
import { describeCache, POLL, untilStored } from './stores.js';

let n = 0;
const path = () => `/z${++n}`;

/** ~9 KiB of JSON that compresses like a real API answer. */
const BODY = Buffer.from(
  JSON.stringify(
    Array.from({ length: 60 }, (_, i) => ({
      id: 1000 + i,
      name: `product ${i} of the catalogue`,
      price: (i * 7.31) % 100,
      tags: ['blue', i % 2 === 0 ? 'sale' : 'new'],
      description: 'a sturdy thing that does what it says and keeps doing it',
    })),
  ),
);

interface ServeOptions {
  compress?: 'asked' | 'always';
  headers?: Record<string, string>;
  etag?: string;
}

/** What nearly every origin does: Vary: Accept-Encoding, compressing or not. */
function serveOn(origin: Origin, p: string, opts: ServeOptions = {}) {
  origin.on(p, (req: IncomingMessage, res: ServerResponse) => {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'cache-control': 'max-age=60',
      vary: 'Accept-Encoding',
      ...(opts.etag === undefined ? {} : { etag: opts.etag }),
      ...opts.headers,
    };
    if (opts.etag !== undefined && req.headers['if-none-match'] === opts.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const pref = encodingPreference(req.headers['accept-encoding']);
    let body = BODY;
    if (opts.compress === 'always' || (opts.compress === 'asked' && pref.best !== 'identity')) {
      const coding = opts.compress === 'always' ? 'gzip' : pref.best;
      body = coding === 'br' ? brotliCompressSync(BODY) : gzipSync(BODY);
      headers['content-encoding'] = coding;
    }
    res.writeHead(200, { ...headers, 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

const ENCODINGS = [
  'gzip, deflate, br, zstd',
  'gzip, deflate',
  'deflate, gzip',
  'GZIP',
  'br',
  'br, gzip',
  '',
  'identity',
];

/** Every form must survive the trip through Redis, without the local tier too. */
describeCache('compression at the edge', {}, (h) => {
  const serve = (p: string, opts?: ServeOptions) => serveOn(h.origin, p, opts);

  const get = (p: string, acceptEncoding?: string, headers: Record<string, string> = {}) =>
    fetchRaw(h.proxy.url + p, {
      headers: { ...(acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding }), ...headers },
    });
  /** The entry is written once its forms are made: wait for it without asking the origin. */
  const stored = (p: string, acceptEncoding?: string) =>
    expect
      .poll(async () => (await get(p, acceptEncoding, { 'cache-control': 'only-if-cached' })).status, POLL)
      .toBe(200);

  it('answers eight Accept-Encoding strings with one origin request, and each client decodes the same bytes', async () => {
    const p = path();
    serve(p);
    const first = await get(p, ENCODINGS[0]);
    await stored(p);
    const rest = [];
    for (const ae of ENCODINGS.slice(1)) rest.push(await get(p, ae));
    expect(h.origin.count(p)).toBe(1);
    for (const res of [first, ...rest]) expect(decoded(res).equals(BODY)).toBe(true);
    expect(rest.map((r) => r.headers['x-cache'])).toEqual(Array(7).fill('HIT'));
  });

  it('shares one entry when the origin compresses for whoever asks first', async () => {
    for (const firstAsks of ['br, gzip', 'gzip', 'identity']) {
      const p = path();
      serve(p, { compress: 'asked' });
      await get(p, firstAsks);
      await stored(p);
      for (const ae of ENCODINGS) {
        const res = await get(p, ae);
        expect(decoded(res).equals(BODY), `${firstAsks} then ${ae}`).toBe(true);
      }
      expect(h.origin.count(p)).toBe(1);
    }
  });

  it('gives br to a br client, gzip to a gzip-only client and identity to a client without Accept-Encoding', async () => {
    const p = path();
    serve(p);
    await get(p);
    await stored(p);
    const br = await get(p, 'gzip, deflate, br');
    const gz = await get(p, 'gzip, deflate');
    const plain = await get(p);
    expect(br.headers['content-encoding']).toBe('br');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(plain.headers['content-encoding']).toBeUndefined();
    for (const res of [br, gz, plain]) {
      expect(res.headers.vary).toMatch(/accept-encoding/i);
      expect(res.headers['content-length']).toBe(String(res.body.length));
      expect(decoded(res).equals(BODY)).toBe(true);
    }
    expect(br.body.length).toBeLessThan(BODY.length * 0.35);
  });

  it('answers a miss in the form the client prefers, not only later hits', async () => {
    const p = path();
    serve(p);
    const miss = await get(p, 'gzip, deflate, br');
    expect(miss.headers['x-cache']).toBe('MISS');
    expect(miss.headers['content-encoding']).toBe('br');
    expect(miss.headers['cache-status']).toContain('stored');
    expect(decoded(miss).equals(BODY)).toBe(true);
    const q = path();
    serve(q, { compress: 'always' });
    const plain = await get(q, 'identity');
    expect(plain.headers['x-cache']).toBe('MISS');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(BODY)).toBe(true);
  });

  it('hands a client the whole new body when a revalidation brings a changed response', async () => {
    const p = path();
    h.origin.on(p, (_req, res, c) => {
      const body = Buffer.concat([BODY, Buffer.from(` #${c}`)]);
      res.writeHead(200, {
        'content-type': 'text/plain',
        'cache-control': 'max-age=60',
        etag: `"v${c}"`,
        'content-length': String(body.length),
      });
      res.end(body);
    });
    await get(p);
    await stored(p);
    // The client's no-cache makes tagcache validate; the backend answers with a new body.
    const changed = await get(p, 'br', { 'cache-control': 'no-cache' });
    expect(changed.headers['x-cache']).toBe('MISS');
    expect(decoded(changed).toString().endsWith(' #2')).toBe(true);
    expect(decoded(changed).length).toBe(BODY.length + 3);
  });

  it('recodes a miss of undeclared length as it streams, for a br client and for one that refuses gzip', async () => {
    const chunked = (p: string, gzipped: boolean) =>
      h.origin.on(p, (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'cache-control': 'max-age=60',
          etag: '"c1"',
          ...(gzipped ? { 'content-encoding': 'gzip' } : {}),
        });
        const body = gzipped ? gzipSync(BODY) : BODY;
        res.write(body.subarray(0, 100));
        res.end(body.subarray(100));
      });
    const p = path();
    chunked(p, false);
    const br = await get(p, 'br');
    expect(br.headers['x-cache']).toBe('MISS');
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.etag).toBe('"c1-br"');
    expect(decoded(br).equals(BODY)).toBe(true);
    const q = path();
    chunked(q, true);
    const plain = await get(q, 'identity');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.etag).toBe('"c1-identity"');
    expect(plain.body.equals(BODY)).toBe(true);
    // Stored all the same: later clients are answered from the entry.
    await stored(q);
    expect(decoded(await get(q, 'gzip, br')).equals(BODY)).toBe(true);
    expect(h.origin.count(q)).toBe(1);
  });

  it('leaves a no-transform response as the origin sent it', async () => {
    const p = path();
    serve(p, { headers: { 'cache-control': 'max-age=60, no-transform' } });
    await get(p, 'br');
    // Not transformable: the variant of br clients, as the backend's Vary asks.
    await stored(p, 'br');
    const hit = await get(p, 'br');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers['content-encoding']).toBeUndefined();
    expect(hit.body.equals(BODY)).toBe(true);
  });

  it('decodes an answer the origin gzipped unasked for a client that refuses gzip', async () => {
    const p = path();
    serve(p, { compress: 'always' });
    await get(p, 'gzip');
    await stored(p);
    for (const ae of ['identity', 'gzip;q=0', undefined]) {
      const res = await get(p, ae);
      expect(res.headers['x-cache']).toBe('HIT');
      expect(res.headers['content-encoding']).toBeUndefined();
      expect(res.body.equals(BODY)).toBe(true);
    }
    const gz = await get(p, 'gzip');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(h.origin.count(p)).toBe(1);
  });

  it('gives each coding its own strong ETag, answers If-None-Match with 304, and revalidates with the origin’s own', async () => {
    const p = path();
    serve(p, { etag: '"v1"' });
    await get(p);
    await stored(p);
    const br = await get(p, 'br');
    const plain = await get(p);
    expect(br.headers.etag).toBe('"v1-br"');
    expect(plain.headers.etag).toBe('"v1"');
    const notModified = await get(p, 'br', { 'if-none-match': '"v1-br"' });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe('"v1-br"');
    // The identity tag does not stand for the br form.
    expect((await get(p, 'br', { 'if-none-match': '"v1"' })).status).toBe(200);
    // A client's no-cache makes tagcache validate: the origin sees its own tag and answers 304.
    const revalidated = await get(p, 'br', { 'cache-control': 'no-cache' });
    expect(h.origin.seen.filter((s) => s.url === p).map((s) => s.headers['if-none-match'])).toEqual([
      undefined,
      '"v1"',
    ]);
    expect(revalidated.headers['x-cache']).toBe('REVALIDATED');
    expect(revalidated.headers['content-encoding']).toBe('br');
    expect(revalidated.headers.etag).toBe('"v1-br"');
    expect(decoded(revalidated).equals(BODY)).toBe(true);
    // The refreshed entry kept its forms.
    const after = await get(p, 'gzip');
    expect(after.headers['content-encoding']).toBe('gzip');
    expect(decoded(after).equals(BODY)).toBe(true);
  });

  it('applies Range to the form sent', async () => {
    const p = path();
    serve(p, { etag: '"r1"' });
    await get(p);
    await stored(p);
    const whole = await get(p, 'br');
    const part = await get(p, 'br', { range: 'bytes=0-9' });
    expect(part.status).toBe(206);
    expect(part.headers['content-encoding']).toBe('br');
    expect(part.headers['content-range']).toBe(`bytes 0-9/${whole.body.length}`);
    expect(part.body.equals(whole.body.subarray(0, 10))).toBe(true);
    const ifRange = await get(p, 'br', { range: 'bytes=0-9', 'if-range': '"r1-br"' });
    expect(ifRange.status).toBe(206);
  });

  it('answers HEAD with the headers the GET of that coding has', async () => {
    const p = path();
    serve(p);
    await get(p);
    await stored(p);
    const head = await fetchRaw(h.proxy.url + p, { method: 'HEAD', headers: { 'accept-encoding': 'br' } });
    const body = await get(p, 'br');
    expect(head.headers['content-encoding']).toBe('br');
    expect(head.headers['content-length']).toBe(body.headers['content-length']);
    expect(head.body.length).toBe(0);
    expect(h.origin.count(p)).toBe(1);
  });

  it('asks the origin with a normalised Accept-Encoding, whatever odd one a client sends', async () => {
    const p = path();
    serve(p, { compress: 'asked' });
    await get(p, 'zstd, compress, x-bogus;q=0.9');
    await stored(p);
    await get(p, 'br');
    expect(h.origin.seen.filter((s) => s.url === p).map((s) => s.headers['accept-encoding'])).toEqual([
      'identity',
    ]);
  });

  it('compresses once per entry: a thousand hits in other codings store nothing more', async () => {
    const p = path();
    serve(p);
    const storedCount = async () => sumOf(await scrape(h.proxy.adminUrl), 'tagcache_stored_bytes_count');
    const start = await storedCount();
    await get(p);
    await stored(p);
    // A near tier answers before Redis has the entry; the store is counted once Redis took it.
    await expect.poll(storedCount, POLL).toBeGreaterThan(start);
    const before = await storedCount();
    await Promise.all(Array.from({ length: 200 }, (_, i) => get(p, ENCODINGS[i % ENCODINGS.length])));
    const after = await scrape(h.proxy.adminUrl);
    expect(sumOf(after, 'tagcache_stored_bytes_count')).toBe(before);
    expect(sumOf(after, 'tagcache_compressed_responses_total', { encoding: 'br' })).toBeGreaterThan(0);
    expect(sumOf(after, 'tagcache_compression_saved_bytes_total', { encoding: 'br' })).toBeGreaterThan(0);
    expect(h.origin.count(p)).toBe(1);
  });

  describe('compression switched off', () => {
    it('COMPRESSION=off stores and answers the body as it came, one variant per canonical Accept-Encoding', async () => {
      const proxy = await h.startProxy({ COMPRESSION: 'off' });
      const p = path();
      serve(p);
      await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'br' } });
      const cachedOnly = { 'accept-encoding': 'br', 'cache-control': 'only-if-cached' };
      await expect
        .poll(async () => (await fetchRaw(proxy.url + p, { headers: cachedOnly })).status, POLL)
        .toBe(200);
      // Another spelling of the same preference shares the variant.
      const hit = await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': ' BR;q=1.0 , deflate' } });
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.headers['content-encoding']).toBeUndefined();
      expect(hit.body.equals(BODY)).toBe(true);
      expect(h.origin.count(p)).toBe(1);
      // Another preference is another variant, as the backend's Vary asks.
      const other = await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
      expect(other.headers['x-cache']).toBe('MISS');
      expect(h.origin.count(p)).toBe(2);
    });

    it('a route with "compress": false keeps what its origin sent, one variant per normalised Accept-Encoding', async () => {
      const proxy = await h.startProxy(
        {},
        { routes: [{ name: 'raw', pattern: '^/z', compress: false }], default: { name: 'other' } },
      );
      const p = path();
      serve(p, { compress: 'asked' });
      const br = await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'br' } });
      expect(br.headers['content-encoding']).toBe('br');
      const plain = await fetchRaw(proxy.url + p);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.body.equals(BODY)).toBe(true);
      // Only the first client's coding class was stored; a br client spelt differently shares it.
      const cachedOnly = { 'accept-encoding': 'BR ;q=1', 'cache-control': 'only-if-cached' };
      await expect
        .poll(async () => (await fetchRaw(proxy.url + p, { headers: cachedOnly })).status, POLL)
        .toBe(200);
      const hit = await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'BR ;q=1' } });
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.headers['content-encoding']).toBe('br');
      expect(h.origin.count(p)).toBe(2);
    });
  });

  describe('what is not compressed', () => {
    it('a body under COMPRESSION_MIN_BYTES, or of a media type not listed, is one entry served as it came', async () => {
      const proxy = await h.startProxy({ COMPRESSION_MIN_BYTES: '64KiB' });
      const p = path();
      serve(p);
      const q = path();
      serve(q, { headers: { 'content-type': 'image/png' } });
      for (const target of [p, q]) {
        await fetchRaw(proxy.url + target, { headers: { 'accept-encoding': 'br' } });
        await untilStored(proxy.url + target);
        const hit = await fetchRaw(proxy.url + target, { headers: { 'accept-encoding': 'gzip, br' } });
        expect(hit.headers['x-cache']).toBe('HIT');
        expect(hit.headers['content-encoding']).toBeUndefined();
        expect(hit.body.equals(BODY)).toBe(true);
        expect(h.origin.count(target)).toBe(1);
      }
    });
  });

  describe('collapsed requests', () => {
    it("a waiting request never gets the first one's body in a coding it refuses", async () => {
      const proxy = await h.startProxy();
      const p = path();
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      // No Vary, no-transform, gzip when asked: the gzip body must stay with gzip clients.
      h.origin.on(p, (req, res) => {
        const gz = encodingPreference(req.headers['accept-encoding']).best === 'gzip';
        const body = gz ? gzipSync(BODY) : BODY;
        void gate.then(() =>
          res
            .writeHead(200, {
              'content-type': 'application/json',
              'cache-control': 'max-age=60, no-transform',
              'content-length': String(body.length),
              ...(gz ? { 'content-encoding': 'gzip' } : {}),
            })
            .end(body),
        );
      });
      const inFlight = async () => sumOf(await scrape(proxy.adminUrl), 'tagcache_requests_in_flight');
      const first = fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'gzip' } });
      await expect.poll(inFlight, POLL).toBe(1);
      const others = Array.from({ length: 4 }, () =>
        fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'identity' } }),
      );
      await expect.poll(inFlight, POLL).toBe(5);
      release();
      expect((await first).headers['content-encoding']).toBe('gzip');
      for (const res of await Promise.all(others)) {
        expect(res.headers['content-encoding']).toBeUndefined();
        expect(res.body.equals(BODY)).toBe(true);
      }
    });
  });

  describe('a hostile origin body', () => {
    it('a gzip bomb is not inflated past MAX_OBJECT_BYTES: it is stored as it came, for gzip clients only', async () => {
      const proxy = await h.startProxy({ MAX_OBJECT_BYTES: '1MiB' });
      const p = path();
      const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20));
      h.origin.on(p, (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'cache-control': 'max-age=60',
          'content-length': String(bomb.length),
        });
        res.end(bomb);
      });
      await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'gzip' } });
      const cachedOnly = { 'accept-encoding': 'gzip', 'cache-control': 'only-if-cached' };
      await expect
        .poll(async () => (await fetchRaw(proxy.url + p, { headers: cachedOnly })).status, POLL)
        .toBe(200);
      const hit = await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'gzip' } });
      expect(hit.headers['content-encoding']).toBe('gzip');
      expect(hit.body.equals(bomb)).toBe(true);
      // The gzip body was stored for gzip clients only (the backend named no Vary): never handed to one that refuses it.
      const plain = await fetchRaw(proxy.url + p, { headers: { 'accept-encoding': 'identity' } });
      expect(plain.headers['x-cache']).toBe('MISS');
      expect(h.origin.count(p)).toBe(2);
    });
  });
});
