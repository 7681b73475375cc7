import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Listening, listen } from '../support/http.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { type ChildProxy, MiB, sampleRss, startChild } from './child.js';
import { download } from './download.js';

const DOWNLOAD_BYTES = 1024 * MiB;
const CHUNKED_BYTES = 256 * MiB;
const UPLOAD_BYTES = 256 * MiB;
/** Generous: the proxy idles near 60–80 MB; buffering either body would blow far past this. */
const RSS_BOUND = 300 * 1e6;
const CHUNK = Buffer.alloc(64 * 1024, 'z');

/** Writes `total` bytes of CHUNK to a writable, honouring backpressure, then ends it. */
function pump(
  out: NodeJS.WritableStream & { destroyed?: boolean },
  total: number,
  done: () => void = () => undefined,
): void {
  let left = total;
  const write = () => {
    while (left > 0 && out.destroyed !== true) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!out.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        out.once('drain', write);
        return;
      }
    }
    if (left === 0) out.end(done);
  };
  write();
}

describe('large bodies stream through with flat memory (proxy in a child process)', () => {
  let origin: Listening;
  let proxy: ChildProxy;
  let uploaded = 0;

  beforeAll(async () => {
    origin = await listen((req, res) => {
      if (req.url === '/big') {
        // Cacheable, but far over MAX_OBJECT_BYTES (default 10 MiB): it must stream, not be kept.
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(DOWNLOAD_BYTES),
          'cache-control': 'public, max-age=600',
        });
        pump(res, DOWNLOAD_BYTES);
        return;
      }
      if (req.url === '/big-chunked') {
        // No Content-Length: the cache cannot tell it is too large until MAX_OBJECT_BYTES have passed.
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'cache-control': 'public, max-age=600',
        });
        pump(res, CHUNKED_BYTES);
        return;
      }
      if (req.url === '/upload') {
        let bytes = 0;
        req.on('data', (c: Buffer) => {
          bytes += c.length;
        });
        req.on('end', () => {
          uploaded = bytes;
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
          res.end(JSON.stringify({ bytes }));
        });
        return;
      }
      res.writeHead(200, { 'cache-control': 'no-store' }).end('warm');
    });
    // Past the 100 MiB default of MAX_BODY_BYTES: a deployment that takes uploads this large says so.
    proxy = await startChild({ UPSTREAM_URL: origin.url, LOG_LEVEL: 'warn', MAX_BODY_BYTES: '1GiB' });
    // One request first, so the baseline includes a warmed-up pipeline.
    expect((await download(`${proxy.url}/warm`)).status).toBe(200);
  });
  afterAll(async () => {
    if (proxy !== undefined) expect(await proxy.stop()).toBe(0);
    await origin?.close();
  });

  it('a 1 GiB download reaches the client whole while the proxy RSS stays bounded', async ({ annotate }) => {
    const rss = sampleRss(proxy.pid);
    const started = performance.now();
    const got = await download(`${proxy.url}/big`);
    const seconds = (performance.now() - started) / 1000;
    const { first, peak, samples } = rss.stop();
    await annotate(
      `download ${DOWNLOAD_BYTES / MiB} MiB in ${seconds.toFixed(1)} s: proxy RSS ${mb(first)} before, peak ${mb(peak)} (${samples} samples)`,
    );
    expect(got).toMatchObject({ status: 200, complete: true, bytes: DOWNLOAD_BYTES });
    expect(got.headers['x-cache']).toBe('MISS');
    expect(peak).toBeLessThan(RSS_BOUND);
  });

  it('a 256 MiB chunked download (no Content-Length) is given up on by the cache, not buffered', async ({
    annotate,
  }) => {
    const rss = sampleRss(proxy.pid);
    const got = await download(`${proxy.url}/big-chunked`);
    const { first, peak } = rss.stop();
    await annotate(
      `chunked download ${CHUNKED_BYTES / MiB} MiB: proxy RSS ${mb(first)} before, peak ${mb(peak)}`,
    );
    expect(got).toMatchObject({ status: 200, complete: true, bytes: CHUNKED_BYTES });
    expect(peak).toBeLessThan(RSS_BOUND);
    // Not stored: the next request goes to the backend again.
    const again = await download(`${proxy.url}/big-chunked`);
    expect(again).toMatchObject({ complete: true, bytes: CHUNKED_BYTES });
    expect(again.headers['x-cache']).toBe('MISS');
  });

  it('a 256 MiB upload reaches the backend whole while the proxy RSS stays bounded', async ({ annotate }) => {
    const rss = sampleRss(proxy.pid);
    const started = performance.now();
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${proxy.url}/upload`,
        {
          method: 'PUT',
          agent: false,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(UPLOAD_BYTES) },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      pump(req, UPLOAD_BYTES);
    });
    const seconds = (performance.now() - started) / 1000;
    const { first, peak, samples } = rss.stop();
    await annotate(
      `upload ${UPLOAD_BYTES / MiB} MiB in ${seconds.toFixed(1)} s: proxy RSS ${mb(first)} before, peak ${mb(peak)} (${samples} samples)`,
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ bytes: UPLOAD_BYTES });
    expect(uploaded).toBe(UPLOAD_BYTES);
    expect(peak).toBeLessThan(RSS_BOUND);
  });
});

describe('a client that goes away aborts the upstream request', () => {
  let origin: Listening;
  let proxy: RunningProxy;
  /** Per path: the origin saw the request, and its response closed before it finished. */
  const seen = new Set<string>();
  const cutShort = new Set<string>();

  beforeAll(async () => {
    origin = await listen((req, res) => {
      const url = req.url ?? '/';
      seen.add(url);
      res.once('close', () => {
        if (!res.writableFinished) cutShort.add(url);
      });
      if (url.includes('/slow-body')) {
        // Headers and a first chunk, then a trickle that would take minutes to finish.
        res.writeHead(200, { 'content-length': String(100 * MiB), 'cache-control': 'no-store' });
        res.write(CHUNK);
        const timer = setInterval(() => res.write(CHUNK.subarray(0, 1024)), 20);
        res.once('close', () => clearInterval(timer));
      }
      // Anything else never answers: the client gives up first.
    });
    proxy = await startProxy(
      { UPSTREAM_URL: origin.url },
      { routes: [{ name: 'bypass', pattern: '^/bypass/', cache: false }], default: { name: 'cached' } },
    );
  });
  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
  });

  it.each(['/bypass', '/cached'])('on %s: during a slow download', async (prefix) => {
    const p = `${prefix}/slow-body`;
    const got = await download(`${proxy.url}${p}`, {
      onResponse: (res) => res.once('data', () => res.destroy()),
    });
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
    await expect.poll(() => cutShort.has(p)).toBe(true);
    await expect
      .poll(() => proxy.lines.find((l) => l.msg === 'request' && l.path === p))
      .toMatchObject({ status: 499, level: 'info' });
  });

  it.each(['/bypass', '/cached'])('on %s: before the backend has answered', async (prefix) => {
    const p = `${prefix}/no-answer`;
    const req = request(`${proxy.url}${p}`, { agent: false });
    const failed = new Promise<Error>((resolve) => req.once('error', resolve));
    req.end();
    await expect.poll(() => seen.has(p)).toBe(true);
    req.destroy();
    expect((await failed).message).toMatch(/socket hang up|aborted/);
    await expect.poll(() => cutShort.has(p)).toBe(true);
    await expect
      .poll(() => proxy.lines.find((l) => l.msg === 'request' && l.path === p))
      .toMatchObject({ status: 499, level: 'info' });
  });
});

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}
