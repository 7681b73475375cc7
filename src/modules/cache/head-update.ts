import { type HeaderMap, headerValue } from '../../utils/headers.js';
import { type RequestContext, routeOf } from '../pipeline/context.js';
import { askAsStored } from './ask-as-stored.js';
import { keyFor, keyTarget } from './cache-key.js';
import type { CacheCore } from './core.js';
import { normaliseAcceptEncoding } from './encoding.js';
import { lookup } from './lookup.js';
import { afterNotModified } from './not-modified.js';
import { keptUntil } from './policy.js';

type Fields = Readonly<Record<string, string | string[] | undefined>>;

/**
 * RFC 9111 §4.3.5: a 200 to a HEAD the cache sent on as itself speaks of the
 * stored GET response that request selects. When the validators it carries and
 * its Content-Length agree, its fields and freshness update the entry; when they
 * do not, the entry is considered stale (marked as a soft purge marks it, never
 * deleted: any client can send a HEAD, and its answer may only make the entry be
 * revalidated, as the backend's own validators then decide).
 */
export async function updateFromHead(
  core: CacheCore,
  ctx: RequestContext,
  requestTime: number,
): Promise<void> {
  const res = ctx.response;
  if (ctx.method !== 'HEAD' || res?.status !== 200 || res.upstreamHeaders === undefined) return;
  normaliseAcceptEncoding(ctx.headers);
  const key = keyFor(ctx.scheme, ctx.host, keyTarget(ctx.target, routeOf(ctx).route.cacheKeyQuery));
  const found = await lookup(core.store, key, ctx.headers);
  if (typeof found === 'string') return;
  // Credentials the entry was not asked with make this answer the client's own: it says nothing of the entry.
  const asked = askAsStored(found.policy, ctx.headers);
  if (asked.stripped || !asked.asStored) return;
  const keep = core.absorbDeps.keep;
  const updated = sameRepresentation(found.entry.headers, res.upstreamHeaders)
    ? afterNotModified(ctx, found, res, { requestTime, responseTime: Date.now() }, keep)
    : undefined;
  if (updated !== undefined) {
    await core.store.put(updated.found.entry, updated.ttlMs);
    return;
  }
  // Another representation, or fields that would not be stored: stale from now, kept as long as it was.
  const now = Date.now();
  const ttlMs = Math.ceil(keptUntil(found.policy, keep) - now);
  if (found.entry.softPurgedAt > 0 && found.entry.softPurgedAt <= now) return;
  if (ttlMs > 0) await core.store.put({ ...found.entry, softPurgedAt: now }, ttlMs);
}

/**
 * Whether a HEAD response describes the stored response: every validator it
 * carries (ETag, Last-Modified) has the stored value, and so has its
 * Content-Length when it sends one (§4.3.5 asks only of the fields received).
 */
export function sameRepresentation(stored: Fields, head: HeaderMap): boolean {
  const etag = headerValue(head, 'etag');
  const modified = headerValue(head, 'last-modified');
  if (etag !== undefined && etag !== headerValue(stored, 'etag')) return false;
  if (modified !== undefined && modified !== headerValue(stored, 'last-modified')) return false;
  const length = headerValue(head, 'content-length');
  return length === undefined || length === headerValue(stored, 'content-length');
}
