import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, type SeenRequest, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';

const TRACE_A = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
};
const TRACE_B = {
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  tracestate: 'vendor=opaque:value',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('tracing context', () => {
  let origin: Origin;
  let proxy: RunningProxy;
  let n = 0;
  const path = (prefix = '/t') => `${prefix}${++n}`;
  /** The `i`-th request (from 0) that reached the origin for a path. */
  const seen = (p: string, i: number): SeenRequest => {
    const found = origin.seen.filter((s) => s.url === p)[i];
    if (found === undefined) throw new Error(`request #${i} for ${p} never reached the origin`);
    return found;
  };

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy({ UPSTREAM_URL: origin.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
  });

  it('passes traceparent and tracestate to the backend unchanged', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'no-store' }));
    await fetchRaw(proxy.url + p, { headers: TRACE_A });
    expect(seen(p, 0).headers).toMatchObject(TRACE_A);
  });

  it('sends the backend the X-Request-Id it returns to the client, made up when the client sent none', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'no-store' }));
    const res = await fetchRaw(proxy.url + p);
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(seen(p, 0).headers['x-request-id']).toBe(res.headers['x-request-id']);
  });

  it("keeps the client's sane X-Request-Id and replaces one that is not", async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'no-store' }));
    const kept = await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'req-42.abc' } });
    expect(kept.headers['x-request-id']).toBe('req-42.abc');
    expect(seen(p, 0).headers['x-request-id']).toBe('req-42.abc');

    const replaced = await fetchRaw(proxy.url + p, {
      headers: { 'x-request-id': `bad id ${'x'.repeat(200)}` },
    });
    expect(replaced.headers['x-request-id']).toMatch(UUID);
    expect(seen(p, 1).headers['x-request-id']).toBe(replaced.headers['x-request-id']);
  });

  it('passes the tracing context on a revalidation the client waits for', async () => {
    const p = path();
    origin.on(p, (req, res) => {
      if (req.headers['if-none-match'] === '"e1"')
        res.writeHead(304, { etag: '"e1"', 'cache-control': 'max-age=0' }).end();
      else res.writeHead(200, { etag: '"e1"', 'cache-control': 'max-age=0' }).end('e1');
    });
    await fetchRaw(proxy.url + p, { headers: TRACE_A });
    const again = await fetchRaw(proxy.url + p, { headers: TRACE_B });
    expect(again.headers['x-cache']).toBe('REVALIDATED');
    expect(seen(p, 1).headers).toMatchObject(TRACE_B);
    expect(seen(p, 1).headers['x-request-id']).toBe(again.headers['x-request-id']);
  });

  it('carries the tracing context of the stale hit that set off a background revalidation', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'max-age=0, stale-while-revalidate=60' }));
    await fetchRaw(proxy.url + p, { headers: TRACE_A });
    const stale = await fetchRaw(proxy.url + p, { headers: { ...TRACE_B, 'x-request-id': 'client-b' } });
    expect(stale.headers['x-cache']).toBe('STALE');
    await expect.poll(() => origin.count(p)).toBe(2);
    const refresh = seen(p, 1);
    expect(refresh.headers).toMatchObject(TRACE_B);
    // The refresh is a request of its own, but its id names the request that set it off.
    expect(stale.headers['x-request-id']).toBe('client-b');
    expect(refresh.headers['x-request-id']).not.toBe('client-b');
    expect(refresh.headers['x-request-id']).toMatch(/^client-b\b/);
  });
});
