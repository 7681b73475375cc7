import { normaliseTarget } from '../../utils/normalise-target.js';
import type { RequestContext, Stage } from '../pipeline/context.js';
import type { RouteMatch, RouteTable } from './types.js';

/** Where the live table comes from; a reload swaps what current() returns. */
export interface RouteSource {
  current(): RouteTable;
}

/**
 * The request's route, matched at most once per request by whichever stage
 * asks first. Matched on the normalised path the cache key uses: a client
 * must not pick another route's rules (key, TTL, cache: false) for a key by
 * writing `/x/../products` or `/%70roducts`.
 */
export function matchRoute(ctx: RequestContext, source: RouteSource): RouteMatch {
  ctx.route ??= source.current().match(normaliseTarget(ctx.target).path);
  return ctx.route;
}

/**
 * Hands the route's backends to the upstream stage, which chooses among them
 * (balancing, circuit breakers, retries); a route that names none leaves the
 * choice to UPSTREAM_URL's.
 */
export function routerStage(source: RouteSource): Stage {
  return function router(ctx, next) {
    const { route } = matchRoute(ctx, source);
    if (ctx.origins === undefined && route.upstreams !== undefined) ctx.origins = route.upstreams;
    return next();
  };
}
