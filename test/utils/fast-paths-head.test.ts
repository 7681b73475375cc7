import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Origin, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';

/**
 * The `head` fast path (stored fields appended to Node's `_header`) against
 * plain writeHead, on real sockets: the same stored entry served by a proxy
 * with FAST_PATHS=on and one with FAST_PATHS=off must put the same status
 * line, the same field lines (same-name fields in the same order) and the
 * same body bytes on the wire. Only the order of differently named fields
 * may differ, which HTTP gives no meaning (RFC 9110 §5.3).
 */

/** Sends raw bytes on one connection and collects everything until the proxy closes it. */
async function wire(port: number, raw: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => {
    text += c;
  });
  socket.write(raw);
  await once(socket, 'end');
  socket.destroy();
  return text;
}

/** Each answer's status line, its field lines sorted stably by name, and its body (none after HEAD). */
function normalise(text: string, head: boolean): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) {
      out.push(`tail: ${rest}`);
      break;
    }
    const [status = '', ...fields] = rest.slice(0, end).split('\r\n');
    rest = rest.slice(end + 4);
    const lines = fields
      // Seconds since storing: the two proxies stored their copies a moment apart.
      .map((l) => l.replace(/^(age): \d+$/i, '$1: N'))
      .sort((a, b) => name(a).localeCompare(name(b)));
    const length = Number(/^content-length: (\d+)$/im.exec(fields.join('\n'))?.[1] ?? -1);
    let body = '';
    if (length > 0 && !head) {
      body = rest.slice(0, length);
      rest = rest.slice(length);
    }
    out.push([status, ...lines, '', body].join('\n'));
  }
  return out;
}

function port(proxy: RunningProxy): number {
  return Number(new URL(proxy.url).port);
}

function name(line: string): string {
  return line.slice(0, line.indexOf(':')).toLowerCase();
}

/** Stored responses with what a hit must reproduce: repeated fields, odd but valid values, framing fields. */
const CORPUS: Record<string, Record<string, string | string[]>> = {
  '/plain': { 'content-type': 'text/plain', 'cache-control': 'max-age=600' },
  '/arrays': {
    'cache-control': 'max-age=600',
    link: ['</a.css>; rel=preload', '</b.js>; rel=preload', '</c.woff2>; rel=preload; as=font'],
    vary: ['Accept-Language', 'X-Device'],
    'x-many': ['1', '2', '3'],
  },
  '/values': {
    'cache-control': 'public, max-age=600, stale-while-revalidate=30',
    'content-disposition': 'attachment; filename="report 1.txt"',
    etag: 'W/"v1"',
    'last-modified': 'Fri, 27 Nov 2026 10:00:00 GMT',
    'x-spaces': 'a  b\tc',
    'x-empty': '',
    'x-latin1': 'caf\u00e9',
  },
  '/with-backend-own': {
    'cache-control': 'max-age=600',
    age: '100',
    'x-cache': 'FROM-BACKEND',
    'x-request-id': 'backend-id',
    'cache-status': 'backend; hit',
  },
};

describe('FAST_PATHS head: appended stored lines vs writeHead', () => {
  let origin: Origin;
  let fast: RunningProxy;
  let plain: RunningProxy;
  const date = new Date().toUTCString();

  beforeAll(async () => {
    origin = await startOrigin();
    for (const [path, headers] of Object.entries(CORPUS)) {
      origin.on(path, (_req, res) => {
        const body = `body of ${path}`;
        res.writeHead(200, { date, 'content-length': Buffer.byteLength(body), ...headers });
        res.end(body);
      });
    }
    // Chunked from the backend: stored, then served with the length tagcache knows.
    origin.on('/chunked', (_req, res) => {
      res.writeHead(200, { date, 'cache-control': 'max-age=600', 'content-type': 'text/plain' });
      res.write('part one, ');
      res.end('part two');
    });
    fast = await startProxy({ UPSTREAM_URL: origin.url, FAST_PATHS: 'on', COMPRESSION: 'off' });
    plain = await startProxy({ UPSTREAM_URL: origin.url, FAST_PATHS: 'off', COMPRESSION: 'off' });
    for (const proxy of [fast, plain])
      for (const path of [...Object.keys(CORPUS), '/chunked'])
        await wire(port(proxy), `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });

  afterAll(async () => {
    await fast?.close();
    await plain?.close();
    await origin?.close();
  });

  const paths = [...Object.keys(CORPUS), '/chunked'];
  const cases: { name: string; head?: boolean; raw: (path: string) => string }[] = [
    {
      name: 'HTTP/1.1 keep-alive, then Connection: close on the same connection',
      raw: (p) =>
        `GET ${p} HTTP/1.1\r\nHost: x\r\nX-Request-Id: r-1\r\n\r\n` +
        `GET ${p} HTTP/1.1\r\nHost: x\r\nX-Request-Id: r-2\r\nConnection: close\r\n\r\n`,
    },
    {
      name: 'HTTP/1.0',
      raw: (p) => `GET ${p} HTTP/1.0\r\nHost: x\r\nX-Request-Id: r-3\r\n\r\n`,
    },
    {
      name: 'HTTP/1.0 with keep-alive, then close',
      raw: (p) =>
        `GET ${p} HTTP/1.0\r\nHost: x\r\nX-Request-Id: r-4\r\nConnection: keep-alive\r\n\r\n` +
        `GET ${p} HTTP/1.0\r\nHost: x\r\nX-Request-Id: r-5\r\n\r\n`,
    },
    {
      name: 'HEAD',
      head: true,
      raw: (p) => `HEAD ${p} HTTP/1.1\r\nHost: x\r\nX-Request-Id: r-6\r\nConnection: close\r\n\r\n`,
    },
  ];

  for (const c of cases) {
    it(`puts the same answer on the wire: ${c.name}`, async () => {
      for (const path of paths) {
        const [a, b] = await Promise.all([wire(port(fast), c.raw(path)), wire(port(plain), c.raw(path))]);
        const fastAnswers = normalise(a, c.head === true);
        const plainAnswers = normalise(b, c.head === true);
        expect(fastAnswers.length).toBeGreaterThan(0);
        // Every answer is a hit from the stored entry: the head path under test.
        for (const answer of fastAnswers) expect(answer).toMatch(/^x-cache: HIT$/m);
        expect(fastAnswers, `${c.name} ${path}`).toEqual(plainAnswers);
      }
    });
  }
});
