import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { answered, type Backend, report, send, startBackend } from './support.js';

/** Per path: how the backend misbehaves this time (`n` counts requests to the path from 1). */
type Fault = (req: IncomingMessage, res: ServerResponse, n: number) => void;

const FULL = 'x'.repeat(100);
const faults = new Map<string, Fault>();
let b: Backend;
let proxy: RunningProxy;

function healthy(res: ServerResponse): void {
  res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': FULL.length });
  res.end(FULL);
}

beforeAll(async () => {
  const counts = new Map<string, number>();
  b = await startBackend((req, res) => {
    const path = req.url ?? '/';
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    const fault = faults.get(path);
    if (fault === undefined) healthy(res);
    else fault(req, res, n);
  });
  proxy = await startProxy({
    UPSTREAM_URL: b.url,
    UPSTREAM_HEADERS_TIMEOUT_MS: '300',
    UPSTREAM_BODY_TIMEOUT_MS: '300',
    ACCESS_LOG: 'off',
    // These tests are about single failures; the breaker has its own suite.
    BREAKER_CONSECUTIVE_FAILURES: '0',
    BREAKER_ERROR_RATE: '0',
  });
});
afterAll(async () => {
  await proxy?.close();
  await b?.close();
});

describe('a backend that misbehaves', () => {
  it('answers 504 when the backend sends no headers within UPSTREAM_HEADERS_TIMEOUT_MS', async () => {
    faults.set('/slow', (_req, res, n) => {
      if (n === 1) setTimeout(() => healthy(res), 1_500);
      else healthy(res);
    });
    const o = answered(await send(`${proxy.url}/slow`, { timeoutMs: 5_000 }));
    report('slow backend', { status: o.status, ms: o.ms });
    expect(o.status).toBe(504);
    expect(o.headers['cache-status']).toContain('detail=TC_UPSTREAM_TIMEOUT');
    const next = answered(await send(`${proxy.url}/slow`));
    expect([next.status, next.headers['x-cache'], next.body]).toEqual([200, 'MISS', FULL]);
  });

  it.each([
    [
      'a Content-Length longer than the body, then a close',
      (res: ServerResponse) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': FULL.length });
        res.write(FULL.slice(0, 40));
        setTimeout(() => res.socket?.destroy(), 20);
      },
    ],
    [
      'a reset (RST) in the middle of the body',
      (res: ServerResponse) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': FULL.length });
        res.write(FULL.slice(0, 40));
        setTimeout(() => res.socket?.resetAndDestroy(), 20);
      },
    ],
    [
      'a chunked body cut before its last chunk',
      (res: ServerResponse) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' });
        res.write(FULL.slice(0, 40));
        setTimeout(() => res.socket?.destroy(), 20);
      },
    ],
    [
      'a body that stalls past UPSTREAM_BODY_TIMEOUT_MS',
      (res: ServerResponse) => {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': FULL.length });
        res.write(FULL.slice(0, 40));
        setTimeout(() => res.socket?.destroy(), 2_000);
      },
    ],
  ])('cuts the client cleanly on %s and stores nothing', async (name, cut) => {
    const path = `/cut-${name.replace(/\W+/g, '-')}`;
    faults.set(path, (_req, res, n) => (n === 1 ? cut(res) : healthy(res)));
    const first = await send(`${proxy.url}${path}`, { timeoutMs: 5_000 });
    // Headers went out before the backend failed, so the only honest signal left is an incomplete response.
    const incomplete = first.kind === 'error' || (first.kind === 'answer' && first.body.length < FULL.length);
    report(`truncated: ${name}`, { outcome: first.kind === 'error' ? first.code : first.kind, ms: first.ms });
    expect(first.kind).not.toBe('timeout');
    expect(incomplete).toBe(true);
    const second = answered(await send(`${proxy.url}${path}`));
    expect([second.status, second.headers['x-cache'], second.body]).toEqual([200, 'MISS', FULL]);
    const third = answered(await send(`${proxy.url}${path}`));
    expect([third.headers['x-cache'], third.body]).toEqual(['HIT', FULL]);
  });
});
