import type { Next } from '../../utils/compose.js';
import { isTagcacheError } from '../../utils/errors.js';
import type { ProxyResponse, RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { type CacheCore, type Handoff, handoff, routeName } from './core.js';
import type { RequestDirectives } from './decide.js';
import type { Found } from './lookup.js';
import { forwarded, notStoredDetail } from './outcome.js';
import { refreshNow } from './refresh.js';
import { discard, isUpstreamFailure } from './revalidation-failure.js';
import {
  ERROR_STATUSES,
  type Failure,
  fallbackFor,
  type StaleWindows,
  staleWindows,
} from './stale-fallback.js';
import { validate } from './validate.js';
import type { Verdict } from './verdict.js';

type Fwd = 'stale' | 'request';

/**
 * A stored entry that must be validated before it answers: with the client's
 * own request made conditional, or — when its answer could not be the
 * entry's — beside it. A 304 refreshes the entry; a failure inside
 * stale-if-error (or an outage) is answered from the stale entry.
 */
export async function revalidate(
  core: CacheCore,
  ctx: RequestContext,
  next: Next,
  key: string,
  req: RequestDirectives | undefined,
  v: Extract<Verdict, { kind: 'must-revalidate' }>,
): Promise<Handoff> {
  const { found, fwd, asked } = v;
  const windows = staleWindows(found, req, core.absorbDeps.keep.staleOnOutageSeconds);
  // Its answer is this client's own: the shared entry stays as it is (see verdict.ts).
  if (req?.noStore === true || !asked.asStored) return forwardOwn(core, ctx, next, found, fwd, windows);
  if (ctx.method === 'HEAD' || asked.stripped) return validateAside(core, ctx, next, key, v, windows);
  const within = Date.now() < Math.max(windows.sieUntil, windows.outageUntil);
  const validated = await validate(core, ctx, next, key, found, {
    fails: (status) => ERROR_STATUSES.has(status) && Date.now() < windows.sieUntil,
    // While the stale entry may still answer, a new body is read before any header goes out: a
    // backend that stalls or drops it mid-way costs this client the new copy, not its answer.
    readAhead: within,
  });
  switch (validated.kind) {
    case 'none':
      return undefined;
    case 'failed':
      if (standIn(core, ctx, found, validated, windows)) return handoff(stillStored(core, found.entry));
      return passFailure(core, ctx, fwd, validated.failure);
    case 'not-modified':
      core.respond(ctx, { kind: 'revalidated', found: validated.found, fwd, status: 304 });
      return handoff(validated.stored);
    case 'replaced': {
      const { absorbed, response } = validated;
      const status = response.status;
      const outcome = absorbed.stored
        ? forwarded('MISS', fwd, status, { stored: true, ttl: absorbed.ttlSeconds })
        : forwarded('MISS', fwd, status, { detail: notStoredDetail(absorbed.reason) });
      core.respond(ctx, { kind: 'forwarded', outcome });
      return absorbed.stored ? handoff(absorbed.entry) : undefined;
    }
  }
}

/**
 * Validation beside the client's request, for a HEAD (which cannot carry a new body back) and for
 * a request whose credentials the revalidation leaves out (its answer is not this client's).
 * The client gets the refreshed entry, or the stale one when the backend failed and that is
 * allowed, or else its own request's answer, for itself alone.
 */
async function validateAside(
  core: CacheCore,
  ctx: RequestContext,
  next: Next,
  key: string,
  v: Extract<Verdict, { kind: 'must-revalidate' }>,
  windows: StaleWindows,
): Promise<Handoff> {
  const { found, fwd } = v;
  const refreshed = await refreshNow(core, ctx, key, found, v.asked);
  if (refreshed.kind === 'refreshed') {
    core.respond(ctx, { kind: 'revalidated', found: refreshed.found, fwd, status: undefined });
    return handoff(Promise.resolve(refreshed.found.entry));
  }
  if (refreshed.kind === 'failed') {
    if (standIn(core, ctx, found, refreshed, windows)) return handoff(stillStored(core, found.entry));
    // A HEAD learns nothing more by asking again: the failed GET is its answer (one backend request, not two).
    if (ctx.method === 'HEAD') return passFailure(core, ctx, fwd, refreshed.failure);
  }
  await forwardOwn(core, ctx, next, found, fwd, windows);
  return undefined;
}

/**
 * The client's request as it came, for this client alone: nothing is stored or deleted, and a
 * backend failure is still answered from the stale entry when that is allowed.
 */
async function forwardOwn(
  core: CacheCore,
  ctx: RequestContext,
  next: Next,
  found: Found,
  fwd: Fwd,
  windows: StaleWindows,
): Promise<undefined> {
  try {
    await next();
  } catch (err) {
    const transport = isUpstreamFailure(err);
    const status = transport && isTagcacheError(err) ? err.status : undefined;
    if (standIn(core, ctx, found, { transport, status }, windows)) return undefined;
    throw err;
  }
  const res = ctx.response;
  if (res !== undefined && standIn(core, ctx, found, { transport: false, status: res.status }, windows)) {
    discard(res);
    return undefined;
  }
  core.respond(ctx, { kind: 'forwarded', outcome: forwarded('MISS', fwd, res?.status) });
  return undefined;
}

/** A failure no stale entry may stand in for, passed on: the error thrown, or the error answer's head. */
function passFailure(
  core: CacheCore,
  ctx: RequestContext,
  fwd: Fwd,
  failure: { readonly err: unknown } | { readonly response: ProxyResponse },
): undefined {
  if ('err' in failure) throw failure.err;
  const response = { ...failure.response, body: null };
  core.respond(ctx, { kind: 'forwarded', outcome: forwarded('MISS', fwd, response.status), response });
  return undefined;
}

/** Answers from the stale entry when the failure allows it; false when it does not. */
function standIn(core: CacheCore, ctx: RequestContext, found: Found, f: Failure, w: StaleWindows): boolean {
  const reason = fallbackFor(f, w, Date.now());
  if (reason === undefined) return false;
  core.metrics.staleServed.labels(routeName(ctx), reason).inc();
  core.respond(ctx, { kind: 'stale-on-error', found, status: f.status, reason });
  return true;
}

/**
 * The stale entry as the store holds it now, for followers of a failed revalidation: a purge
 * since it was read must not be undone by handing them the copy read before it.
 */
async function stillStored(core: CacheCore, entry: StoredEntry): Promise<StoredEntry | undefined> {
  const current = await core.store.get(entry.id);
  return current?.storedAt === entry.storedAt ? current : undefined;
}
