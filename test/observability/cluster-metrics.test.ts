import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AggregatorRegistry, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/modules/metrics/index.js';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type ProxyProcess, ROOT, spawnProxy } from '../support/proxy.js';
import { parseExposition, scrape } from './exposition.js';
import { freePort, promtoolCheckMetrics, requireTool } from './tools.js';

interface Line {
  readonly msg?: string;
  readonly pid?: number;
  readonly cache?: string;
  readonly route?: string;
}

/** The JSON lines a child wrote to stdout so far (pino batches them; a quiet process flushes each second). */
function lines(proc: ProxyProcess): Line[] {
  return proc.stdout
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

describe('/metrics with WORKERS=2', () => {
  let origin: Origin;
  let proc: ProxyProcess;
  beforeAll(async () => {
    requireTool('promtool');
    const main = join(ROOT, 'dist/src/main.js');
    if (!existsSync(main))
      throw new Error(`${main} is missing: run \`npm run build\` (\`npm test\` builds first)`);
    origin = await startOrigin();
    const port = await freePort();
    let adminPort = await freePort();
    while (adminPort === port) adminPort = await freePort();
    proc = await spawnProxy(
      { UPSTREAM_URL: origin.url, WORKERS: '2', LOG_LEVEL: 'info' },
      { port, adminPort },
    );
  });
  afterAll(async () => {
    if (proc !== undefined && proc.child.exitCode === null) {
      proc.child.kill('SIGTERM');
      const killer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
      await proc.exited;
      clearTimeout(killer);
    }
    await origin?.close();
  });

  it('reports the sum over both workers, not one worker, and passes promtool', async () => {
    // Both workers must be listening, or the primary hands every connection to the one that is.
    await expect
      .poll(
        () =>
          new Set(
            lines(proc)
              .filter((l) => l.msg === 'tagcache listening')
              .map((l) => l.pid),
          ).size,
        {
          timeout: 20_000,
        },
      )
      .toBe(2);

    const N = 24;
    for (let i = 0; i < 4; i++) origin.on(`/products/${i}`, respond(200, { 'cache-control': 'max-age=60' }));
    // A new connection each: the primary deals connections to workers round-robin.
    for (let i = 0; i < N; i++) expect((await fetchRaw(`${proc.url}/products/${i % 4}`)).status).toBe(200);

    // One access line per request, from both workers.
    await expect
      .poll(() => lines(proc).filter((l) => l.msg === 'request').length, { timeout: 10_000 })
      .toBe(N);
    const access = lines(proc).filter((l) => l.msg === 'request');
    const byWorker = new Map<number | undefined, number>();
    for (const l of access) byWorker.set(l.pid, (byWorker.get(l.pid) ?? 0) + 1);
    expect(byWorker.size).toBe(2);
    expect(Math.min(...byWorker.values())).toBeGreaterThan(0);

    const res = await fetchRaw(`${proc.adminUrl}/metrics`);
    expect(res.status).toBe(200);
    const m = parseExposition(res.text());
    expect(m.value('tagcache_requests_total')).toBe(N);
    expect(m.value('tagcache_request_duration_seconds_count')).toBe(N);
    // Each worker has its own memory store, so each missed once per path it saw: the counters agree with the logs.
    for (const cache of ['MISS', 'HIT']) {
      expect(m.value('tagcache_requests_total', { route: 'product', cache }), cache).toBe(
        access.filter((l) => l.cache === cache).length,
      );
    }
    expect(m.value('tagcache_upstream_duration_seconds_count')).toBe(origin.seen.length);
    expect(m.value('tagcache_requests_in_flight')).toBe(0);

    const lint = promtoolCheckMetrics(res.text());
    expect({ stdout: lint.stdout, stderr: lint.stderr }).toEqual({ stdout: '', stderr: '' });
    expect(lint.code).toBe(0);
  });

  // Each worker reads its memory store at collection time (watchMemoryStore), so the primary's sum is real.
  it('sums the memory store gauges of both workers', async () => {
    const m = await scrape(proc.adminUrl);
    expect(m.value('tagcache_memory_store_entries')).toBeGreaterThan(0);
    expect(m.value('tagcache_memory_store_bytes')).toBeGreaterThan(0);
  });
});

describe('the memory store gauges', () => {
  it('are read when the registry is collected, so the cluster aggregation sums every worker', async () => {
    // Two registries stand for two workers; the primary merges what each one's collection returns.
    const workers = [
      { bytes: 1000, entries: 3 },
      { bytes: 500, entries: 2 },
    ].map((stats) => {
      const metrics = createMetrics(new Registry(), { defaults: false });
      metrics.watchMemoryStore(() => stats);
      return metrics;
    });
    const merged = AggregatorRegistry.aggregate(
      await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())),
    );
    const m = parseExposition(await merged.metrics());
    expect(m.value('tagcache_memory_store_bytes')).toBe(1500);
    expect(m.value('tagcache_memory_store_entries')).toBe(5);
  });
});
