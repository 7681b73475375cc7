import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestMetrics } from '../../src/modules/metrics/request-metrics.js';

/** What a scrape would say: the registry's own text format, parsed back to `series → value`. */
async function scrape(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('RequestMetrics', () => {
  it('counts each label set on its own, however requests alternate between them', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry, [0.001, 0.01, 0.1]);
    const calls: [string, string, number, 'HIT' | 'MISS', number][] = [
      ['pages', 'GET', 200, 'HIT', 0.0005],
      ['pages', 'GET', 200, 'HIT', 0.0005],
      ['pages', 'GET', 200, 'MISS', 0.05],
      ['pages', 'GET', 200, 'HIT', 0.005],
      ['api', 'GET', 200, 'HIT', 0.0005],
      ['pages', 'BREW', 200, 'HIT', 0.0005],
      ['pages', 'GET', 404, 'MISS', 0.5],
      ['pages', 'GET', 200, 'HIT', 0.0005],
    ];
    for (const call of calls) metrics.record(...call);
    const s = await scrape(registry);
    const count = (labels: string) => s.get(`tagcache_requests_total{${labels}}`);
    expect(count('route="pages",method="GET",status="200",cache="HIT"')).toBe(4);
    expect(count('route="pages",method="GET",status="200",cache="MISS"')).toBe(1);
    expect(count('route="api",method="GET",status="200",cache="HIT"')).toBe(1);
    expect(count('route="pages",method="OTHER",status="200",cache="HIT"')).toBe(1);
    expect(count('route="pages",method="GET",status="404",cache="MISS"')).toBe(1);
    expect(s.get('tagcache_request_duration_seconds_count{route="pages",cache="HIT"}')).toBe(5);
    expect(s.get('tagcache_request_duration_seconds_bucket{le="0.001",route="pages",cache="HIT"}')).toBe(4);
    expect(s.get('tagcache_request_duration_seconds_bucket{le="+Inf",route="pages",cache="MISS"}')).toBe(2);
  });

  it('starts from zero after a reset, also for the label set it saw last', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry, [0.001]);
    metrics.record('pages', 'GET', 200, 'HIT', 0.0005);
    registry.resetMetrics();
    metrics.record('pages', 'GET', 200, 'HIT', 0.0005);
    const s = await scrape(registry);
    expect(s.get('tagcache_requests_total{route="pages",method="GET",status="200",cache="HIT"}')).toBe(1);
    expect(s.get('tagcache_request_duration_seconds_count{route="pages",cache="HIT"}')).toBe(1);
  });
});
