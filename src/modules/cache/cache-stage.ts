import type { Done, Next } from '../../utils/compose.js';
import { TagcacheError } from '../../utils/errors.js';
import { type RequestContext, routeOf, type Stage } from '../pipeline/context.js';
import { bypass } from './bypass.js';
import { keyFor, keyTarget } from './cache-key.js';
import { hasPreconditions } from './conditional.js';
import { type CacheDeps, createCore, lead, routeName } from './core.js';
import { type RequestDirectives, requestDirectives } from './decide.js';
import { normaliseAcceptEncoding } from './encoding.js';
import { usableFor } from './follow.js';
import { type Lookup, lookupThen } from './lookup.js';
import { answerCollapsed, miss } from './miss.js';
import { refreshInBackground } from './refresh.js';
import { revalidate } from './revalidate.js';
import type { Verdict } from './verdict.js';
import { rejoin, verdictOf } from './verdict.js';

export type CacheStage = Stage & { close(): Promise<void> };

/**
 * The outermost stage: look up, decide, act. Answers from the store when
 * RFC 9111 allows it, revalidates or refreshes stale entries, collapses
 * concurrent misses, and on the way back stores what the backend said may be stored.
 */
export function cacheStage(deps: CacheDeps): CacheStage {
  const { metrics } = deps;
  const core = createCore(deps);
  const { store } = core;

  /**
   * Not async: a fresh hit from a store that answers at once (memory, the
   * local tier) is settled before this returns, with no promise made.
   */
  function cache(ctx: RequestContext, next: Next): Done {
    // The cache's own revalidation: it goes to the backend, and the revalidator stores what it brings.
    if (ctx.background) return next();
    const { route } = routeOf(ctx);
    const method = ctx.method;
    if ((method !== 'GET' && method !== 'HEAD') || !route.cache || hasPreconditions(ctx.headers)) {
      return bypass(core, deps.routes, ctx, next, route.cache);
    }
    // Before lookup: the variant key, the backend and any refresh see the normalised value only.
    normaliseAcceptEncoding(ctx.headers);
    // The backend is asked for exactly what the key names (see keyTarget).
    const target = keyTarget(ctx.target, route.cacheKeyQuery);
    ctx.upstreamTarget = target;
    const key = keyFor(ctx.scheme, ctx.host, target);
    const req = requestDirectives(ctx.headers);
    const looked = lookupThen(store, key, ctx.headers, (found) => decided(ctx, next, key, req, found));
    if (looked instanceof Promise) return looked;
    return decided(ctx, next, key, req, looked);
  }

  function decided(
    ctx: RequestContext,
    next: Next,
    key: string,
    req: RequestDirectives | undefined,
    l: Lookup,
  ): Done {
    return act(ctx, next, key, req, verdictOf(l, ctx, req, key, core.collapser));
  }

  function act(
    ctx: RequestContext,
    next: Next,
    key: string,
    req: RequestDirectives | undefined,
    v: Verdict,
  ): Done {
    switch (v.kind) {
      case 'hit':
        if (v.stale) metrics.staleServed.labels(routeName(ctx), 'max-stale').inc();
        return core.respond(ctx, { kind: 'stored', found: v.found, cache: v.stale ? 'STALE' : 'HIT' });
      case 'stale':
        metrics.staleServed.labels(routeName(ctx), 'swr').inc();
        core.respond(ctx, {
          kind: 'stored',
          found: v.found,
          cache: 'STALE',
          extra: 'detail=stale-while-revalidate',
        });
        return refreshInBackground(core, ctx, key, v.found);
      case 'busy':
        return follow(ctx, next, key, req, v);
      case 'miss':
        if (req?.onlyIfCached) return onlyIfCached();
        return lead(v.leader, () => miss(core, ctx, next, key, v.fwd, req, v.leader));
      case 'must-revalidate':
        if (req?.onlyIfCached) return onlyIfCached();
        return lead(v.leader, () => revalidate(core, ctx, next, key, req, v));
    }
  }

  /** A collapse follower: answered from its leader's entry when that can answer it, else on its own. */
  async function follow(
    ctx: RequestContext,
    next: Next,
    key: string,
    req: RequestDirectives | undefined,
    v: Extract<Verdict, { kind: 'busy' }>,
  ): Promise<void> {
    const entry = await v.wait;
    const found = entry === undefined ? undefined : usableFor(entry, ctx);
    if (found !== undefined) return answerCollapsed(core, ctx, found);
    return act(ctx, next, key, req, rejoin(core.collapser, key, v, entry));
  }

  return Object.assign(cache, {
    close: () => core.refresher.settle(),
  });
}

/** RFC 9111 §5.2.1.7: only-if-cached with nothing usable stored is a 504, and no backend is asked. */
function onlyIfCached(): never {
  throw new TagcacheError('TC_ONLY_IF_CACHED', 'only-if-cached and no stored response can be used', 504);
}
