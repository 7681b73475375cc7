import type { Done, Next } from '../../utils/compose.js';
import type { Config } from '../../utils/config.js';
import { TagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { type RequestContext, routeOf, type Stage } from '../pipeline/context.js';
import type { RouteSource } from '../router/types.js';
import type { Store } from '../store/types.js';
import type { Tracing } from '../tracing/index.js';
import { countEncoded } from './answer-from-entry.js';
import { bypass } from './bypass.js';
import { keyFor, keyTarget } from './cache-key.js';
import { createCollapser } from './collapse.js';
import { hasPreconditions } from './conditional.js';
import { type CacheCore, lead } from './core.js';
import { type RequestDirectives, requestDirectives } from './decide.js';
import { normaliseAcceptEncoding } from './encoding.js';
import { createFleetWait, FILL_LEASE_MS, FILL_POLL_MS } from './fleet-wait.js';
import { usableFor } from './follow.js';
import { type Lookup, lookup } from './lookup.js';
import { answerCollapsed, miss } from './miss.js';
import { refreshInBackground } from './refresh.js';
import { createRefresher } from './refresher.js';
import type { RefusalLog } from './refusals.js';
import { compressionSettings } from './representation.js';
import { respond } from './respond.js';
import { revalidate } from './revalidate.js';
import { createStoreAccess } from './store-access.js';
import type { Verdict } from './verdict.js';
import { verdictOf } from './verdict.js';

export type CacheConfig = Pick<
  Config,
  | 'maxObjectBytes'
  | 'collapseTimeoutMs'
  | 'collapseMaxWaiters'
  | 'hitForMissSeconds'
  | 'staleKeepSeconds'
  | 'staleOnOutageSeconds'
  | 'compression'
  | 'compressionTypes'
  | 'compressionMinBytes'
>;

export interface CacheDeps {
  readonly store: Store;
  readonly routes: RouteSource;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly config: CacheConfig;
  /** The whole chain, for the cache's own revalidations (background contexts pass the cache by). */
  readonly send: (ctx: RequestContext) => Done;
  /** Spans for collapsed waits and background revalidations. */
  readonly tracing?: Tracing;
  /** Remembers why responses were not stored (GET /entries). */
  readonly refusals?: RefusalLog;
}

export type CacheStage = Stage & { close(): Promise<void> };

/**
 * The outermost stage: look up, decide, act. Answers from the store when
 * RFC 9111 allows it, revalidates or refreshes stale entries, collapses
 * concurrent misses, and on the way back stores what the backend said may be stored.
 */
export function cacheStage(deps: CacheDeps): CacheStage {
  const { metrics, log, config } = deps;
  const store = createStoreAccess(deps.store, metrics, log);
  const onEncoded = countEncoded(metrics);
  const core: CacheCore = {
    store,
    metrics,
    send: deps.send,
    respond: (ctx, a) => respond(ctx, a, onEncoded),
    absorbDeps: {
      store,
      metrics,
      maxObjectBytes: config.maxObjectBytes,
      keep: { staleKeepSeconds: config.staleKeepSeconds, staleOnOutageSeconds: config.staleOnOutageSeconds },
      refusals: deps.refusals,
      compression: compressionSettings(config),
    },
    collapser: createCollapser({
      timeoutMs: config.collapseTimeoutMs,
      maxWaiters: config.collapseMaxWaiters,
      hitForMissMs: config.hitForMissSeconds * 1000,
      tracing: deps.tracing,
      // Instances sharing Redis collapse their misses between them too.
      fleet:
        deps.store.kind === 'memory' || config.collapseTimeoutMs <= 0
          ? undefined
          : createFleetWait({
              leases: deps.store,
              present: async (key) => (await store.get(key)) !== undefined,
              leaseMs: FILL_LEASE_MS,
              pollMs: FILL_POLL_MS,
              timeoutMs: config.collapseTimeoutMs,
            }),
    }),
    refresher: createRefresher(
      (err) => log.warn({ err: String(err) }, 'background refresh failed'),
      deps.tracing,
    ),
  };

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
    const looked = lookup(store, key, ctx.headers);
    if (looked instanceof Promise) return looked.then((found) => decided(ctx, next, key, req, found));
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
        if (v.stale) metrics.staleServed.labels(ctx.route?.route.name ?? 'unknown', 'max-stale').inc();
        return core.respond(ctx, { kind: 'stored', found: v.found, cache: v.stale ? 'STALE' : 'HIT' });
      case 'stale':
        metrics.staleServed.labels(ctx.route?.route.name ?? 'unknown', 'swr').inc();
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
    return act(ctx, next, key, req, v.otherwise);
  }

  return Object.assign(cache, {
    close: () => core.refresher.settle(),
  });
}

/** RFC 9111 §5.2.1.7: only-if-cached with nothing usable stored is a 504, and no backend is asked. */
function onlyIfCached(): never {
  throw new TagcacheError('TC_ONLY_IF_CACHED', 'only-if-cached and no stored response can be used', 504);
}
