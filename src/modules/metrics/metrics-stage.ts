import { isTagcacheError } from '../../utils/errors.js';
import type { RequestContext, ResponseStage } from '../pipeline/context.js';
import { isAbort, upstreamFailureReason } from '../upstream/index.js';
import type { Metrics } from './registry.js';

/**
 * Sits just before the upstream stage, so it sees exactly the requests that
 * reach a backend: their time to headers (the upstream stage's own clock,
 * ctx.upstreamMs) and their failures by reason. Requests answered from cache
 * never get here; the proxy handler counts those.
 */
export function metricsStage(metrics: Metrics): ResponseStage {
  // Each route's child series, found once: labels() validates and wraps its arguments on every call.
  const durations = new Map<string, ReturnType<Metrics['upstreamDuration']['labels']>>();
  const durationOf = (route: string) => {
    let child = durations.get(route);
    if (child === undefined) {
      child = metrics.upstreamDuration.labels(route);
      durations.set(route, child);
    }
    return child;
  };
  const routeOf = (ctx: RequestContext) => ctx.route?.route.name ?? 'unknown';
  return {
    name: 'upstreamMetrics',
    after(ctx) {
      const route = routeOf(ctx);
      durationOf(route).observe((ctx.upstreamMs ?? 0) / 1000);
      const status = ctx.response?.status ?? 0;
      if (status >= 500) metrics.upstreamErrors.labels(route, '5xx').inc();
    },
    failed(ctx, err) {
      // A client that went away, or a request refused on this side (TC_BAD_REQUEST), is no backend failure.
      if (!isAbort(err) && !isTagcacheError(err, 'TC_BAD_REQUEST'))
        metrics.upstreamErrors.labels(routeOf(ctx), upstreamFailureReason(err)).inc();
    },
  };
}
