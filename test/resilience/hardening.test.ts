import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrape, sumOf } from '../core/prom.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { answered, type Backend, rawExchange, rawStatus, send, startBackend } from './support.js';

let b: Backend;
let proxy: RunningProxy;
const received: { url: string; headers: Record<string, string | string[] | undefined>; bytes: number }[] = [];

beforeAll(async () => {
  b = await startBackend((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers, bytes });
      // A backend that builds absolute links from X-Forwarded-Host, as many frameworks do.
      const body = `<a href="https://${req.headers['x-forwarded-host']}/next">next</a>`;
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  proxy = await startProxy({
    UPSTREAM_URL: b.url,
    ALLOWED_HOSTS: 'www.example.com,*.example.org,127.0.0.1',
    MAX_URL_BYTES: '1024',
    MAX_BODY_BYTES: '1000',
    ACCESS_LOG: 'off',
  });
});
afterAll(async () => {
  await proxy?.close();
  await b?.close();
});

const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

describe('request smuggling shapes', () => {
  // Each one reaches the proxy byte for byte; llhttp refuses most, the handler the rest.
  it.each([
    [
      'Content-Length with Transfer-Encoding',
      head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 4', 'Transfer-Encoding: chunked']) +
        '0\r\n\r\n',
    ],
    [
      'Transfer-Encoding with Content-Length',
      head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: chunked', 'Content-Length: 4']) +
        '0\r\n\r\n',
    ],
    [
      'two equal Content-Length fields',
      `${head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 4', 'Content-Length: 4'])}abcd`,
    ],
    [
      'two different Content-Length fields',
      `${head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 4', 'Content-Length: 5'])}abcde`,
    ],
    [
      'a Content-Length list',
      `${head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 4, 5'])}abcde`,
    ],
    ['obs-fold line folding', head(['GET /s HTTP/1.1', 'Host: 127.0.0.1', 'X-A: one', ' two'])],
    [
      'obs-fold inside Transfer-Encoding',
      `${head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding:', ' chunked'])}0\r\n\r\n`,
    ],
    [
      'Transfer-Encoding not ending in chunked',
      `${head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: chunked, identity'])}0\r\n\r\n`,
    ],
    [
      'Transfer-Encoding gzip, chunked',
      `${head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: gzip, chunked'])}0\r\n\r\n`,
    ],
    [
      'Transfer-Encoding identity, chunked',
      `${head(['POST /s HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: identity, chunked'])}0\r\n\r\n`,
    ],
    [
      'Transfer-Encoding on HTTP/1.0',
      `${head(['POST /s HTTP/1.0', 'Host: 127.0.0.1', 'Transfer-Encoding: chunked'])}0\r\n\r\n`,
    ],
    ['a space before the colon', head(['GET /s HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding : chunked'])],
    ['two Host fields', head(['GET /s HTTP/1.1', 'Host: www.example.com', 'Host: evil.example'])],
    ['a Host with a path in it', head(['GET /s HTTP/1.1', 'Host: www.example.com/admin'])],
    [
      'an absolute target naming another host',
      head(['GET http://evil.example/s HTTP/1.1', 'Host: www.example.com']),
    ],
    ['a target that is not a path', head(['GET s HTTP/1.1', 'Host: www.example.com'])],
    ['a bare LF line ending', 'GET /s HTTP/1.1\nHost: 127.0.0.1\n\n'],
  ])('%s is a 400 and never reaches the backend', async (_name, bytes) => {
    const before = received.length;
    const res = await rawExchange(proxy.url, bytes);
    expect(rawStatus(res)).toBe(400);
    // Nothing after the refusal is read as a second request.
    expect(res.match(/HTTP\/1\.1 /g)?.length).toBe(1);
    expect(received.length).toBe(before);
  });

  it('takes an absolute target whose authority is the Host, in origin form', async () => {
    const res = await rawExchange(
      proxy.url,
      head(['GET http://www.example.com/abs?q=1 HTTP/1.1', 'Host: www.example.com', 'Connection: close']),
    );
    expect(rawStatus(res)).toBe(200);
    expect(received.at(-1)?.url).toBe('/abs?q=1');
  });
});

describe('limits', () => {
  it('answers 414 to a target longer than MAX_URL_BYTES', async () => {
    const o = answered(await send(`${proxy.url}/${'a'.repeat(1100)}`));
    expect(o.status).toBe(414);
    expect(o.headers['cache-status']).toContain('detail=TC_BAD_REQUEST');
  });

  it('answers 413 to a Content-Length above MAX_BODY_BYTES without reading it', async () => {
    const before = received.length;
    const o = answered(await send(`${proxy.url}/upload`, { method: 'POST', body: 'x'.repeat(1001) }));
    expect(o.status).toBe(413);
    expect(o.headers.connection).toBe('close');
    expect(received.length).toBe(before);
  });

  it('counts a chunked body as it streams and answers 413 past MAX_BODY_BYTES', async () => {
    const chunk = 'y'.repeat(400);
    const body = `${[1, 2, 3].map(() => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('')}0\r\n\r\n`;
    const res = await rawExchange(
      proxy.url,
      head(['POST /chunked HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: chunked']) + body,
    );
    expect(rawStatus(res)).toBe(413);
    // The backend saw at most the part that fitted, never the whole body.
    expect(received.filter((r) => r.url === '/chunked').every((r) => r.bytes <= 1000)).toBe(true);
  });

  it('forwards a chunked body within MAX_BODY_BYTES whole', async () => {
    const chunk = 'z'.repeat(300);
    const body = `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
    const res = await rawExchange(
      proxy.url,
      head(['POST /small HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: chunked', 'Connection: close']) +
        body,
    );
    expect(rawStatus(res)).toBe(200);
    expect(received.at(-1)).toMatchObject({ url: '/small', bytes: 300 });
  });

  it('discards a chunked body nobody read, so the next request on the connection is answered', async () => {
    const limited = await startProxy(
      { UPSTREAM_URL: b.url, MAX_BODY_BYTES: '10MiB', ACCESS_LOG: 'off' },
      { routes: [], default: { name: 'tight', rateLimit: { requestsPerSecond: 0.01, burst: 1 } } },
    );
    try {
      const big = 'q'.repeat(1024 * 1024);
      const post = `${head(['POST /unread HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: chunked'])}${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`;
      const next = head(['GET /after-unread HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close']);
      // The second POST is refused (429) before anyone reads its megabyte; the GET behind it must still be answered.
      const res = await rawExchange(limited.url, `${post}${post}${next}`, 5_000);
      expect(res.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 429', 'HTTP/1.1 429']);
    } finally {
      await limited.close();
    }
  });

  it('counts refusals by reason', async () => {
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_rejected_requests_total', { reason: 'url_too_long' })).toBeGreaterThan(0);
    expect(sumOf(metrics, 'tagcache_rejected_requests_total', { reason: 'bad_framing' })).toBeGreaterThan(0);
  });
});

describe('Host allow-list', () => {
  it.each([
    ['www.example.com', 200],
    ['WWW.Example.COM:8080', 200],
    ['a.example.org', 200],
    ['deep.a.example.org', 200],
    ['example.org', 421],
    ['evil.example', 421],
    ['www.example.com.evil.example', 421],
  ])('Host %s → %i', async (host, status) => {
    const o = answered(await send(`${proxy.url}/hosts`, { headers: { host } }));
    expect(o.status).toBe(status);
    if (status === 421) expect(o.headers['cache-status']).toContain('detail=TC_BAD_REQUEST');
  });

  it('never stores a refused Host under any key', async () => {
    const before = b.hits('/only-allowed');
    expect(
      answered(await send(`${proxy.url}/only-allowed`, { headers: { host: 'evil.example' } })).status,
    ).toBe(421);
    expect(b.hits('/only-allowed')).toBe(before);
    const o = answered(await send(`${proxy.url}/only-allowed`, { headers: { host: 'www.example.com' } }));
    expect([o.status, o.headers['x-cache']]).toEqual([200, 'MISS']);
  });
});

describe('cache poisoning through unkeyed headers', () => {
  it('an attacker’s X-Forwarded-Host never reaches a cached response', async () => {
    const attack = answered(
      await send(`${proxy.url}/landing`, {
        headers: {
          host: 'www.example.com',
          'x-forwarded-host': 'evil.example',
          forwarded: 'host=evil.example',
        },
      }),
    );
    expect(attack.status).toBe(200);
    expect(attack.body).not.toContain('evil.example');
    const victim = answered(await send(`${proxy.url}/landing`, { headers: { host: 'www.example.com' } }));
    expect(victim.headers['x-cache']).toBe('HIT');
    expect(victim.body).toBe('<a href="https://www.example.com/next">next</a>');
    const seen = received.filter((r) => r.url === '/landing');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers['x-forwarded-host']).toBe('www.example.com');
    expect(seen[0]?.headers.forwarded).toBeUndefined();
  });

  it('believes X-Forwarded-* from a trusted proxy only', async () => {
    const trusting = await startProxy({
      UPSTREAM_URL: b.url,
      TRUSTED_PROXIES: '127.0.0.2/32, ::1',
      ACCESS_LOG: 'off',
    });
    try {
      const forwarded = {
        'x-forwarded-host': 'shop.example',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '198.51.100.9',
      };
      await send(`${trusting.url}/via-lb`, { headers: forwarded, localAddress: '127.0.0.2' });
      await send(`${trusting.url}/direct`, { headers: forwarded, localAddress: '127.0.0.3' });
      const lb = received.find((r) => r.url === '/via-lb');
      const direct = received.find((r) => r.url === '/direct');
      expect(lb?.headers).toMatchObject({
        'x-forwarded-host': 'shop.example',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '198.51.100.9, 127.0.0.2',
      });
      expect(direct?.headers).toMatchObject({
        'x-forwarded-proto': 'http',
        'x-forwarded-for': '127.0.0.3',
      });
      expect(direct?.headers['x-forwarded-host']).toBe(new URL(trusting.url).host);
    } finally {
      await trusting.close();
    }
  });
});
