import { afterEach, describe, expect, it } from 'vitest';
import { scrape, sumOf } from '../core/prom.js';
import { closedPortUrl, refusedPort } from '../support/ports.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { answered, type Backend, type Handler, page, send, startBackend, steadyLoad } from './support.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((x) => x.close()));
});

async function backends(
  n: number,
  handler: (i: number) => Handler = () => page('no-store'),
): Promise<Backend[]> {
  const out: Backend[] = [];
  for (let i = 0; i < n; i++) out.push(await startBackend(handler(i)));
  opened.push(...out);
  return out;
}

/** A proxy whose one route spreads over `origins` and never caches (every request goes to a backend). */
async function proxyOver(origins: string[], env: Record<string, string> = {}): Promise<RunningProxy> {
  const proxy = await startProxy(
    { ACCESS_LOG: 'off', ...env },
    { routes: [], default: { name: 'spread', cache: false, upstream: origins } },
  );
  opened.push(proxy);
  return proxy;
}

describe('several backends per route', () => {
  it('round-robin sends each backend its turn', async () => {
    const bs = await backends(3);
    const proxy = await proxyOver(
      bs.map((b) => b.url),
      { UPSTREAM_BALANCE: 'round-robin' },
    );
    for (let i = 0; i < 30; i++) expect(answered(await send(`${proxy.url}/rr${i}`)).status).toBe(200);
    expect(bs.map((b) => b.hits())).toEqual([10, 10, 10]);
  });

  it('least-in-flight sends most of the load to the backend that answers fast', async () => {
    // "Slow" by what the other backend did, not by the clock: the slow one answers a request only once
    // the fast one has taken 20 more, so a loaded machine cannot even the two out.
    const STOP_AT = 60;
    const held: { due: number; answer: () => void }[] = [];
    let fast: Backend | undefined;
    const fastHits = () => fast?.hits() ?? 0;
    const releaseDue = () => {
      for (const h of held.filter((x) => fastHits() >= x.due || fastHits() >= STOP_AT)) {
        held.splice(held.indexOf(h), 1);
        h.answer();
      }
    };
    const [a, b] = await backends(2, (i) =>
      i === 0
        ? (req, res) => {
            held.push({ due: fastHits() + 20, answer: () => page('no-store')(req, res) });
            releaseDue();
          }
        : (req, res) => {
            page('no-store')(req, res);
            releaseDue();
          },
    );
    if (a === undefined || b === undefined) throw new Error('two backends');
    fast = b;
    const proxy = await proxyOver([a.url, b.url]);
    let n = 0;
    const results = await steadyLoad({
      workers: 4,
      timeoutMs: 10_000,
      until: () => b.hits() >= STOP_AT,
      next: () => ({ url: `${proxy.url}/lif${n++}`, label: 'x' }),
    });
    expect(results.every((r) => r.outcome.kind === 'answer' && r.outcome.status === 200)).toBe(true);
    // Round-robin would split evenly; the slow backend holds its requests, so it is offered fewer.
    expect(b.hits()).toBeGreaterThan(3 * a.hits());
  });

  it('ejects a backend that refuses connections, and takes it back after UPSTREAM_EJECT_MS', async () => {
    const [live] = await backends(1);
    if (live === undefined) throw new Error('one backend');
    const deadPort = await refusedPort();
    const dead = `http://127.0.0.1:${deadPort}`;
    const proxy = await proxyOver([dead, live.url], {
      UPSTREAM_BALANCE: 'round-robin',
      UPSTREAM_RETRIES: '0',
      UPSTREAM_EJECT_MS: '500',
      BREAKER_CONSECUTIVE_FAILURES: '0',
      BREAKER_ERROR_RATE: '0',
    });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(answered(await send(`${proxy.url}/ej${i}`)).status);
    // At most the first request met the dead backend; after that it was passed over.
    expect(statuses.filter((s) => s !== 200).length).toBeLessThanOrEqual(1);
    expect(live.hits()).toBeGreaterThanOrEqual(9);
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_upstream_ejections_total', { origin: new URL(dead).host })).toBe(1);

    const revived = await startBackend(page('no-store'), deadPort);
    opened.push(revived);
    // Taken back once UPSTREAM_EJECT_MS has passed: polled, so a loaded machine only takes longer.
    let back = 0;
    await expect
      .poll(
        async () => {
          expect(answered(await send(`${proxy.url}/back${back++}`)).status).toBe(200);
          return revived.hits();
        },
        { timeout: 10_000 },
      )
      .toBeGreaterThan(0);
  });

  it('retries an idempotent GET that could not connect on another backend: the client sees 200', async () => {
    const [live] = await backends(1);
    if (live === undefined) throw new Error('one backend');
    const dead = await closedPortUrl();
    const proxy = await proxyOver([dead, live.url], {
      UPSTREAM_BALANCE: 'round-robin',
      UPSTREAM_RETRIES: '1',
      // No ejection and no breaker: every other request meets the dead backend first.
      UPSTREAM_EJECT_MS: '0',
      BREAKER_CONSECUTIVE_FAILURES: '0',
      BREAKER_ERROR_RATE: '0',
    });
    for (let i = 0; i < 10; i++) expect(answered(await send(`${proxy.url}/retry${i}`)).status).toBe(200);
    expect(live.hits()).toBe(10);
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_upstream_retries_total', { route: 'spread' })).toBe(5);
  });

  it('never retries a POST, even one that never connected', async () => {
    const [live] = await backends(1);
    if (live === undefined) throw new Error('one backend');
    const dead = await closedPortUrl();
    const proxy = await proxyOver([dead, live.url], {
      UPSTREAM_BALANCE: 'round-robin',
      UPSTREAM_RETRIES: '1',
      UPSTREAM_EJECT_MS: '0',
      BREAKER_CONSECUTIVE_FAILURES: '0',
      BREAKER_ERROR_RATE: '0',
    });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push(
        answered(await send(`${proxy.url}/order${i}`, { method: 'POST', body: 'pay once' })).status,
      );
    }
    expect(statuses.sort()).toEqual([200, 200, 502, 502]);
    expect(live.hits()).toBe(2);
  });

  it('retries a DELETE without a body, but not a PUT whose body undici already took', async () => {
    const [live] = await backends(1, () => (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => res.end(`${req.method} ${body}`));
    });
    if (live === undefined) throw new Error('one backend');
    const dead = await closedPortUrl();
    const proxy = await proxyOver([dead, live.url], {
      UPSTREAM_BALANCE: 'round-robin',
      UPSTREAM_EJECT_MS: '0',
      BREAKER_CONSECUTIVE_FAILURES: '0',
      BREAKER_ERROR_RATE: '0',
    });
    for (let i = 0; i < 4; i++)
      expect(answered(await send(`${proxy.url}/gone${i}`, { method: 'DELETE' })).status).toBe(200);
    // A request body is a stream handed to the first backend's connection attempt; once it failed the
    // stream is spent, and sending a second, empty copy elsewhere would be worse than a 502.
    const puts = [];
    for (let i = 0; i < 4; i++)
      puts.push(answered(await send(`${proxy.url}/doc${i}`, { method: 'PUT', body: `v${i}` })));
    expect(puts.map((o) => o.status).sort()).toEqual([200, 200, 502, 502]);
    for (const o of puts) if (o.status === 200) expect(o.body).toMatch(/^PUT v\d$/);
  });
});
