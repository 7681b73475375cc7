import type { Metric, Registry } from 'prom-client';
import type { CacheStatus } from '../pipeline/context.js';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Any other method is counted as OTHER, so clients cannot grow label sets. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}

interface CountSeries {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

type MetricValue = { labels: Record<string, string | number>; value: number; metricName?: string };

/**
 * tagcache_requests_total and tagcache_request_duration_seconds, the two
 * metrics every request touches. They count in plain numbers on the request
 * path (prom-client's labelled counter and histogram hash their labels on
 * every call: a microsecond a request, a tenth of a hit's budget) and hand
 * prom-client the same shape its own metrics do when a scrape asks, so the
 * text format and cluster aggregation are prom-client's.
 */
export class RequestMetrics {
  readonly #counts = new Map<string, CountSeries>();
  readonly #durations = new Map<string, HistogramSeries>();
  readonly #buckets: readonly number[];

  constructor(registry: Registry, buckets: readonly number[]) {
    this.#buckets = buckets;
    registry.registerMetric(
      this.#asMetric(
        'tagcache_requests_total',
        'Client requests answered, by route, method, status and cache status.',
        'counter',
        () => [...this.#counts.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })),
      ),
    );
    registry.registerMetric(
      this.#asMetric(
        'tagcache_request_duration_seconds',
        'Time from request arrival to the last byte of the answer, by route and cache status.',
        'histogram',
        () => this.#histogramValues(),
      ),
    );
  }

  /** Counts and times one answered request. */
  record(route: string, method: string, status: number, cache: CacheStatus, seconds: number): void {
    const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
    const key = `${route}\0${m}\0${status}\0${cache}`;
    let c = this.#counts.get(key);
    if (c === undefined) {
      c = { labels: { route, method: m, status: String(status), cache }, value: 0 };
      this.#counts.set(key, c);
    }
    c.value++;
    const hkey = `${route}\0${cache}`;
    let h = this.#durations.get(hkey);
    if (h === undefined) {
      h = { labels: { route, cache }, counts: new Float64Array(this.#buckets.length), sum: 0, count: 0 };
      this.#durations.set(hkey, h);
    }
    const b = this.#buckets;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= (b[i] as number)) {
        (h.counts as Float64Array)[i] = (h.counts[i] as number) + 1;
        break;
      }
    }
    h.sum += seconds;
    h.count++;
  }

  #histogramValues(): MetricValue[] {
    const out: MetricValue[] = [];
    const name = 'tagcache_request_duration_seconds';
    for (const h of this.#durations.values()) {
      let cumulative = 0;
      this.#buckets.forEach((le, i) => {
        cumulative += h.counts[i] ?? 0;
        out.push({ labels: { ...h.labels, le }, value: cumulative, metricName: `${name}_bucket` });
      });
      out.push({ labels: { ...h.labels, le: '+Inf' }, value: h.count, metricName: `${name}_bucket` });
      out.push({ labels: { ...h.labels }, value: h.sum, metricName: `${name}_sum` });
      out.push({ labels: { ...h.labels }, value: h.count, metricName: `${name}_count` });
    }
    return out;
  }

  /** The duck type prom-client's Registry and AggregatorRegistry read: name, help, type, get(). */
  #asMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue[]): Metric {
    const metric = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
      reset: () => {
        if (type === 'counter') this.#counts.clear();
        else this.#durations.clear();
      },
    };
    return metric as unknown as Metric;
  }
}
