import type { CacheStatus } from '../pipeline/context.js';
import type { Metrics } from './registry.js';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Any other method is counted as OTHER, so clients cannot grow label sets. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}

interface Children {
  count: { inc(): void };
  duration: { observe(value: number): void };
}

/**
 * Counts and times one answered request. Label children are looked up once per
 * label combination and kept, so the hit path pays a Map lookup, not prom-client's
 * label hashing.
 */
export function createRequestRecorder(metrics: Metrics) {
  const children = new Map<string, Children>();
  return function record(
    route: string,
    method: string,
    status: number,
    cache: CacheStatus,
    seconds: number,
  ): void {
    const m = methodLabel(method);
    const key = `${route}\0${m}\0${status}\0${cache}`;
    let c = children.get(key);
    if (c === undefined) {
      c = {
        count: metrics.requests.labels(route, m, String(status), cache),
        duration: metrics.requestDuration.labels(route, cache),
      };
      children.set(key, c);
    }
    c.count.inc();
    c.duration.observe(seconds);
  };
}

export type RequestRecorder = ReturnType<typeof createRequestRecorder>;
