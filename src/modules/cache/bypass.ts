import type { Done, Next } from '../../utils/compose.js';
import type { Outcome, RequestContext } from '../pipeline/context.js';
import type { RouteSource } from '../router/types.js';
import type { CacheCore } from './core.js';
import { updateFromHead } from './head-update.js';
import { forwarded } from './outcome.js';
import { invalidateAfterUnsafe, isSafeMethod } from './unsafe.js';

/**
 * Requests the cache neither answers nor stores: other methods (an unsafe one
 * that succeeds invalidates what it names), routes with `cache: false`, and
 * preconditions a cache does not evaluate.
 */
export function bypass(
  core: CacheCore,
  routes: RouteSource,
  ctx: RequestContext,
  next: Next,
  cacheable: boolean,
): Done {
  const method = ctx.method;
  if (method !== 'GET' && method !== 'HEAD') return forward(core, routes, ctx, next, 'method');
  if (cacheable) return forward(core, routes, ctx, next, 'request');
  return passThrough(core, ctx, next);
}

/**
 * A GET or HEAD on a `cache: false` route, every pass-through request: nothing to do on the
 * way back but say so, so no async frame of its own (one promise step, not three).
 */
function passThrough(core: CacheCore, ctx: RequestContext, next: Next): Done {
  let done: Done;
  try {
    done = next();
  } catch (err) {
    routeBypassed(core, ctx);
    throw err;
  }
  if (done === undefined) {
    routeBypassed(core, ctx);
    return;
  }
  return done.then(
    () => routeBypassed(core, ctx),
    (err: unknown) => {
      // On a failure too: its error answer says the request bypassed the cache.
      routeBypassed(core, ctx);
      throw err;
    },
  );
}

/** The outcome of a route bypass, by backend status: the same few values on every request, made once. */
const ROUTE_BYPASS: Outcome[] = [];
const ROUTE_BYPASS_NO_STATUS = forwarded('BYPASS', 'bypass', undefined, { detail: 'route-bypass' });

function routeBypassed(core: CacheCore, ctx: RequestContext): void {
  const status = ctx.response?.status;
  let outcome = ROUTE_BYPASS_NO_STATUS;
  if (status !== undefined) {
    outcome = ROUTE_BYPASS[status] ?? forwarded('BYPASS', 'bypass', status, { detail: 'route-bypass' });
    // undici hands over three-digit statuses only; anything else is simply not remembered.
    if (status >= 100 && status <= 999) ROUTE_BYPASS[status] = outcome;
  }
  core.respond(ctx, { kind: 'forwarded', outcome });
}

async function forward(
  core: CacheCore,
  routes: RouteSource,
  ctx: RequestContext,
  next: Next,
  fwd: 'method' | 'request',
): Promise<void> {
  const method = ctx.method;
  const requestTime = Date.now();
  try {
    await next();
    if (fwd === 'method' && !isSafeMethod(method))
      await invalidateAfterUnsafe(ctx, core.store, routes, core.metrics);
    // A HEAD with preconditions went to the backend as itself: its answer speaks of the stored GET.
    if (fwd === 'request' && method === 'HEAD') await updateFromHead(core, ctx, requestTime);
  } finally {
    // On a failure too: its error answer says the request bypassed the cache.
    core.respond(ctx, { kind: 'forwarded', outcome: forwarded('BYPASS', fwd, ctx.response?.status) });
  }
}
