import type { Done } from '../../utils/compose.js';
import type { Metrics } from '../metrics/registry.js';
import type { RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import type { Collapser } from './collapse.js';
import type { Refresher } from './refresher.js';
import type { Answer } from './respond.js';
import type { StoreAccess } from './store-access.js';
import type { AbsorbDeps } from './store-response.js';
import type { Leader } from './verdict.js';

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
