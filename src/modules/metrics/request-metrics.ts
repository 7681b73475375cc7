import { Counter, Histogram, type Registry } from 'prom-client';
import type { CacheStatus } from '../pipeline/context.js';
import { type HistogramSeries, histogramValues, observeInto, plainMetric } from './plain-histogram.js';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Any other method is counted as OTHER, so clients cannot grow label sets. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}

interface CountSeries {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

const REQUESTS = {
  name: 'tagcache_requests_total',
  help: 'Client requests answered, by route, method, status and cache status.',
};
const DURATION = {
  name: 'tagcache_request_duration_seconds',
  help: 'Time from request arrival to the last byte of the answer, by route and cache status.',
};

/** Counts and times one answered request. */
export interface RequestCounting {
  record(route: string, method: string, status: number, cache: CacheStatus, seconds: number): void;
}

/** The same two metrics as prom-client's own Counter and Histogram: the library path (FAST_PATHS=off). */
export class LibraryRequestMetrics implements RequestCounting {
  readonly #count: Counter<'route' | 'method' | 'status' | 'cache'>;
  readonly #duration: Histogram<'route' | 'cache'>;

  constructor(registry: Registry, buckets: readonly number[]) {
    const registers = [registry];
    this.#count = new Counter({ ...REQUESTS, labelNames: ['route', 'method', 'status', 'cache'], registers });
    this.#duration = new Histogram({
      ...DURATION,
      labelNames: ['route', 'cache'],
      buckets: [...buckets],
      registers,
    });
  }

  record(route: string, method: string, status: number, cache: CacheStatus, seconds: number): void {
    this.#count.labels(route, methodLabel(method), String(status), cache).inc();
    this.#duration.labels(route, cache).observe(seconds);
  }
}

/**
 * The `metrics` fast path (FAST_PATHS): tagcache_requests_total and
 * tagcache_request_duration_seconds, the two metrics every request touches,
 * as LibraryRequestMetrics keeps them. They count in plain numbers on the request
 * path (prom-client's labelled counter and histogram hash their labels on
 * every call: a microsecond a request, a tenth of a hit's budget) and hand
 * prom-client the same shape its own metrics do when a scrape asks, so the
 * text format and cluster aggregation are prom-client's.
 */
export class RequestMetrics implements RequestCounting {
  readonly #counts = new Map<string, CountSeries>();
  readonly #durations = new Map<string, HistogramSeries>();
  readonly #buckets: readonly number[];
  /** The series of the last request recorded (see record()). */
  #last:
    | {
        readonly route: string;
        readonly method: string;
        readonly status: number;
        readonly cache: CacheStatus;
        readonly count: CountSeries;
        readonly duration: HistogramSeries;
      }
    | undefined;

  constructor(registry: Registry, buckets: readonly number[]) {
    this.#buckets = buckets;
    registry.registerMetric(
      plainMetric(
        REQUESTS.name,
        REQUESTS.help,
        'counter',
        () => [...this.#counts.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })),
        () => {
          this.#last = undefined; // it points into the maps cleared here
          this.#counts.clear();
        },
      ),
    );
    registry.registerMetric(
      plainMetric(
        DURATION.name,
        DURATION.help,
        'histogram',
        () => histogramValues(DURATION.name, this.#buckets, this.#durations.values()),
        () => {
          this.#last = undefined;
          this.#durations.clear();
        },
      ),
    );
  }

  /** Counts and times one answered request. */
  record(route: string, method: string, status: number, cache: CacheStatus, seconds: number): void {
    let last = this.#last;
    // Most requests repeat the previous one's labels (same route, GET, 200, HIT): comparing four
    // values is cheaper than building two keys and hashing them.
    if (
      last === undefined ||
      last.route !== route ||
      last.method !== method ||
      last.status !== status ||
      last.cache !== cache
    ) {
      last = { route, method, status, cache, ...this.#series(route, method, status, cache) };
      this.#last = last;
    }
    last.count.value++;
    observeInto(last.duration, this.#buckets, seconds);
  }

  #series(route: string, method: string, status: number, cache: CacheStatus) {
    const m = methodLabel(method);
    const key = `${route}\0${m}\0${status}\0${cache}`;
    let count = this.#counts.get(key);
    if (count === undefined) {
      count = { labels: { route, method: m, status: String(status), cache }, value: 0 };
      this.#counts.set(key, count);
    }
    const hkey = `${route}\0${cache}`;
    let duration = this.#durations.get(hkey);
    if (duration === undefined) {
      duration = {
        labels: { route, cache },
        counts: new Float64Array(this.#buckets.length),
        sum: 0,
        count: 0,
      };
      this.#durations.set(hkey, duration);
    }
    return { count, duration };
  }
}
