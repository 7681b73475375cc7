import type { Next } from '../../utils/compose.js';
import { TagcacheError } from '../../utils/errors.js';
import type { RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { type CacheCore, type Handoff, handoff, routeName } from './core.js';
import type { RequestDirectives } from './decide.js';
import { usableFor } from './follow.js';
import { type Found, lookup, policyOf } from './lookup.js';
import { forwarded, notStoredDetail } from './outcome.js';
import { absorbResponse } from './store-response.js';
import type { Leader } from './verdict.js';

/**
 * Nothing stored can answer: the request goes to the backend (unless another
 * instance sharing the store filled the key meanwhile), and what comes back
 * is stored when it may be. Hands off the entry for collapse followers.
 */
export async function miss(
  core: CacheCore,
  ctx: RequestContext,
  next: Next,
  key: string,
  fwd: 'uri-miss' | 'vary-miss',
  req: RequestDirectives | undefined,
  leader: Leader | undefined,
): Promise<Handoff> {
  // Another instance sharing the store may be fetching the key: wait for its fill, then read it.
  if (leader?.fleet !== undefined && (await leader.fleet())) {
    const looked = await lookup(core.store, key, ctx.headers);
    const found = typeof looked === 'string' ? undefined : usableFor(looked.entry, ctx);
    if (found !== undefined) {
      answerCollapsed(core, ctx, found);
      return handoff(Promise.resolve(found.entry));
    }
  }
  const requestTime = Date.now();
  await next();
  const res = ctx.response;
  if (res === undefined) return undefined;
  const times = { requestTime, responseTime: Date.now() };
  const absorbed = absorbResponse(ctx, key, times, core.absorbDeps, req?.noStore === true, true);
  if (!absorbed.stored) {
    if (leader !== undefined) core.collapser.markUncacheable(key);
    const detail = notStoredDetail(absorbed.reason);
    core.respond(ctx, { kind: 'forwarded', outcome: forwarded('MISS', fwd, res.status, { detail }) });
    return undefined;
  }
  core.collapser.forget(key);
  const outcome = forwarded('MISS', fwd, res.status, { stored: true, ttl: absorbed.ttlSeconds });
  // The client prefers a form the entry will hold (store-response.ts): answered from it once stored.
  const found = absorbed.answerFromEntry ? await storedNow(absorbed.entry) : undefined;
  core.respond(ctx, { kind: 'forwarded', outcome, found });
  return handoff(absorbed.entry);
}

/** A collapse follower (or a leader another instance filled for), answered from that entry. */
export function answerCollapsed(core: CacheCore, ctx: RequestContext, found: Found): void {
  core.metrics.collapsed.labels(routeName(ctx)).inc();
  core.respond(ctx, { kind: 'stored', found, cache: 'HIT', extra: 'collapsed' });
}

async function storedNow(pending: Promise<StoredEntry | undefined>): Promise<Found> {
  const entry = await pending;
  const policy = entry === undefined ? undefined : policyOf(entry);
  if (entry === undefined || policy === undefined) {
    throw new TagcacheError('TC_UPSTREAM_RESET', 'the backend body was cut short', 502);
  }
  return { entry, policy };
}
