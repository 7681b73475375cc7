import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type LabelledHistogram, PlainHistogram } from './plain-histogram.js';
import { LibraryRequestMetrics, RequestMetrics } from './request-metrics.js';

/** Seconds from 100 µs (a memory hit) to 30 s (a slow backend). */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const TTL_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400, 30 * 86_400];
const SIZE_BUCKETS = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216];

const UPSTREAM_DURATION = {
  name: 'tagcache_upstream_duration_seconds',
  help: 'Time until the backend sent response headers, by route.',
  labelNames: ['route'],
};

const STORE_DURATION = {
  name: 'tagcache_store_operation_duration_seconds',
  help: 'Store operation latency by operation (get, put, invalidate), timed by the cache.',
  labelNames: ['operation'],
};

/** Default metrics prom-client names *_total although they are gauges; dropped (see createMetrics). */
const DEFAULT_GAUGES_NAMED_TOTAL = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** What the memory store gauges show; see watchMemoryStore. */
export interface MemoryStoreStats {
  readonly bytes: number;
  readonly entries: number;
}

/**
 * Every metric tagcache exports. Labels are bounded: route names come from
 * routes.json, never raw paths or tags.
 */
export function createMetrics(
  registry: Registry = new Registry(),
  {
    defaults = true,
    /** The `metrics` fast path (FAST_PATHS): the per-request metrics counted in plain numbers. */
    fast = true,
  } = {},
) {
  let memoryStore: (() => MemoryStoreStats | undefined) | undefined;
  if (defaults) {
    collectDefaultMetrics({ register: registry, prefix: 'tagcache_' });
    // prom-client names these gauges *_total, which promtool rejects ("non-counter metrics should not
    // have _total suffix"); the per-type gauges beside them (nodejs_active_handles{type}, …) sum to them.
    for (const name of DEFAULT_GAUGES_NAMED_TOTAL) registry.removeSingleMetric(`tagcache_${name}`);
  }
  const registers = [registry];
  return {
    registry,
    /** tagcache_requests_total and tagcache_request_duration_seconds. */
    requests: fast
      ? new RequestMetrics(registry, LATENCY_BUCKETS)
      : new LibraryRequestMetrics(registry, LATENCY_BUCKETS),
    inFlight: fast ? inFlightGauge(registers) : new Gauge({ ...IN_FLIGHT, registers }),
    /** Observed once per backend request: counted in plain numbers on the metrics fast path. */
    upstreamDuration: fast
      ? (new PlainHistogram(registry, {
          ...UPSTREAM_DURATION,
          buckets: LATENCY_BUCKETS,
        }) as LabelledHistogram)
      : new Histogram({ ...UPSTREAM_DURATION, buckets: LATENCY_BUCKETS, registers }),
    upstreamErrors: new Counter({
      name: 'tagcache_upstream_errors_total',
      help: 'Backend failures by route and reason (connect, timeout, reset, 5xx, circuit_open).',
      labelNames: ['route', 'reason'] as const,
      registers,
    }),
    staleServed: new Counter({
      name: 'tagcache_stale_served_total',
      help: 'Stale responses served, by route and reason (swr, error, outage, max-stale).',
      labelNames: ['route', 'reason'] as const,
      registers,
    }),
    revalidations: new Counter({
      name: 'tagcache_revalidations_total',
      help: 'Revalidations of stored entries by route and result (not_modified, replaced, error).',
      labelNames: ['route', 'result'] as const,
      registers,
    }),
    collapsed: new Counter({
      name: 'tagcache_collapsed_requests_total',
      help: 'Requests that waited for another request to the same key instead of going upstream.',
      labelNames: ['route'] as const,
      registers,
    }),
    storedTtl: new Histogram({
      name: 'tagcache_stored_ttl_seconds',
      help: 'Freshness lifetime of entries when stored, by route.',
      labelNames: ['route'] as const,
      buckets: TTL_BUCKETS,
      registers,
    }),
    storedBytes: new Histogram({
      name: 'tagcache_stored_bytes',
      help: 'Bytes of entries when stored (the body and each encoded form), by route.',
      labelNames: ['route'] as const,
      buckets: SIZE_BUCKETS,
      registers,
    }),
    compressedResponses: new Counter({
      name: 'tagcache_compressed_responses_total',
      help: 'Answers from the cache sent in an encoded form tagcache holds, by encoding (br, gzip).',
      labelNames: ['encoding'] as const,
      registers,
    }),
    compressedForms: new Counter({
      name: 'tagcache_compressed_forms_total',
      help: 'Encoded forms made of stored bodies, by encoding (br, gzip): each at most once per entry, when first asked for.',
      labelNames: ['encoding'] as const,
      registers,
    }),
    compressionSavedBytes: new Counter({
      name: 'tagcache_compression_saved_bytes_total',
      help: 'Body bytes not sent thanks to an encoded form, against the identity body, by encoding (br, gzip).',
      labelNames: ['encoding'] as const,
      registers,
    }),
    /** Observed on every store hit that takes a promise (Redis): plain numbers on the metrics fast path. */
    storeDuration: fast
      ? (new PlainHistogram(registry, { ...STORE_DURATION, buckets: LATENCY_BUCKETS }) as LabelledHistogram)
      : new Histogram({ ...STORE_DURATION, buckets: LATENCY_BUCKETS, registers }),
    storeErrors: new Counter({
      name: 'tagcache_store_errors_total',
      help: 'Store operations that failed or timed out, by operation; the proxy failed open.',
      labelNames: ['operation'] as const,
      registers,
    }),
    invalidations: new Counter({
      name: 'tagcache_invalidations_total',
      help: 'Invalidation requests by kind (tags, urls, all, method) and mode (hard, soft).',
      labelNames: ['kind', 'mode'] as const,
      registers,
    }),
    invalidatedEntries: new Counter({
      name: 'tagcache_invalidated_entries_total',
      help: 'Entries deleted or marked stale by invalidations, by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
    invalidationDuration: new Histogram({
      name: 'tagcache_invalidation_duration_seconds',
      help: 'Time to carry out an invalidation, by kind.',
      labelNames: ['kind'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    memoryStoreBytes: new Gauge({
      name: 'tagcache_memory_store_bytes',
      help: 'Bytes held by the embedded memory store.',
      registers,
      collect() {
        const stats = memoryStore?.();
        if (stats !== undefined) this.set(stats.bytes);
      },
    }),
    memoryStoreEntries: new Gauge({
      name: 'tagcache_memory_store_entries',
      help: 'Entries held by the embedded memory store.',
      registers,
      collect() {
        const stats = memoryStore?.();
        if (stats !== undefined) this.set(stats.entries);
      },
    }),
    /**
     * Reads the memory store's size whenever the registry is collected — by
     * /metrics in this process or, in a cluster worker, by the primary's
     * aggregation request, which no admin handler of the worker sees.
     */
    watchMemoryStore(stats: () => MemoryStoreStats | undefined): void {
      memoryStore = stats;
    },
    routeReloads: new Counter({
      name: 'tagcache_route_reloads_total',
      help: 'Reloads of the route table by result (success, failure).',
      labelNames: ['result'] as const,
      registers,
    }),
    // Resilience. `origin` values come from UPSTREAM_URL and routes.json, never from requests.
    upstreamCircuitState: new Gauge({
      name: 'tagcache_upstream_circuit_state',
      help: 'Circuit breaker state per backend origin: 0 closed, 1 open, 2 half-open (the highest among workers).',
      labelNames: ['origin'] as const,
      // Summing states across workers would invent states; any worker not closed shows.
      aggregator: 'max',
      registers,
    }),
    upstreamCircuitTransitions: new Counter({
      name: 'tagcache_upstream_circuit_transitions_total',
      help: 'Circuit breaker state changes per backend origin, by the state entered (closed, open, half-open).',
      labelNames: ['origin', 'to'] as const,
      registers,
    }),
    upstreamEjections: new Counter({
      name: 'tagcache_upstream_ejections_total',
      help: 'Times a backend origin was passed over for a while after a failure (passive health).',
      labelNames: ['origin'] as const,
      registers,
    }),
    upstreamRetries: new Counter({
      name: 'tagcache_upstream_retries_total',
      help: 'Idempotent requests sent to another backend after the first could not be reached, by route.',
      labelNames: ['route'] as const,
      registers,
    }),
    storeCircuitState: new Gauge({
      name: 'tagcache_store_circuit_state',
      help: 'Circuit breaker state of the store: 0 closed, 1 open, 2 half-open (the highest among workers).',
      aggregator: 'max',
      registers,
    }),
    storeCircuitTransitions: new Counter({
      name: 'tagcache_store_circuit_transitions_total',
      help: 'Store circuit breaker state changes, by the state entered (closed, open, half-open).',
      labelNames: ['to'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'tagcache_rate_limited_total',
      help: 'Requests answered 429 by the rate limit of their route.',
      labelNames: ['route'] as const,
      registers,
    }),
    traceSpansDropped: new Counter({
      name: 'tagcache_trace_spans_dropped_total',
      help: 'Sampled spans never exported, by reason (queue_full: the export queue was full; export_failed: the collector refused or could not be reached).',
      labelNames: ['reason'] as const,
      registers,
    }),
    rejectedRequests: new Counter({
      name: 'tagcache_rejected_requests_total',
      help: 'Client requests refused before the pipeline, by reason (url_too_long, body_too_large, headers_too_large, bad_host, misdirected, bad_framing, bad_target, bad_version, body_on_get).',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The `metrics` fast path: tagcache_requests_in_flight as a plain number, read when scraped: every
 * request moves it twice, and prom-client's inc() validates and hashes labels.
 */
const IN_FLIGHT = { name: 'tagcache_requests_in_flight', help: 'Client requests being answered now.' };

function inFlightGauge(registers: Registry[]): { inc(): void; dec(): void } {
  let now = 0;
  new Gauge({
    ...IN_FLIGHT,
    registers,
    collect() {
      this.set(now);
    },
  });
  return {
    inc: () => {
      now++;
    },
    dec: () => {
      now--;
    },
  };
}
