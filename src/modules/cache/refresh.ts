import { RequestContext } from '../pipeline/context.js';
import { type AskAsStored, askAsStored, refreshHeaders } from './ask-as-stored.js';
import type { CacheCore } from './core.js';
import type { Found } from './lookup.js';
import { policyOf } from './lookup.js';
import { drain } from './revalidation-failure.js';
import { type Validated, validate } from './validate.js';

/** What a validation of the cache's own left to answer with. */
export type Refreshed =
  | { readonly kind: 'refreshed'; readonly found: Found }
  | Extract<Validated, { kind: 'failed' }>
  /** An answer that left nothing to serve: not storable, refused by a purge, or its body cut short. */
  | { readonly kind: 'unstored' };

const UNSTORED: Refreshed = { kind: 'unstored' };

/**
 * Validates with a GET of the cache's own, asked as the entry is served, through the whole chain
 * (the cache stage lets background contexts pass); the store is updated as its answer says.
 */
export async function refreshNow(
  core: CacheCore,
  ctx: RequestContext,
  key: string,
  found: Found,
  asked: AskAsStored,
): Promise<Refreshed> {
  const bg = new RequestContext({
    // The triggering request's id, marked: the refresh's log lines and upstream request correlate with it.
    id: `${ctx.id.slice(0, 119)}:refresh`,
    method: 'GET',
    target: ctx.upstreamTarget ?? ctx.target,
    headers: refreshHeaders(asked),
    scheme: ctx.scheme,
    clientIp: ctx.clientIp,
    body: null,
    log: ctx.log,
    background: true,
  });
  bg.route = ctx.route;
  // No client waits on this body: it is read whole first, and any server error is a failure.
  const v = await validate(core, bg, () => core.send(bg), key, found, {
    fails: (s) => s >= 500,
    readAhead: true,
  });
  switch (v.kind) {
    case 'failed':
      return v;
    case 'none':
      return UNSTORED;
    case 'not-modified': {
      const entry = await v.stored;
      return entry === undefined ? UNSTORED : { kind: 'refreshed', found: v.found };
    }
    case 'replaced': {
      drain(v.response.body);
      if (!v.absorbed.stored) return UNSTORED;
      const entry = await v.absorbed.entry;
      const policy = entry === undefined ? undefined : policyOf(entry);
      return entry === undefined || policy === undefined
        ? UNSTORED
        : { kind: 'refreshed', found: { entry, policy } };
    }
  }
}

/** stale-while-revalidate: one refresh per entry at a time, with no client waiting for it. */
export function refreshInBackground(core: CacheCore, ctx: RequestContext, key: string, found: Found): void {
  const asked = askAsStored(found.policy, ctx.headers);
  // Nobody can ask as the entry was asked: it stays as it is until a request that can comes.
  if (!asked.asStored) return;
  core.refresher.once(found.entry.id, async () => {
    await refreshNow(core, ctx, key, found, asked);
  });
}
