import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import type { LogLine } from '../support/log.js';
import { type Origin, respond, type Script, startOrigin } from '../support/origin.js';
import { closedPortUrl } from '../support/ports.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { download } from './download.js';
import { scrape, sumOf } from './prom.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BODY_BYTES = 100_000;
const SENT_BEFORE_FAILURE = 1_000;

let origin: Origin;
let garbage: Server;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  // A "backend" that answers every request with bytes that are not HTTP.
  garbage = createServer((socket) => {
    socket.once('data', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
  });
  garbage.listen(0, '127.0.0.1');
  await once(garbage, 'listening');
  const garbageUrl = `http://127.0.0.1:${(garbage.address() as AddressInfo).port}`;
  proxy = await startProxy(
    { UPSTREAM_URL: origin.url, UPSTREAM_HEADERS_TIMEOUT_MS: '300', UPSTREAM_BODY_TIMEOUT_MS: '300' },
    {
      routes: [
        { name: 'down', pattern: '^/down', upstream: await closedPortUrl() },
        { name: 'malformed', pattern: '^/malformed', upstream: garbageUrl },
        { name: 'silent', pattern: '^/silent' },
        { name: 'hangup', pattern: '^/hangup' },
        { name: 'stall', pattern: '^/stall' },
        { name: 'reset', pattern: '^/reset' },
      ],
      default: { name: 'core' },
    },
  );
  origin.on('/ok', respond(200, { 'cache-control': 'no-store' }, 'fine'));
  // Never answers: the proxy must give up at UPSTREAM_HEADERS_TIMEOUT_MS.
  origin.on('/silent', () => undefined);
  origin.on('/hangup', (req) => req.socket.destroy());
});
afterAll(async () => {
  await proxy?.close();
  await origin?.close();
  garbage?.close();
});

/** The first answer: headers and part of a body of declared length, then `then`; later ones are whole. */
function partialBody(cacheControl: string, then: (res: ServerResponse) => void): Script {
  return (_req, res, n) => {
    res.writeHead(200, { 'content-length': String(BODY_BYTES), 'cache-control': cacheControl });
    if (n > 1) res.end(Buffer.alloc(BODY_BYTES, 'y'));
    else res.write(Buffer.alloc(SENT_BEFORE_FAILURE, 'x'), () => then(res));
  };
}

async function upstreamErrors(route: string, reason?: string): Promise<number> {
  return sumOf(await scrape(proxy.adminUrl), 'tagcache_upstream_errors_total', {
    route,
    ...(reason === undefined ? {} : { reason }),
  });
}

/** The access-log line of one request, once it is written. */
async function accessLine(id: string): Promise<LogLine> {
  await expect.poll(() => proxy.lines.some((l) => l.msg === 'request' && l.id === id)).toBe(true);
  return proxy.lines.find((l) => l.msg === 'request' && l.id === id) as LogLine;
}

async function stillServes(): Promise<void> {
  const res = await fetchRaw(`${proxy.url}/ok`);
  expect(res.status).toBe(200);
  expect(res.text()).toMatch(/^fine/);
}

describe('the backend fails before answering', () => {
  it('a refused connection is a 502 with a short text body, X-Cache and X-Request-Id', async () => {
    const res = await fetchRaw(`${proxy.url}/down/a`);
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text()).toBe('502 Bad Gateway\n');
    expect(res.headers['x-cache']).toBe('MISS');
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(await upstreamErrors('down', 'connect')).toBe(1);
    const line = await accessLine(res.headers['x-request-id'] as string);
    expect(line).toMatchObject({ level: 'error', status: 502, route: 'down', cache: 'MISS' });
    expect(line.err).toMatch(/TC_UPSTREAM_UNREACHABLE/);
    await stillServes();
  });

  it('no response headers within UPSTREAM_HEADERS_TIMEOUT_MS is a 504', async () => {
    const res = await fetchRaw(`${proxy.url}/silent`, { headers: { 'x-request-id': 'silent-1' } });
    expect(res.status).toBe(504);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text()).toBe('504 Gateway Timeout\n');
    expect(res.headers['x-cache']).toBe('MISS');
    expect(res.headers['x-request-id']).toBe('silent-1');
    expect(await upstreamErrors('silent', 'timeout')).toBe(1);
    const line = await accessLine('silent-1');
    expect(line).toMatchObject({ level: 'error', status: 504, route: 'silent' });
    expect(line.err).toMatch(/TC_UPSTREAM_TIMEOUT/);
    await stillServes();
  });

  it('a backend that closes the connection without answering is a 502', async () => {
    const res = await fetchRaw(`${proxy.url}/hangup`, { headers: { 'x-request-id': 'hangup-1' } });
    expect(res.status).toBe(502);
    expect(res.headers['x-request-id']).toBe('hangup-1');
    expect(await upstreamErrors('hangup', 'reset')).toBe(1);
    const line = await accessLine('hangup-1');
    expect(line).toMatchObject({ level: 'error', status: 502 });
    expect(line.err).toMatch(/TC_UPSTREAM_RESET/);
    await stillServes();
  });

  it('a backend that answers with something that is not HTTP is a 502', async () => {
    const res = await fetchRaw(`${proxy.url}/malformed`, { headers: { 'x-request-id': 'malformed-1' } });
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(await upstreamErrors('malformed')).toBe(1);
    // Counted as what it is, not as a connection failure.
    expect(await upstreamErrors('malformed', 'protocol')).toBe(1);
    const line = await accessLine('malformed-1');
    expect(line).toMatchObject({ level: 'error', status: 502 });
    expect(line.err).toMatch(/TC_UPSTREAM_/);
    await stillServes();
  });
});

describe('the backend fails in the middle of the body', () => {
  // The headers (200) are gone by then: all a proxy can do is cut the client's connection.
  it.each([
    ['stall', 'no-store', 'timeout', /TC_UPSTREAM_TIMEOUT/],
    ['stall', 'max-age=60', 'timeout', /TC_UPSTREAM_TIMEOUT/],
    ['reset', 'no-store', 'reset', /TC_UPSTREAM_RESET/],
    ['reset', 'max-age=60', 'reset', /TC_UPSTREAM_RESET/],
  ] as const)(
    '%s (%s): the client sees a cut connection, counted and logged',
    async (kind, cacheControl, reason, err) => {
      const p = `/${kind}/${cacheControl.replace(/\W/g, '')}`;
      origin.on(
        p,
        partialBody(cacheControl, (res) => {
          // stall: stop sending and wait; reset: a TCP RST in the middle of the body.
          if (kind === 'reset') res.socket?.resetAndDestroy();
        }),
      );
      const before = await upstreamErrors(kind, reason);
      const got = await download(`${proxy.url}${p}`);
      expect(got.status).toBe(200);
      expect(got.complete).toBe(false);
      expect(got.bytes).toBeLessThan(BODY_BYTES);
      expect(got.headers['content-length']).toBe(String(BODY_BYTES));
      expect(await upstreamErrors(kind, reason)).toBe(before + 1);
      const line = await accessLine(got.headers['x-request-id'] as string);
      expect(line).toMatchObject({ level: 'error', status: 200, route: kind, bytes: got.bytes });
      expect(line.err).toMatch(err);
      await stillServes();
      // A cut body is never stored: the next request goes to the backend again.
      const again = await download(`${proxy.url}${p}`);
      expect(again).toMatchObject({ status: 200, complete: true, bytes: BODY_BYTES });
      expect(again.headers['x-cache']).toBe('MISS');
      expect(origin.count(p)).toBe(2);
    },
  );
});
