import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProxy, MiB, rssBytes, startChild } from '../core/child.js';
import {
  answered,
  type Backend,
  page,
  rawExchange,
  rawStatus,
  report,
  send,
  startBackend,
} from './support.js';

const TOKEN = 'hostile-test-token-0123456789';
const OVERRIDES = ['x-http-method-override', 'x-method-override', 'x-http-method'];
let b: Backend;
let child: ChildProxy;
/** What reached the backend that tagcache should have refused or stripped. */
const leaked: string[] = [];

beforeAll(async () => {
  // Always 200: any 5xx the clients see was made by the proxy itself.
  const answer = page('max-age=60');
  b = await startBackend((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      const safe = req.method === 'GET' || req.method === 'HEAD';
      if (safe && bytes > 0) leaked.push(`a ${bytes}-byte body on ${req.method} ${req.url}`);
      for (const name of OVERRIDES) {
        if (safe && req.headers[name] !== undefined) leaked.push(`${name} on ${req.method} ${req.url}`);
      }
      if (req.headers['x-host'] !== undefined) leaked.push(`X-Host on ${req.method} ${req.url}`);
      if (req.url === '*' || req.url?.includes('smuggled')) leaked.push(`${req.method} ${req.url}`);
      answer(req, res);
    });
  });
  child = await startChild({
    UPSTREAM_URL: b.url,
    INVALIDATE_TOKEN: TOKEN,
    LOG_LEVEL: 'error',
    ACCESS_LOG: 'off',
    MAX_BODY_BYTES: '64KiB',
  });
}, 60_000);
afterAll(async () => {
  await child?.stop(5_000);
  await b?.close();
});

/** A small deterministic PRNG: a failing run can be replayed with the same seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

const SEGMENTS = [
  '..',
  '%2e%2e',
  '%2E%2e/',
  '%00',
  '%',
  '%zz',
  '%u0041',
  '//',
  '\\',
  '.',
  ';',
  '%2F',
  '%5C',
  '?',
  '&',
  '=',
  '#',
  'ü',
  'é',
  '😀',
  '\u202e',
  '<script>',
  "'",
  '"',
  '{',
  '}',
  '|',
  '^',
  '`',
  '[',
  ']',
  '$',
  '*',
  '~',
  '+',
  ',',
  'products',
  '123',
  'api',
  'search',
  'x.css',
  'invalidate',
  'health',
  '%0d%0aSet-Cookie:x=1',
  '\u0000',
];
const METHODS = [
  'GET',
  'GET',
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'PROPFIND',
  'MKCOL',
  'TRACE',
  'SEARCH',
  'PURGE',
  'FOO',
  'get',
  'M-SEARCH',
  'CONNECT',
  'BREW',
];

function hostileRequest(rand: () => number, i: number): Buffer {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const method = pick(METHODS);
  let path = '/';
  const shape = rand();
  if (shape < 0.05) path += 'a'.repeat(5_000 + Math.floor(rand() * 20_000));
  else {
    const n = 1 + Math.floor(rand() * 8);
    for (let k = 0; k < n; k++) path += `${pick(SEGMENTS)}${rand() < 0.5 ? '/' : ''}`;
    path += `?q=${i}&${pick(SEGMENTS)}=${pick(SEGMENTS)}`;
    // Half go percent-encoded, as a browser sends them: those pass the parser and reach routing and the cache.
    if (rand() < 0.5)
      path = path.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/gu, (c) => encodeURIComponent(c));
  }
  const headers = [
    `Host: ${rand() < 0.9 ? '127.0.0.1' : pick(['', 'a b', 'x/y', 'é.example', '[::1]', 'h:99999'])}`,
  ];
  const extra = Math.floor(rand() * 4);
  for (let k = 0; k < extra; k++) {
    const kind = rand();
    if (kind < 0.2) headers.push(`X-Long: ${'v'.repeat(Math.floor(rand() * 20_000))}`);
    else if (kind < 0.3)
      headers.push(
        `X-Bin: ${String.fromCharCode(...Array.from({ length: 20 }, () => 0x80 + Math.floor(rand() * 0x7f)))}`,
      );
    else if (kind < 0.4) headers.push(`Accept-Language: ${pick(SEGMENTS)}`, `Cookie: a=${pick(SEGMENTS)}`);
    else if (kind < 0.5) for (let h = 0; h < 150; h++) headers.push(`X-Many-${h}: ${h}`);
    else if (kind < 0.6) headers.push(`X-Forwarded-Host: evil-${i}.example`);
    else if (kind < 0.7) headers.push('Content-Length: 5', 'Content-Length: 6');
    else if (kind < 0.8) headers.push('Transfer-Encoding: chunked, gzip');
    else if (kind < 0.9)
      headers.push(`Cache-Control: ${pick(['no-cache', 'max-age=abc', 'only-if-cached', 'max-stale', ''])}`);
    else headers.push(`Range: bytes=${pick(['0-', '-1', '5-2', 'x', '0-0,1-1,2-2'])}`);
  }
  const body = method === 'POST' || method === 'PUT' ? 'b'.repeat(Math.floor(rand() * 2_000)) : '';
  if (
    body !== '' &&
    !headers.some((h) => h.startsWith('Content-Length') || h.startsWith('Transfer-Encoding'))
  )
    headers.push(`Content-Length: ${body.length}`);
  return Buffer.from(
    `${method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\nConnection: close\r\n\r\n${body}`,
    'utf8',
  );
}

/** The request-edge attacks of issue 13, each in a few variants. */
function edgeShape(rand: () => number, i: number): Buffer {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const host = 'Host: 127.0.0.1';
  const shapes = [
    // Fat GET and HEAD, by length and chunked.
    () => `${pick(['GET', 'HEAD'])} /edge/${i} HTTP/1.1\r\n${host}\r\nContent-Length: 9\r\n\r\nEVIL-BODY`,
    () =>
      `GET /edge/${i} HTTP/1.1\r\n${host}\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nEVIL-BODY\r\n0\r\n\r\n`,
    // Method overrides and X-Host on a cacheable GET.
    () =>
      `GET /edge/${i} HTTP/1.1\r\n${host}\r\n${pick(OVERRIDES)}: DELETE\r\nX-Host: evil-${i}.example\r\nConnection: close\r\n\r\n`,
    () => `OPTIONS * HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`,
    // TE.TE: a refused framing with a request pipelined behind it.
    () =>
      `POST /edge/${i} HTTP/1.1\r\n${host}\r\nTransfer-Encoding: ${pick(['identity, chunked', 'gzip, chunked'])}\r\n\r\n0\r\n\r\nGET /smuggled/${i} HTTP/1.1\r\n${host}\r\n\r\n`,
    // HTTP/0.9 (as a CR LF inside a target makes one) and HTTP/2.0 as text.
    () => `GET /edge/${i}\r\n${pick(['', `${host}\r\n`])}\r\n`,
    () => `GET /edge/${i} HTTP/2.0\r\n${host}\r\n\r\n`,
    // Many small fields: under Node's count of names and values, over MAX_HEADER_BYTES as sent.
    () =>
      `GET /edge/${i} HTTP/1.1\r\n${host}\r\n${Array.from({ length: 2_000 }, (_, k) => `h${k}: 1`).join('\r\n')}\r\n\r\n`,
  ];
  return Buffer.from(pick(shapes)(), 'latin1');
}

const BAD_INVALIDATIONS: { headers: string[]; body: string }[] = [
  { headers: [], body: '{"tags":["a"]}' },
  { headers: ['Authorization: Bearer wrong-token-wrong-token'], body: '{"tags":["a"]}' },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: '{"tags":' },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: '{"tags":[1,2,{"x":[]}]}' },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: '{"tags":[]}' },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: '{"nope":true}' },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: `{"tags":["${'t'.repeat(5_000)}"]}` },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: `{"urls":["not a url","http://[::1"]}` },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: `${'['.repeat(10_000)}` },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: `${'['.repeat(100_000)}${']'.repeat(100_000)}` },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: `{"tags":${'[{"a":'.repeat(20_000)}` },
  { headers: [`Authorization: Bearer ${TOKEN}`, 'Content-Type: text/xml'], body: '<tags/>' },
  {
    headers: [`Authorization: Bearer ${TOKEN}`],
    body: JSON.stringify({ tags: Array.from({ length: 5_000 }, (_, i) => `t${i}`) }),
  },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: 'x'.repeat(2 * 1024 * 1024) },
  { headers: [`Authorization: Bearer ${TOKEN}`, 'Surrogate-Key: \u0001 a  b'], body: '' },
  { headers: [`Authorization: Bearer ${TOKEN}`], body: '{"all":"yes","soft":"maybe"}' },
];

function invalidation(rand: () => number): Buffer {
  const c = BAD_INVALIDATIONS[Math.floor(rand() * BAD_INVALIDATIONS.length)] ?? { headers: [], body: '' };
  const method = rand() < 0.9 ? 'POST' : 'PUT';
  const lines = [
    `${method} /invalidate HTTP/1.1`,
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    ...c.headers,
  ];
  lines.push(`Content-Length: ${Buffer.byteLength(c.body)}`, 'Connection: close');
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${c.body}`, 'utf8');
}

function garbage(rand: () => number): Buffer {
  return Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 4_000) }, () => Math.floor(rand() * 256)));
}

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await run(items[next++] as T);
    }),
  );
}

describe('thousands of hostile requests', () => {
  it('crash nothing, get no 5xx from the proxy, and leave memory flat', async () => {
    // Warm up: the first requests load code and size pools, which is not what is measured.
    for (let i = 0; i < 300; i++) await send(`${child.url}/warm/${i % 30}`);
    const rssBefore = rssBytes(child.pid);
    const rand = prng(20261123);
    const round = (offset: number) => {
      const jobs: { target: 'proxy' | 'admin'; bytes: Buffer }[] = [];
      for (let i = 0; i < 2_400; i++) jobs.push({ target: 'proxy', bytes: hostileRequest(rand, offset + i) });
      for (let i = 0; i < 300; i++) jobs.push({ target: 'admin', bytes: invalidation(rand) });
      for (let i = 0; i < 300; i++) jobs.push({ target: 'proxy', bytes: garbage(rand) });
      for (let i = 0; i < 300; i++) jobs.push({ target: 'proxy', bytes: edgeShape(rand, offset + i) });
      return jobs;
    };
    const statuses = new Map<number, number>();
    const fivexx: string[] = [];
    const attack = (jobs: { target: 'proxy' | 'admin'; bytes: Buffer }[]) =>
      pool(jobs, 24, async (job) => {
        const res = await rawExchange(job.target === 'proxy' ? child.url : child.adminUrl, job.bytes, 5_000);
        const status = rawStatus(res);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        // RFC 9111 §5.2.1.7: only-if-cached with nothing stored is answered 504 on purpose.
        const asked504 = status === 504 && job.bytes.includes('only-if-cached');
        // HTTP/2.0 as text is answered 505 HTTP Version Not Supported, on purpose too.
        const asked505 = status === 505 && job.bytes.includes(' HTTP/2.0\r\n');
        if (status >= 500 && !asked504 && !asked505) {
          fivexx.push(
            `${job.target} ${job.bytes.subarray(0, 120).toString('latin1')} → ${res.slice(0, 300)}`,
          );
        }
      });
    const started = performance.now();
    await attack(round(0));
    await new Promise((r) => setTimeout(r, 500));
    const rssFirst = rssBytes(child.pid);
    // A second round of new requests: a leak grows again, a warmed-up process stays about where it was.
    await attack(round(100_000));
    const elapsed = performance.now() - started;
    await new Promise((r) => setTimeout(r, 500));
    const rssAfter = rssBytes(child.pid);
    report('hostile run', {
      requests: 6_600,
      seconds: elapsed / 1000,
      statuses: [...statuses.entries()]
        .sort(([a], [c]) => a - c)
        .map(([st, n]) => `${st}:${n}`)
        .join(','),
      rss_before_mib: rssBefore / MiB,
      rss_after_round1_mib: rssFirst / MiB,
      rss_after_round2_mib: rssAfter / MiB,
    });
    expect(fivexx).toEqual([]);
    expect(leaked).toEqual([]);
    expect(child.child.exitCode).toBeNull();
    expect(answered(await send(`${child.adminUrl}/health/live`)).status).toBe(200);
    expect(answered(await send(`${child.url}/warm/1`)).status).toBe(200);
    expect(rssAfter - rssBefore).toBeLessThan(128 * MiB);
    expect(rssAfter - rssFirst).toBeLessThan(48 * MiB);
  }, 90_000);
});
