import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allPanels, loadDashboard, panelExpressions, substitute, variableSelectors } from './dashboard.js';
import { type PrometheusServer, requireTool, startPrometheus } from './tools.js';
import { hitsAndMisses, type Rig, startRig } from './workload.js';

/** The instant value of a query that yields one series, or undefined while it yields none. */
async function scalar(prom: PrometheusServer, expr: string): Promise<number | undefined> {
  const result = await prom.query(expr);
  if (result.length > 1) throw new Error(`${expr} gave ${result.length} series, expected one`);
  return result[0]?.value;
}

const PRODUCT_HITS = 'sum(tagcache_requests_total{route="product",cache="HIT"})';
const PRODUCT_MISSES = 'sum(tagcache_requests_total{route="product",cache="MISS"})';

describe('a real Prometheus scraping the admin listener', () => {
  let rig: Rig;
  let prom: PrometheusServer;
  beforeAll(async () => {
    // Fail at once, saying how to install it, rather than pass without a server.
    requireTool('prometheus');
    rig = await startRig();
    prom = await startPrometheus(new URL(rig.proxy.adminUrl).host);
  });
  afterAll(async () => {
    await prom?.stop();
    await rig?.close();
  });

  it('ingests the request counters and reads back the hit ratio that was driven', async () => {
    await expect.poll(() => scalar(prom, 'up{job="tagcache"}'), { timeout: 15_000 }).toBe(1);

    // Warm-up: one miss and one hit, so both series exist (and have a first sample) before the measured traffic.
    await hitsAndMisses(rig, 1, 1);
    await expect.poll(() => scalar(prom, PRODUCT_HITS), { timeout: 15_000 }).toBe(1);

    // The measured traffic: 4 misses with 3 hits each, 12 hits of 16 requests.
    await hitsAndMisses(rig, 4, 3);
    await expect.poll(() => scalar(prom, PRODUCT_HITS), { timeout: 15_000 }).toBe(13);
    expect(await scalar(prom, PRODUCT_MISSES)).toBe(5);
    expect(await scalar(prom, 'sum(tagcache_request_duration_seconds_count{route="product"})')).toBe(18);
    const p99 = await scalar(
      prom,
      'histogram_quantile(0.99, sum by (le) (tagcache_request_duration_seconds_bucket{route="product"}))',
    );
    expect(p99).toBeGreaterThan(0);

    // The dashboard's own hit-ratio query over the window: rate() sees only what came after the first
    // sample (the measured 12 of 16), and extrapolates each series to the window edge a little
    // differently, hence close to 0.75 rather than exactly.
    const hitRatio = allPanels(loadDashboard()).find((p) => p.title === 'Hit ratio')?.targets?.[0]?.expr;
    if (hitRatio === undefined) throw new Error('the dashboard has no Hit ratio panel');
    const ratio = await scalar(prom, substitute(hitRatio));
    expect(ratio).toBeGreaterThan(0.7);
    expect(ratio).toBeLessThan(0.8);

    // Prometheus kept the type: the dashboard's rate() reads a counter.
    const res = await fetch(`${prom.url}/api/v1/metadata?metric=tagcache_requests_total`);
    const meta = (await res.json()) as { data: Record<string, { type: string }[]> };
    expect(meta.data.tagcache_requests_total?.[0]?.type).toBe('counter');
  });

  it('evaluates every dashboard query without an error', async () => {
    const dashboard = loadDashboard();
    const exprs = [...panelExpressions(dashboard).map((p) => p.expr), ...variableSelectors(dashboard)];
    const failures: string[] = [];
    for (const expr of exprs) {
      await prom.query(substitute(expr)).catch((err: unknown) => failures.push(String(err)));
    }
    expect(failures).toEqual([]);
    // The route variable offers the route names the proxy reported.
    const routes = await prom.query('count by (route) (tagcache_requests_total)');
    expect(routes.map((r) => r.metric.route)).toEqual(['product']);
  });
});
