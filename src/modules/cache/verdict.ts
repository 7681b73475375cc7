import type { RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { type AskAsStored, askAsStored } from './ask-as-stored.js';
import type { Collapser, Role } from './collapse.js';
import { decide, type RequestDirectives } from './decide.js';
import type { Found, Lookup } from './lookup.js';

export type Leader = Extract<Role, { role: 'leader' }>;

/**
 * What a look-up found, in the spirit of Varnish's HSH_Lookup: the store's
 * answer with RFC 9111's decision on it, and for a request that goes
 * upstream, its place in the collapse of concurrent requests for the key.
 */
export type Verdict =
  /** Serve the stored response as it is (`stale`: the request's max-stale allows it). */
  | { readonly kind: 'hit'; readonly found: Found; readonly stale: boolean }
  /** Serve it now and refresh it once in the background (stale-while-revalidate). */
  | { readonly kind: 'stale'; readonly found: Found }
  /** Validate upstream first; `request` when only the request's directives forced it. */
  | {
      readonly kind: 'must-revalidate';
      readonly found: Found;
      readonly fwd: 'stale' | 'request';
      readonly asked: AskAsStored;
      /** Leads the collapse: whoever waits gets what this validation leaves. */
      readonly leader?: Leader;
    }
  | { readonly kind: 'miss'; readonly fwd: 'uri-miss' | 'vary-miss'; readonly leader?: Leader }
  /** Another request is filling the key: wait for it, and if its entry cannot answer, go on as `otherwise`. */
  | {
      readonly kind: 'busy';
      readonly wait: Promise<StoredEntry | undefined>;
      readonly otherwise: Extract<Verdict, { kind: 'miss' | 'must-revalidate' }>;
      /** This request waited once already (see rejoin). */
      readonly again?: true;
    };

export function verdictOf(
  looked: Lookup,
  ctx: RequestContext,
  req: RequestDirectives | undefined,
  key: string,
  collapser: Collapser,
): Verdict {
  // only-if-cached is answered without the backend: it never leads a collapse it would not fill.
  const joins = req?.onlyIfCached !== true;
  if (typeof looked === 'string') {
    const miss = { kind: 'miss', fwd: looked } as const;
    return joins && collapsesMiss(ctx, req) ? join(collapser, key, miss) : miss;
  }
  const d = decide(looked.policy, looked.entry.softPurgedAt, req, ctx.now);
  if (d.kind === 'hit') return { kind: 'hit', found: looked, stale: d.stale };
  if (d.kind === 'stale-refresh') return { kind: 'stale', found: looked };
  const asked = askAsStored(looked.policy, ctx.headers);
  const revalidate = { kind: 'must-revalidate', found: looked, fwd: d.fwd, asked } as const;
  // This client's answer is its own and leaves the shared entry as it is when it asked not to be
  // stored or cannot ask as the entry was asked (RFC 9111 §5.2.1.5, §3.5): nobody may wait for it.
  const shared = req?.noStore !== true && asked.asStored;
  return joins && shared && d.fwd === 'stale' && ctx.headers.range === undefined
    ? join(collapser, key, revalidate)
    : revalidate;
}

/**
 * Only plain GETs collapse: a HEAD, a range or a conditional gets an answer the others could not
 * reuse. Nor a request with credentials: its answer may be unstorable for it alone (RFC 9111 §3.5),
 * and must not mark the key uncacheable, turning collapsing off for everyone (the whole fleet, with Redis).
 */
function collapsesMiss(ctx: RequestContext, req: RequestDirectives | undefined): boolean {
  const h = ctx.headers;
  return (
    ctx.method === 'GET' &&
    req?.noStore !== true &&
    h.authorization === undefined &&
    h.range === undefined &&
    h['if-none-match'] === undefined &&
    h['if-modified-since'] === undefined
  );
}

function join(
  collapser: Collapser,
  key: string,
  v: Extract<Verdict, { kind: 'miss' | 'must-revalidate' }>,
  again?: true,
): Verdict {
  const role = collapser.join(key);
  // Literals, not a spread of v: a spread then a field cost a shape change on every miss.
  if (role.role === 'leader')
    return v.kind === 'miss'
      ? { kind: 'miss', fwd: v.fwd, leader: role }
      : { kind: 'must-revalidate', found: v.found, fwd: v.fwd, asked: v.asked, leader: role };
  if (role.role === 'follower')
    return { kind: 'busy', wait: role.result, otherwise: v, ...(again ? { again } : {}) };
  return v;
}

/**
 * A follower handed an entry that needs validation too — typically from the miss that stored the
 * entry it found, whose store write settled only now (slow under load) — collapses once more, behind
 * one revalidation, rather than every follower going upstream alone. Once: a backend whose every
 * answer is stale at once cannot chain followers behind leader after leader.
 */
export function rejoin(
  collapser: Collapser,
  key: string,
  v: Extract<Verdict, { kind: 'busy' }>,
  handed: StoredEntry | undefined,
): Verdict {
  if (handed === undefined || v.again === true || v.otherwise.kind !== 'must-revalidate') return v.otherwise;
  return join(collapser, key, v.otherwise, true);
}
