import type { Done } from '../../utils/compose.js';
import type { Config } from '../../utils/config.js';
import type { Logger } from '../../utils/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { RequestContext } from '../pipeline/context.js';
import type { RouteSource } from '../router/types.js';
import type { Store, StoredEntry } from '../store/types.js';
import type { Tracing } from '../tracing/index.js';
import { countEncoded } from './answer-from-entry.js';
import { type Collapser, createCollapser } from './collapse.js';
import { createFleetWait, FILL_LEASE_MS, FILL_POLL_MS } from './fleet-wait.js';
import { createLazyForms } from './lazy-forms.js';
import { createRefresher, type Refresher } from './refresher.js';
import type { RefusalLog } from './refusals.js';
import { compressionSettings } from './representation.js';
import { type Answer, respond } from './respond.js';
import { createStoreAccess, type StoreAccess } from './store-access.js';
import type { AbsorbDeps } from './store-response.js';
import type { Leader } from './verdict.js';

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

/** What the cache's actions (miss, revalidation, refresh) share, made once by the stage. */
export interface CacheCore {
  readonly store: StoreAccess;
  readonly metrics: Metrics;
  readonly absorbDeps: AbsorbDeps;
  readonly collapser: Collapser;
  readonly refresher: Refresher;
  /** The whole chain, for the cache's own revalidations (background contexts pass the cache by). */
  readonly send: (ctx: RequestContext) => Done;
  /** respond (respond.ts) with the stage's counters for encoded answers. */
  readonly respond: (ctx: RequestContext, a: Answer) => void;
}

/** The store access, collapser, refresher and storing rules the stage and its actions share. */
export function createCore(deps: CacheDeps): CacheCore {
  const { metrics, log, config } = deps;
  const store = createStoreAccess(deps.store, metrics, log);
  const onEncoded = countEncoded(metrics);
  const absorbDeps: AbsorbDeps = {
    store,
    metrics,
    maxObjectBytes: config.maxObjectBytes,
    keep: { staleKeepSeconds: config.staleKeepSeconds, staleOnOutageSeconds: config.staleOnOutageSeconds },
    refusals: deps.refusals,
    compression: compressionSettings(config, (coding) => metrics.compressedForms.labels(coding).inc()),
  };
  const withLazyForm = createLazyForms(absorbDeps);
  return {
    store,
    metrics,
    send: deps.send,
    respond: (ctx, a) => respond(ctx, a, onEncoded, withLazyForm),
    absorbDeps,
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
}

/**
 * What a request that went upstream leaves for the requests that waited on it: its entry, once
 * stored. Boxed: an async function returning the bare promise would wait for it (and the store).
 */
export type Handoff = { readonly entry: Promise<StoredEntry | undefined> } | undefined;

export function handoff(entry: Promise<StoredEntry | undefined>): Handoff {
  return { entry };
}

/**
 * Runs a leader's work and settles its collapse on every path: followers get
 * the entry it handed off, or nothing (and go upstream themselves).
 */
export async function lead(leader: Leader | undefined, work: () => Promise<Handoff>): Promise<void> {
  if (leader === undefined) {
    await work();
    return;
  }
  let left: Handoff;
  try {
    left = await work();
  } finally {
    if (left === undefined) leader.settle(undefined);
    else left.entry.then(leader.settle, () => leader.settle(undefined));
  }
}

export function routeName(ctx: RequestContext): string {
  return ctx.route?.route.name ?? 'unknown';
}
