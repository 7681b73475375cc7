import type { Next } from '../../utils/compose.js';
import type { RequestContext } from '../pipeline/context.js';
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
export async function bypass(
  core: CacheCore,
  routes: RouteSource,
  ctx: RequestContext,
  next: Next,
  cacheable: boolean,
): Promise<void> {
  const method = ctx.method;
  const fwd = method !== 'GET' && method !== 'HEAD' ? 'method' : cacheable ? 'request' : 'bypass';
  const requestTime = Date.now();
  try {
    await next();
    if (fwd === 'method' && !isSafeMethod(method))
      await invalidateAfterUnsafe(ctx, core.store, routes, core.metrics);
    // A HEAD with preconditions went to the backend as itself: its answer speaks of the stored GET.
    if (fwd === 'request' && method === 'HEAD') await updateFromHead(core, ctx, requestTime);
  } finally {
    // On a failure too: its error answer says the request bypassed the cache.
    const status = ctx.response?.status;
    const outcome = forwarded(
      'BYPASS',
      fwd,
      status,
      fwd === 'bypass' ? { detail: 'route-bypass' } : undefined,
    );
    core.respond(ctx, { kind: 'forwarded', outcome });
  }
}
