import type { Done, Next } from '../../utils/compose.js';
import type { Config } from '../../utils/config.js';
import { TagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { type RequestContext, routeOf, type Stage } from '../pipeline/context.js';
import type { RouteSource } from '../router/types.js';
import type { Store, StoredEntry } from '../store/types.js';
import type { Tracing } from '../tracing/index.js';
import { keyFor, keyTarget } from './cache-key.js';
import { forwardStatus, hitStatus, notStoredDetail } from './cache-status.js';
import { createCollapser } from './collapse.js';
import { hasPreconditions } from './conditional.js';
import { decide, type RequestDirectives, requestDirectives, staleAt } from './decide.js';
import { normaliseAcceptEncoding } from './encoding.js';
import { createFleetWait, FILL_LEASE_MS, FILL_POLL_MS } from './fleet-wait.js';
import { usableFor } from './follow.js';
import { createLazyForms } from './lazy-forms.js';
import { type Found, type Lookup, lookup, policyOf } from './lookup.js';
import { createRefresher } from './refresher.js';
import type { RefusalLog } from './refusals.js';
import { compressionSettings } from './representation.js';
import { answerFromEntry, countEncoded } from './respond.js';
import { createRevalidator } from './revalidate.js';
import { createStoreAccess } from './store-access.js';
import { absorbResponse } from './store-response.js';
import { invalidateAfterUnsafe, isSafeMethod } from './unsafe.js';

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
 * The outermost stage: answers from the store when RFC 9111 allows it,
 * revalidates or refreshes stale entries, collapses concurrent misses, and on
 * the way back stores what the backend said may be stored.
 */
export function cacheStage(deps: CacheDeps): CacheStage {
  const { routes, metrics, log, config } = deps;
  const store = createStoreAccess(deps.store, metrics, log);
  const collapser = createCollapser({
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
  });
  const refresher = createRefresher(
    (err) => log.warn({ err: String(err) }, 'background refresh failed'),
    deps.tracing,
  );
  const absorbDeps = {
    store,
    metrics,
    maxObjectBytes: config.maxObjectBytes,
    keep: { staleKeepSeconds: config.staleKeepSeconds, staleOnOutageSeconds: config.staleOnOutageSeconds },
    refusals: deps.refusals,
    compression: compressionSettings(config, (coding) => metrics.compressedForms.labels(coding).inc()),
  };
  const onEncoded = countEncoded(metrics);
  const withLazyForm = createLazyForms(absorbDeps);
  const revalidator = createRevalidator({
    store,
    metrics,
    absorbDeps,
    send: deps.send,
    refresher,
    collapser,
    follow,
  });

  function serve(ctx: RequestContext, found: Found, status: 'HIT' | 'STALE', detail?: string): void {
    const now = Date.now();
    const entry = withLazyForm(found.entry, found.policy, ctx.headers);
    ctx.response = answerFromEntry(ctx, entry, found.policy, now, onEncoded);
    ctx.cache = status;
    ctx.tags = found.entry.tags;
    const ttl = Math.round((staleAt(found.policy, found.entry.softPurgedAt) - now) / 1000);
    ctx.cacheStatusDetail = hitStatus(ttl, detail);
  }

  /** A collapse follower, answered from its leader's entry when that can answer it. */
  async function follow(ctx: RequestContext, leader: Promise<StoredEntry | undefined>): Promise<boolean> {
    const entry = await leader;
    const found = entry === undefined ? undefined : usableFor(entry, ctx);
    if (found === undefined) return false;
    serveCollapsed(ctx, found);
    return true;
  }

  function serveCollapsed(ctx: RequestContext, found: Found): void {
    metrics.collapsed.labels(ctx.route?.route.name ?? 'unknown').inc();
    serve(ctx, found, 'HIT', 'collapsed');
  }

  async function miss(
    ctx: RequestContext,
    next: Next,
    key: string,
    fwd: 'uri-miss' | 'vary-miss',
    req: RequestDirectives | undefined,
  ): Promise<void> {
    const _route = ctx.route?.route.name ?? 'unknown';
    // Only plain GETs collapse: a HEAD, a range or a conditional gets an answer the others could not reuse.
    // Nor a request with credentials: its answer may be unstorable for it alone (RFC 9111 §3.5), and
    // must not mark the key uncacheable, turning collapsing off for everyone (the whole fleet, with Redis).
    const plain =
      ctx.method === 'GET' &&
      ctx.headers.authorization === undefined &&
      ctx.headers.range === undefined &&
      ctx.headers['if-none-match'] === undefined &&
      ctx.headers['if-modified-since'] === undefined;
    const role = plain && req?.noStore !== true ? collapser.join(key) : undefined;
    if (role?.role === 'follower' && (await follow(ctx, role.result))) return;
    const leader = role?.role === 'leader' ? role : undefined;
    // Another instance sharing the store may be fetching the key: wait for its fill, then read it.
    if (leader?.fleet !== undefined && (await leader.fleet())) {
      const looked = await lookup(store, key, ctx.headers);
      const found = typeof looked === 'string' ? undefined : usableFor(looked.entry, ctx);
      if (found !== undefined) {
        leader.settle(found.entry);
        serveCollapsed(ctx, found);
        return;
      }
    }
    ctx.cache = 'MISS';
    const requestTime = Date.now();
    try {
      await next();
    } catch (err) {
      leader?.settle(undefined);
      throw err;
    }
    const res = ctx.response;
    if (res === undefined) {
      leader?.settle(undefined);
      return;
    }
    const absorbed = absorbResponse(
      ctx,
      key,
      { requestTime, responseTime: Date.now() },
      absorbDeps,
      req?.noStore === true,
      true,
    );
    if (!absorbed.stored) {
      leader?.settle(undefined);
      if (leader !== undefined) collapser.markUncacheable(key);
      ctx.cacheStatusDetail = forwardStatus(fwd, res.status, { detail: notStoredDetail(absorbed.reason) });
      return;
    }
    if (leader !== undefined) absorbed.entry.then(leader.settle, () => leader.settle(undefined));
    collapser.forget(key);
    ctx.cacheStatusDetail = forwardStatus(fwd, res.status, { stored: true, ttl: absorbed.ttlSeconds });
    if (absorbed.answerFromEntry) await answerMissFromEntry(ctx, absorbed.entry);
  }

  /** A miss answered in the form this client prefers, from the entry just stored (store-response.ts). */
  async function answerMissFromEntry(ctx: RequestContext, pending: Promise<StoredEntry | undefined>) {
    const entry = await pending;
    const policy = entry === undefined ? undefined : policyOf(entry);
    if (entry === undefined || policy === undefined) {
      throw new TagcacheError('TC_UPSTREAM_RESET', 'the backend body was cut short', 502);
    }
    ctx.response = answerFromEntry(
      ctx,
      withLazyForm(entry, policy, ctx.headers),
      policy,
      Date.now(),
      onEncoded,
    );
  }

  async function bypass(ctx: RequestContext, next: Next, cacheable: boolean): Promise<void> {
    const method = ctx.method;
    if (method !== 'GET' && method !== 'HEAD') {
      ctx.cache = 'BYPASS';
      ctx.cacheStatusDetail = forwardStatus('method', undefined);
      await next();
      if (!isSafeMethod(method)) await invalidateAfterUnsafe(ctx, store, routes, metrics);
      if (ctx.response !== undefined) ctx.cacheStatusDetail = forwardStatus('method', ctx.response.status);
      return;
    }
    ctx.cache = 'BYPASS';
    await next();
    ctx.cacheStatusDetail = cacheable
      ? forwardStatus('request', ctx.response?.status)
      : forwardStatus('bypass', ctx.response?.status, { detail: 'route-bypass' });
  }

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
      return bypass(ctx, next, route.cache);
    }
    // Before lookup: the variant key, the backend and any refresh see the normalised value only.
    normaliseAcceptEncoding(ctx.headers);
    // The backend is asked for exactly what the key names (see keyTarget).
    const target = keyTarget(ctx.target, route.cacheKeyQuery);
    ctx.upstreamTarget = target;
    const key = keyFor(ctx.scheme, ctx.host, target);
    const req = requestDirectives(ctx.headers);
    const looked = lookup(store, key, ctx.headers);
    if (looked instanceof Promise) return looked.then((found) => answer(ctx, next, key, req, found));
    return answer(ctx, next, key, req, looked);
  }

  function answer(
    ctx: RequestContext,
    next: Next,
    key: string,
    req: RequestDirectives | undefined,
    found: Lookup,
  ): Done {
    if (typeof found === 'string') {
      if (req?.onlyIfCached) return onlyIfCached(ctx);
      return miss(ctx, next, key, found, req);
    }
    const d = decide(found.policy, found.entry.softPurgedAt, req, ctx.now);
    if (d.kind === 'hit') {
      if (d.stale) metrics.staleServed.labels(ctx.route?.route.name ?? 'unknown', 'max-stale').inc();
      serve(ctx, found, d.stale ? 'STALE' : 'HIT');
      return;
    }
    if (d.kind === 'stale-refresh') {
      metrics.staleServed.labels(ctx.route?.route.name ?? 'unknown', 'swr').inc();
      serve(ctx, found, 'STALE', 'detail=stale-while-revalidate');
      revalidator.refreshInBackground(ctx, key, found);
      return;
    }
    if (req?.onlyIfCached) return onlyIfCached(ctx);
    return revalidator.revalidate(ctx, next, key, found, req, d.fwd, serve);
  }

  return Object.assign(cache, {
    close: () => refresher.settle(),
  });
}

/** RFC 9111 §5.2.1.7: only-if-cached with nothing usable stored is a 504. */
function onlyIfCached(ctx: RequestContext): void {
  ctx.cache = 'MISS';
  throw new TagcacheError('TC_ONLY_IF_CACHED', 'only-if-cached and no stored response can be used', 504);
}
