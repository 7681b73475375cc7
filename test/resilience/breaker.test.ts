import { afterEach, describe, expect, it } from 'vitest';
import { scrape, sumOf } from '../core/prom.js';
import { fetchRaw } from '../support/http.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import {
  answered,
  type Backend,
  type LoadResult,
  median,
  page,
  report,
  send,
  startBackend,
  steadyLoad,
} from './support.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((x) => x.close()));
});

/**
 * The behaviour these tests pin down was the default before issue 13: answers 502/503/504 count
 * as failures and an open circuit refuses everything. Both are settings now.
 */
const STATUS_COUNTING = { BREAKER_FAILURE_STATUSES: '502,503,504', BREAKER_PANIC_RPS: '0' };

async function proxyFor(backend: Backend, env: Record<string, string>): Promise<RunningProxy> {
  const proxy = await startProxy({ UPSTREAM_URL: backend.url, ACCESS_LOG: 'off', ...env });
  opened.push(proxy);
  return proxy;
}

async function backend(handler: Parameters<typeof startBackend>[0]): Promise<Backend> {
  const b = await startBackend(handler);
  opened.push(b);
  return b;
}

async function circuitReport(proxy: RunningProxy, origin: string) {
  const res = await fetchRaw(`${proxy.adminUrl}/health/ready`);
  const body = JSON.parse(res.text()) as {
    checks: { upstream: { circuits: Record<string, { state: string; retryInMs: number }> } };
  };
  return body.checks.upstream.circuits[new URL(origin).host] ?? { state: 'unknown', retryInMs: -1 };
}

async function circuitOf(proxy: RunningProxy, origin: string): Promise<string> {
  return (await circuitReport(proxy, origin)).state;
}

describe('upstream circuit breaker', () => {
  it('keeps cached keys answering (stale) and fails new keys fast while the backend is dead, then refreshes', async () => {
    let version = 'v1';
    // max-age=1 with a 1 s stale-if-error window: the outage lasts longer, so the open circuit must carry it.
    const b = await backend(page('max-age=1, stale-if-error=1', () => version));
    const proxy = await proxyFor(b, {
      BREAKER_CONSECUTIVE_FAILURES: '3',
      BREAKER_OPEN_MS: '1000',
      UPSTREAM_CONNECT_TIMEOUT_MS: '1000',
    });
    const keys = Array.from({ length: 20 }, (_, i) => `/cached/${i}`);
    for (const key of keys) expect(answered(await send(`${proxy.url}${key}`)).status).toBe(200);

    let phase: 'before' | 'outage' = 'before';
    let stop = false;
    let n = 0;
    const seen: LoadResult<'cached' | 'new'>[] = [];
    const load = steadyLoad<'cached' | 'new'>({
      workers: 8,
      timeoutMs: 3_000,
      until: () => stop,
      results: seen,
      next: () => {
        n++;
        return n % 3 === 0
          ? { url: `${proxy.url}/new/${phase}/${n}`, label: 'new' }
          : { url: `${proxy.url}${keys[n % keys.length]}`, label: 'cached' };
      },
    });
    // Driven by what the load has seen, not by the clock: a loaded machine only takes longer.
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBeGreaterThan(20);
    await b.kill();
    // Counted from here: a request sent while the kill was under way may still have been answered.
    const killedAt = performance.now();
    phase = 'outage';
    // The outage lasts until the circuit opened, and more than 50 cached answers (some stale) and 10 fast failures came in it.
    const sinceKill = () => seen.filter((r) => r.at >= killedAt);
    await expect
      .poll(
        async () => {
          const now = sinceKill();
          const cached = now.filter((r) => r.label === 'cached').length;
          const failedFast = now.filter(
            (r) => r.label === 'new' && r.outcome.kind === 'answer' && r.outcome.status === 503,
          ).length;
          const stale = now.some(
            (r) => r.outcome.kind === 'answer' && r.outcome.headers['x-cache'] === 'STALE',
          );
          if (!(cached > 50 && failedFast > 10 && stale)) return false;
          // …and the entries stood in past their own windows, for the outage itself.
          return sumOf(await scrape(proxy.adminUrl), 'tagcache_stale_served_total', { reason: 'outage' }) > 0;
        },
        { timeout: 30_000, interval: 100 },
      )
      .toBe(true);
    version = 'v2';
    const restartingAt = performance.now();
    await b.start();
    const restartedAt = performance.now();
    // Fresh content: a cached key answers with the backend's new version.
    await expect
      .poll(
        async () => {
          const o = await send(`${proxy.url}${keys[0]}`, { timeoutMs: 3_000 });
          return o.kind === 'answer' && o.body.startsWith('v2');
        },
        { timeout: 10_000, interval: 20 },
      )
      .toBe(true);
    const freshAt = performance.now();
    stop = true;
    const results = await load;

    // Answered while the backend was down: not one sent then but answered once it was back.
    const during = results.filter((r) => r.at >= killedAt && r.at + r.outcome.ms < restartingAt);
    const cached = during.filter((r) => r.label === 'cached');
    const fresh = during.filter((r) => r.label === 'new');
    const hung = results.filter((r) => r.outcome.kind !== 'answer');
    const cachedFailures = cached.filter((r) => r.outcome.kind !== 'answer' || r.outcome.status !== 200);
    const fastFails = fresh.flatMap((r) =>
      r.outcome.kind === 'answer' && r.outcome.status === 503 ? [r.outcome.ms] : [],
    );
    report('backend killed under load', {
      requests: results.length,
      during_outage: during.length,
      cached_during: cached.length,
      cached_failed: cachedFailures.length,
      new_during: fresh.length,
      new_502: fresh.filter((r) => r.outcome.kind === 'answer' && r.outcome.status === 502).length,
      new_503: fastFails.length,
      hung_or_transport_errors: hung.length,
      open_wait_median_ms: median(fastFails),
      open_wait_max_ms: Math.max(...fastFails),
      recovery_to_fresh_ms: freshAt - restartedAt,
    });

    expect(hung).toEqual([]);
    expect(cached.length).toBeGreaterThan(50);
    expect(cachedFailures).toEqual([]);
    expect(cached.some((r) => r.outcome.kind === 'answer' && r.outcome.headers['x-cache'] === 'STALE')).toBe(
      true,
    );
    // Keys never cached: a few 502s while the breaker counts, then 503s from the open circuit.
    expect(fastFails.length).toBeGreaterThan(10);
    for (const r of fresh) {
      const o = answered(r.outcome);
      expect([502, 503]).toContain(o.status);
    }
    await expect.poll(() => circuitOf(proxy, b.url), { timeout: 5_000 }).toBe('closed');
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_upstream_circuit_state', { origin: new URL(b.url).host })).toBe(0);
    expect(
      sumOf(metrics, 'tagcache_upstream_circuit_transitions_total', {
        origin: new URL(b.url).host,
        to: 'open',
      }),
    ).toBeGreaterThan(0);
    expect(
      sumOf(metrics, 'tagcache_upstream_circuit_transitions_total', {
        origin: new URL(b.url).host,
        to: 'closed',
      }),
    ).toBeGreaterThan(0);
    expect(sumOf(metrics, 'tagcache_stale_served_total', { reason: 'outage' })).toBeGreaterThan(0);
  }, 30_000);

  it('answers 503 with the remaining open time as Retry-After, without touching the backend', async () => {
    const b = await backend((_req, res) => res.writeHead(503, { 'content-length': '0' }).end());
    const proxy = await proxyFor(b, {
      ...STATUS_COUNTING,
      BREAKER_CONSECUTIVE_FAILURES: '2',
      BREAKER_OPEN_MS: '5000',
    });
    for (let i = 0; i < 2; i++) expect(answered(await send(`${proxy.url}/x${i}`)).status).toBe(503);
    const before = b.hits();
    const refused = answered(await send(`${proxy.url}/y`));
    expect(refused.status).toBe(503);
    expect(refused.headers['cache-status']).toContain('detail=TC_UPSTREAM_CIRCUIT_OPEN');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(4);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(5);
    expect(b.hits()).toBe(before);
    expect(await circuitOf(proxy, b.url)).toBe('open');
    const ready = await fetchRaw(`${proxy.adminUrl}/health/ready`);
    // The backend still accepts connections, and an open circuit alone keeps the proxy in rotation.
    expect(ready.status).toBe(200);
    const metrics = await scrape(proxy.adminUrl);
    expect(sumOf(metrics, 'tagcache_upstream_circuit_state', { origin: new URL(b.url).host })).toBe(1);
  });

  it('serves a cached key past its own stale-if-error window while the circuit is open', async () => {
    let healthy = true;
    const b = await backend((req, res) => {
      if (!healthy) return res.writeHead(503, { 'content-length': '0' }).end();
      page('max-age=1')(req, res);
    });
    const proxy = await proxyFor(b, {
      ...STATUS_COUNTING,
      BREAKER_CONSECUTIVE_FAILURES: '2',
      BREAKER_OPEN_MS: '10000',
    });
    expect(answered(await send(`${proxy.url}/doc`)).status).toBe(200);
    healthy = false;
    for (let i = 0; i < 2; i++) await send(`${proxy.url}/other${i}`);
    // Until max-age=1 has run out: the fresh entry answers HIT before that, the stale one STALE after.
    await expect
      .poll(async () => answered(await send(`${proxy.url}/doc`)).headers['x-cache'], { timeout: 10_000 })
      .toBe('STALE');
    const o = answered(await send(`${proxy.url}/doc`));
    expect(o.status).toBe(200);
    expect(o.headers['x-cache']).toBe('STALE');
    expect(o.body).toBe('v1 /doc');
  });

  it('lets exactly one probe through when half-open; the others fail fast', async () => {
    let mode: 'fail' | 'hold' | 'pass' = 'fail';
    const held: (() => void)[] = [];
    const b = await backend((req, res) => {
      if (mode === 'fail') return res.writeHead(503, { 'content-length': '0' }).end();
      if (mode === 'pass') return page('no-store')(req, res);
      // The probe waits until the test has seen the others refused, however slow the machine.
      held.push(() => page('no-store')(req, res));
    });
    const proxy = await proxyFor(b, {
      ...STATUS_COUNTING,
      BREAKER_CONSECUTIVE_FAILURES: '2',
      BREAKER_OPEN_MS: '300',
    });
    for (let i = 0; i < 2; i++) await send(`${proxy.url}/trip${i}`);
    expect(await circuitOf(proxy, b.url)).toBe('open');
    // The open period has run out: the next request is the probe.
    await expect.poll(() => circuitReport(proxy, b.url)).toEqual({ state: 'open', retryInMs: 0 });
    mode = 'hold';
    const before = b.hits();
    let settled = 0;
    const burst = Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        send(`${proxy.url}/probe${i}`, { timeoutMs: 15_000 }).finally(() => {
          settled++;
        }),
      ),
    );
    await expect.poll(() => settled, { timeout: 10_000 }).toBe(9);
    expect(held).toHaveLength(1);
    mode = 'pass';
    for (const answer of held) answer();
    const answers = await burst;
    const statuses = answers.map((o) => answered(o).status).sort();
    expect(b.hits() - before).toBe(1);
    expect(statuses).toEqual([200, ...Array(9).fill(503)]);
    const refusedMs = answers.flatMap((o) => (o.kind === 'answer' && o.status === 503 ? [o.ms] : []));
    report('half-open refusals', { median_ms: median(refusedMs), max_ms: Math.max(...refusedMs) });
    // The probe succeeded: the circuit closed and traffic flows again.
    expect(await circuitOf(proxy, b.url)).toBe('closed');
    expect(answered(await send(`${proxy.url}/after`)).status).toBe(200);
  });

  it('opens on the error rate over the window, with consecutive failures turned off', async () => {
    let n = 0;
    // Two of every three requests fail, never more than two in a row.
    const b = await backend((req, res) => {
      n++;
      if (n % 3 !== 0) return res.writeHead(502, { 'content-length': '0' }).end();
      page('no-store')(req, res);
    });
    const proxy = await proxyFor(b, {
      ...STATUS_COUNTING,
      BREAKER_CONSECUTIVE_FAILURES: '0',
      BREAKER_ERROR_RATE: '0.5',
      BREAKER_MIN_REQUESTS: '10',
      BREAKER_WINDOW_MS: '10000',
      BREAKER_OPEN_MS: '10000',
    });
    let openedAfter = 0;
    for (let i = 1; i <= 30 && openedAfter === 0; i++) {
      const o = answered(await send(`${proxy.url}/r${i}`));
      if (String(o.headers['cache-status']).includes('TC_UPSTREAM_CIRCUIT_OPEN')) openedAfter = i;
    }
    expect(openedAfter).toBeGreaterThanOrEqual(10);
    expect(openedAfter).toBeLessThanOrEqual(12);
  });

  it('never opens below the error rate, and not on failures the client caused', async () => {
    let n = 0;
    const b = await backend((req, res) => {
      n++;
      if (n % 3 === 0) return res.writeHead(503, { 'content-length': '0' }).end();
      // A 500 is one URL's bug, not an outage: it does not count.
      if (req.url?.startsWith('/bug')) return res.writeHead(500, { 'content-length': '0' }).end();
      page('no-store')(req, res);
    });
    const proxy = await proxyFor(b, {
      ...STATUS_COUNTING,
      BREAKER_CONSECUTIVE_FAILURES: '2',
      BREAKER_ERROR_RATE: '0.5',
      BREAKER_MIN_REQUESTS: '5',
      BREAKER_OPEN_MS: '10000',
    });
    for (let i = 0; i < 30; i++) {
      const o = answered(await send(`${proxy.url}/${i % 2 === 0 ? 'bug' : 'ok'}${i}`));
      expect(o.headers['cache-status']).not.toContain('TC_UPSTREAM_CIRCUIT_OPEN');
    }
    expect(await circuitOf(proxy, b.url)).toBe('closed');
  });
});
