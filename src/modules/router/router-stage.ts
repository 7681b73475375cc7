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

/** Chooses the route's backend for the upstream stage; the default backend when the route names none. */
export function routerStage(source: RouteSource): Stage {
  return function router(ctx, next) {
    const { route } = matchRoute(ctx, source);
    if (ctx.origin === undefined && route.upstreams !== undefined) ctx.origin = route.upstreams[0];
    return next();
  };
}
