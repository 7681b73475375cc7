import { expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import type { RunningProxy } from '../support/proxy.js';
import { describeCache, POLL } from './stores.js';

let n = 0;
const path = () => `/c${++n}`;

async function inFlight(proxy: RunningProxy): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return Number(/^tagcache_requests_in_flight (\d+)/m.exec(text)?.[1] ?? -1);
}

describeCache('request collapsing', {}, (h) => {
  /** The origin holds every answer until released, so all requests arrive while the first is in flight. */
  function gated(p: string, headers: Record<string, string>) {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    h.origin.on(p, (_req, res, c) => {
      void gate.then(() => res.writeHead(200, headers).end(`body #${c}`));
    });
    return release;
  }

  it('sends 64 concurrent cold requests upstream once', async () => {
    const p = path();
    const release = gated(p, { 'cache-control': 'max-age=60' });
    const all = Promise.all(Array.from({ length: 64 }, () => fetchRaw(h.proxy.url + p)));
    // Release the backend only once all 64 are inside the proxy, waiting.
    await expect.poll(() => inFlight(h.proxy), POLL).toBe(64);
    // All 64 are inside the proxy; the leader's request may still be on its way (with Redis it takes
    // the fleet lease first), so it is waited for. More than one reaching the backend fails below.
    await expect.poll(() => h.origin.count(p), POLL).toBe(1);
    release();
    const answers = await all;
    expect(h.origin.count(p)).toBe(1);
    expect(answers.every((a) => a.status === 200 && a.text() === 'body #1')).toBe(true);
    expect(answers.filter((a) => a.headers['cache-status']?.includes('collapsed')).length).toBe(63);
  });

  it('releases waiters in parallel when the answer is uncacheable, and skips waiting afterwards', async () => {
    const p = path();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // After the first answer, the backend holds each request until all ten have arrived, however long
    // that takes: only requests sent in parallel can all be in flight at once (one at a time never gets there).
    const held: (() => void)[] = [];
    h.origin.on(p, (_req, res, c) => {
      const send = () => res.writeHead(200, { 'cache-control': 'private' }).end(`body #${c}`);
      if (c === 1) return void gate.then(send);
      held.push(send);
      if (h.origin.count(p) >= 10) for (const answer of held.splice(0)) answer();
    });
    const first = Promise.all(Array.from({ length: 10 }, () => fetchRaw(h.proxy.url + p)));
    await expect.poll(() => h.origin.count(p), POLL).toBe(1);
    release();
    await first;
    expect(h.origin.count(p)).toBe(10);
    expect(h.origin.maxInFlightOf(p)).toBe(9);
    // hit-for-miss: the next burst does not queue behind a leader at all.
    const before = h.origin.count(p);
    const burst = Array.from({ length: 8 }, () => fetchRaw(h.proxy.url + p));
    await expect.poll(() => h.origin.count(p), POLL).toBe(before + 8);
    await Promise.all(burst);
  });

  it('lets no client turn collapsing off for a key by sending credentials', async () => {
    const p = path();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // Without "public", an answer to a request with Authorization is not stored (RFC 9111 §3.5).
    h.origin.on(p, (req, res, c) => {
      const send = () => res.writeHead(200, { 'cache-control': 'max-age=60' }).end(`body #${c}`);
      if (req.headers.authorization !== undefined) send();
      else void gate.then(send);
    });
    const personal = await fetchRaw(h.proxy.url + p, { headers: { authorization: 'Bearer anyone' } });
    expect(personal.headers['x-cache']).toBe('MISS');
    const all = Promise.all(Array.from({ length: 32 }, () => fetchRaw(h.proxy.url + p)));
    await expect.poll(() => inFlight(h.proxy), POLL).toBe(32);
    await expect.poll(() => h.origin.count(p), POLL).toBe(2); // the leader's request may still be on its way
    release();
    const answers = await all;
    expect(h.origin.count(p)).toBe(2);
    expect(answers.every((a) => a.status === 200 && a.text() === 'body #2')).toBe(true);
  });

  it('collapses a stale entry revalidation too', async () => {
    const p = path();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    h.origin.on(p, (_req, res, c) => {
      const send = () =>
        res
          .writeHead(200, { 'cache-control': c === 1 ? 'max-age=0' : 'max-age=60', etag: `"${c}"` })
          .end(`body #${c}`);
      if (c === 1) send();
      else void gate.then(send);
    });
    await fetchRaw(h.proxy.url + p);
    const all = Promise.all(Array.from({ length: 20 }, () => fetchRaw(h.proxy.url + p)));
    await expect.poll(() => inFlight(h.proxy), POLL).toBe(20);
    await expect.poll(() => h.origin.count(p), POLL).toBe(2); // the leader's request may still be on its way
    release();
    const answers = await all;
    expect(h.origin.count(p)).toBe(2);
    expect(answers.every((a) => a.text() === 'body #2')).toBe(true);
  });
});
