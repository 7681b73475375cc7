import { clientAddress, type TrustedProxies } from '../../utils/client-address.js';
import type { Next } from '../../utils/compose.js';
import { RetryLaterError } from '../../utils/retry-later.js';
import type { Metrics } from '../metrics/registry.js';
import { routeOf, type Stage } from '../pipeline/context.js';
import type { Route } from '../router/types.js';
import type { Limiter } from './limiter.js';

export interface RateLimitStageDeps {
  readonly limiter: Limiter;
  readonly trustedProxies: TrustedProxies;
  readonly metrics: Pick<Metrics, 'rateLimited'>;
  /**
   * Where this instance sits. 'before-cache' limits routes whose hits count
   * (every request); 'after-cache' sees only what the cache could not answer
   * and limits routes with exemptHits. Each acts on its own routes only, so
   * one request meets exactly one limit.
   */
  readonly placement: 'before-cache' | 'after-cache';
}

/** Answers 429 with Retry-After when the client's bucket for the route is empty. */
export function rateLimitStage(deps: RateLimitStageDeps): Stage {
  const { limiter, trustedProxies, metrics } = deps;
  const exempting = deps.placement === 'after-cache';
  // Not async: a route without a limit passes straight on, without a promise of its own.
  return function rateLimit(ctx, next) {
    // A background revalidation is the cache's own request, not a client's.
    if (ctx.background) return next();
    const { route } = routeOf(ctx);
    const rule = route.rateLimit;
    if (rule === undefined || rule.exemptHits !== exempting) return next();
    return limit(ctx, next, route, rule);
  };

  async function limit(
    ctx: Parameters<Stage>[0],
    next: Next,
    route: Route,
    rule: NonNullable<Route['rateLimit']>,
  ): Promise<void> {
    const client = clientAddress(ctx.clientIp, ctx.headers['x-forwarded-for'], trustedProxies);
    const found = limiter.take(route.name, client, rule);
    const verdict = found instanceof Promise ? await found : found;
    if (!verdict.allowed) {
      metrics.rateLimited.labels(route.name).inc();
      throw new RetryLaterError(
        'TC_RATE_LIMITED',
        `rate limit of route ${route.name} reached (${rule.requestsPerSecond}/s, burst ${rule.burst})`,
        429,
        verdict.retryAfterMs,
      );
    }
    return next();
  }
}
