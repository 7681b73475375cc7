import type { CacheStatus } from '../pipeline/context.js';
import type { Metrics } from './registry.js';

/** Counts and times one answered request (RequestMetrics, or prom-client's own with FAST_PATHS=off). */
export function createRequestRecorder(metrics: Metrics) {
  const requests = metrics.requests;
  return function record(
    route: string,
    method: string,
    status: number,
    cache: CacheStatus,
    seconds: number,
  ): void {
    requests.record(route, method, status, cache, seconds);
  };
}

export type RequestRecorder = ReturnType<typeof createRequestRecorder>;
