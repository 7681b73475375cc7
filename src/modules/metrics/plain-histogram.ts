import type { Metric, Registry } from 'prom-client';

/** What the request path asks of a labelled histogram: prom-client's Histogram, or PlainHistogram. */
export interface LabelledHistogram {
  labels(...values: string[]): { observe(value: number): void };
}

interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

type MetricValue = { labels: Record<string, string | number>; value: number; metricName: string };

/**
 * The `metrics` fast path (FAST_PATHS) for a histogram every backend request
 * observes: prom-client's labelled child re-validates and hashes its labels
 * on each observe (about 1.5 % of a pass-through's CPU); here a child is a
 * series of plain numbers. A scrape gets the values in the shape prom-client's
 * own Histogram gives, so the text format and cluster aggregation stay
 * prom-client's (test/observability/fast-paths-logs-metrics.test.ts).
 */
export class PlainHistogram implements LabelledHistogram {
  readonly #series = new Map<string, Series>();
  readonly #name: string;
  readonly #labelNames: readonly string[];
  readonly #buckets: readonly number[];

  constructor(
    registry: Registry,
    opts: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[] },
  ) {
    this.#name = opts.name;
    this.#labelNames = opts.labelNames;
    this.#buckets = opts.buckets;
    const { name, help } = opts;
    const type = 'histogram';
    registry.registerMetric({
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: this.#values() }),
      reset: () => this.#series.clear(),
    } as unknown as Metric);
  }

  /** The child for these label values (in labelNames' order); callers keep it rather than ask per observation. */
  labels(...values: string[]): { observe(value: number): void } {
    if (values.length !== this.#labelNames.length) {
      throw new Error(
        `${this.#name}: ${this.#labelNames.length} label values expected, got ${values.length}`,
      );
    }
    const key = values.join('\0');
    let series = this.#series.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((n, i) => {
        labels[n] = values[i] as string;
      });
      series = { labels, counts: new Float64Array(this.#buckets.length), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const s = series;
    const b = this.#buckets;
    return {
      observe(value: number): void {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
        for (let i = 0; i < b.length; i++) {
          if (value <= (b[i] as number)) {
            (s.counts as Float64Array)[i] = (s.counts[i] as number) + 1;
            break;
          }
        }
        s.sum += value;
        s.count++;
      },
    };
  }

  #values(): MetricValue[] {
    const out: MetricValue[] = [];
    const name = this.#name;
    for (const s of this.#series.values()) {
      let cumulative = 0;
      this.#buckets.forEach((le, i) => {
        cumulative += s.counts[i] ?? 0;
        out.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${name}_bucket` });
      });
      out.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${name}_bucket` });
      out.push({ labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` });
      out.push({ labels: { ...s.labels }, value: s.count, metricName: `${name}_count` });
    }
    return out;
  }
}
