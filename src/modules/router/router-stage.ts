import type { RequestContext, Stage } from '../pipeline/context.js';
import type { RouteMatch, RouteTable } from './types.js';

/** Where the live table comes from; a reload swaps what current() returns. */
export interface RouteSource {
  current(): RouteTable;
}

/** The request's route, matched at most once per request by whichever stage asks first. */
export function matchRoute(ctx: RequestContext, source: RouteSource): RouteMatch {
  ctx.route ??= source.current().match(ctx.path);
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
