import type { Metric, Registry } from 'prom-client';

/** What the request path asks of a labelled histogram: prom-client's Histogram, or PlainHistogram. */
export interface LabelledHistogram {
  labels(...values: string[]): { observe(value: number): void };
}

/** One label set's histogram in plain numbers: a count per bucket (not cumulative), sum and count. */
export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export type MetricValue = { labels: Record<string, string | number>; value: number; metricName?: string };

/** Counts one observation into its series. */
export function observeInto(s: HistogramSeries, buckets: readonly number[], value: number): void {
  for (let i = 0; i < buckets.length; i++) {
    if (value <= (buckets[i] as number)) {
      (s.counts as Float64Array)[i] = (s.counts[i] as number) + 1;
      break;
    }
  }
  s.sum += value;
  s.count++;
}

/** The values prom-client's own Histogram hands a scrape: cumulative buckets, +Inf, sum and count. */
export function histogramValues(
  name: string,
  buckets: readonly number[],
  series: Iterable<HistogramSeries>,
): MetricValue[] {
  const out: MetricValue[] = [];
  for (const s of series) {
    let cumulative = 0;
    buckets.forEach((le, i) => {
      cumulative += s.counts[i] ?? 0;
      out.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${name}_bucket` });
    });
    out.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${name}_bucket` });
    out.push({ labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` });
    out.push({ labels: { ...s.labels }, value: s.count, metricName: `${name}_count` });
  }
  return out;
}

/** The duck type prom-client's Registry and AggregatorRegistry read: name, help, type, get(), reset(). */
export function plainMetric(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  values: () => MetricValue[],
  reset: () => void,
): Metric {
  const get = async () => ({ name, help, type, aggregator: 'sum', values: values() });
  return { name, help, type, aggregator: 'sum', get, reset } as unknown as Metric;
}

/**
 * The `metrics` fast path (FAST_PATHS) for a histogram every backend request
 * observes: prom-client's labelled child re-validates and hashes its labels
 * on each observe (about 1.5 % of a pass-through's CPU); here a child is a
 * series of plain numbers. A scrape gets the values in the shape prom-client's
 * own Histogram gives, so the text format and cluster aggregation stay
 * prom-client's (test/observability/fast-paths-logs-metrics.test.ts).
 */
export class PlainHistogram implements LabelledHistogram {
  readonly #series = new Map<string, HistogramSeries>();
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
    registry.registerMetric(
      plainMetric(
        opts.name,
        opts.help,
        'histogram',
        () => histogramValues(this.#name, this.#buckets, this.#series.values()),
        () => this.#series.clear(),
      ),
    );
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
        observeInto(s, b, value);
      },
    };
  }
}
