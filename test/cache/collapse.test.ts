import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { storeCases } from './stores.js';

const cases = storeCases();
let n = 0;
const path = () => `/c${++n}`;

async function inFlight(proxy: RunningProxy): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return Number(/^tagcache_requests_in_flight (\d+)/m.exec(text)?.[1] ?? -1);
}

describe.each(cases)('request collapsing on the $name store', (store) => {
  let origin: Origin;
  let proxy: RunningProxy;
  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy({ UPSTREAM_URL: origin.url, ...store.env() });
  });
  afterAll(async () => {
    await proxy.close();
    await origin.close();
  });

  /** The origin holds every answer until released, so all requests arrive while the first is in flight. */
  function gated(p: string, headers: Record<string, string>) {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    origin.on(p, (_req, res, c) => {
      void gate.then(() => res.writeHead(200, headers).end(`body #${c}`));
    });
    return release;
  }

  it('sends 64 concurrent cold requests upstream once', async () => {
    const p = path();
    const release = gated(p, { 'cache-control': 'max-age=60' });
    const all = Promise.all(Array.from({ length: 64 }, () => fetchRaw(proxy.url + p)));
    // Release the backend only once all 64 are inside the proxy, waiting. On a loaded machine that
    // takes more than expect.poll's default 1 s; a poll that gave up would leave them held at the gate,
    // counted by every later test's inFlight.
    await expect.poll(() => inFlight(proxy), { timeout: 15_000 }).toBe(64);
    expect(origin.count(p)).toBe(1);
    release();
    const answers = await all;
    expect(origin.count(p)).toBe(1);
    expect(answers.every((a) => a.status === 200 && a.text() === 'body #1')).toBe(true);
    expect(answers.filter((a) => a.headers['cache-status']?.includes('collapsed')).length).toBe(63);
  });

  it('releases waiters in parallel when the answer is uncacheable, and skips waiting afterwards', async () => {
    const p = path();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // After the first answer, the backend holds each request until all ten have arrived (or 3 s):
    // only requests sent in parallel can all be in flight at once.
    origin.on(p, (_req, res, c) => {
      const send = () => res.writeHead(200, { 'cache-control': 'private' }).end(`body #${c}`);
      if (c === 1) return void gate.then(send);
      const started = Date.now();
      const wait = setInterval(() => {
        if (origin.count(p) >= 10 || Date.now() - started > 3000) {
          clearInterval(wait);
          send();
        }
      }, 5);
    });
    const first = Promise.all(Array.from({ length: 10 }, () => fetchRaw(proxy.url + p)));
    await expect.poll(() => origin.count(p), { timeout: 15_000 }).toBe(1);
    release();
    await first;
    expect(origin.count(p)).toBe(10);
    expect(origin.maxInFlight).toBe(9);
    // hit-for-miss: the next burst does not queue behind a leader at all.
    const before = origin.count(p);
    const burst = Array.from({ length: 8 }, () => fetchRaw(proxy.url + p));
    await expect.poll(() => origin.count(p), { timeout: 15_000 }).toBe(before + 8);
    await Promise.all(burst);
  });

  it('lets no client turn collapsing off for a key by sending credentials', async () => {
    const p = path();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // Without "public", an answer to a request with Authorization is not stored (RFC 9111 §3.5).
    origin.on(p, (req, res, c) => {
      const send = () => res.writeHead(200, { 'cache-control': 'max-age=60' }).end(`body #${c}`);
      if (req.headers.authorization !== undefined) send();
      else void gate.then(send);
    });
    const personal = await fetchRaw(proxy.url + p, { headers: { authorization: 'Bearer anyone' } });
    expect(personal.headers['x-cache']).toBe('MISS');
    const all = Promise.all(Array.from({ length: 32 }, () => fetchRaw(proxy.url + p)));
    await expect.poll(() => inFlight(proxy), { timeout: 15_000 }).toBe(32);
    expect(origin.count(p)).toBe(2);
    release();
    const answers = await all;
    expect(origin.count(p)).toBe(2);
    expect(answers.every((a) => a.status === 200 && a.text() === 'body #2')).toBe(true);
  });

  it('collapses a stale entry revalidation too', async () => {
    const p = path();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    origin.on(p, (_req, res, c) => {
      const send = () =>
        res
          .writeHead(200, { 'cache-control': c === 1 ? 'max-age=0' : 'max-age=60', etag: `"${c}"` })
          .end(`body #${c}`);
      if (c === 1) send();
      else void gate.then(send);
    });
    await fetchRaw(proxy.url + p);
    const all = Promise.all(Array.from({ length: 20 }, () => fetchRaw(proxy.url + p)));
    await expect.poll(() => inFlight(proxy), { timeout: 15_000 }).toBe(20);
    expect(origin.count(p)).toBe(2);
    release();
    const answers = await all;
    expect(origin.count(p)).toBe(2);
    expect(answers.every((a) => a.text() === 'body #2')).toBe(true);
  });
});
