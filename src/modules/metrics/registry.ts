import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds from 100 µs (a memory hit) to 30 s (a slow backend). */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const TTL_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400, 30 * 86_400];
const SIZE_BUCKETS = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216];

/**
 * Every metric tagcache exports. Labels are bounded: route names come from
 * routes.json, never raw paths or tags.
 */
export function createMetrics(registry: Registry = new Registry(), { defaults = true } = {}) {
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'tagcache_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'tagcache_requests_total',
      help: 'Client requests answered, by route, method, status and cache status.',
      labelNames: ['route', 'method', 'status', 'cache'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'tagcache_request_duration_seconds',
      help: 'Time from request arrival to the last byte of the answer, by route and cache status.',
      labelNames: ['route', 'cache'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    inFlight: new Gauge({
      name: 'tagcache_requests_in_flight',
      help: 'Client requests being answered now.',
      registers,
    }),
    upstreamDuration: new Histogram({
      name: 'tagcache_upstream_duration_seconds',
      help: 'Time until the backend sent response headers, by route.',
      labelNames: ['route'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'tagcache_upstream_errors_total',
      help: 'Backend failures by route and reason (connect, timeout, reset, 5xx, circuit_open).',
      labelNames: ['route', 'reason'] as const,
      registers,
    }),
    staleServed: new Counter({
      name: 'tagcache_stale_served_total',
      help: 'Stale responses served, by route and reason (swr, error, outage).',
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
      help: 'Body size of entries when stored, by route.',
      labelNames: ['route'] as const,
      buckets: SIZE_BUCKETS,
      registers,
    }),
    storeDuration: new Histogram({
      name: 'tagcache_store_operation_duration_seconds',
      help: 'Store operation latency by operation (get, put, invalidate, ping).',
      labelNames: ['operation'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
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
    }),
    memoryStoreEntries: new Gauge({
      name: 'tagcache_memory_store_entries',
      help: 'Entries held by the embedded memory store.',
      registers,
    }),
    routeReloads: new Counter({
      name: 'tagcache_route_reloads_total',
      help: 'Reloads of the route table by result (success, failure).',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
