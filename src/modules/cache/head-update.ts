import { type HeaderMap, headerValue } from '../../utils/headers.js';
import { type RequestContext, routeOf } from '../pipeline/context.js';
import { askAsStored } from './ask-as-stored.js';
import { keyFor, keyTarget } from './cache-key.js';
import type { CacheCore } from './core.js';
import { normaliseAcceptEncoding } from './encoding.js';
import { lookup } from './lookup.js';
import { afterNotModified } from './not-modified.js';

type Fields = Readonly<Record<string, string | string[] | undefined>>;

/**
 * RFC 9111 §4.3.5: a 200 to a HEAD the cache sent on as itself speaks of the
 * stored GET response that request selects. When their validators and
 * Content-Length agree, its fields and freshness update the entry; when they
 * do not, the entry describes another representation and is no longer used.
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
  const id = found.entry.id;
  if (!sameRepresentation(found.entry.headers, res.upstreamHeaders)) {
    await core.store.delete(id);
    return;
  }
  const times = { requestTime, responseTime: Date.now() };
  const updated = afterNotModified(ctx, found, res, times, core.absorbDeps.keep);
  if (updated === undefined) await core.store.delete(id);
  else await core.store.put(updated.found.entry, updated.ttlMs);
}

/**
 * Whether a HEAD response describes the stored response: every validator it
 * carries (ETag, Last-Modified) has the stored value, and so has its
 * Content-Length when it sends one. One without validators cannot tell.
 */
export function sameRepresentation(stored: Fields, head: HeaderMap): boolean {
  const etag = headerValue(head, 'etag');
  const modified = headerValue(head, 'last-modified');
  if (etag === undefined && modified === undefined) return false;
  if (etag !== undefined && etag !== headerValue(stored, 'etag')) return false;
  if (modified !== undefined && modified !== headerValue(stored, 'last-modified')) return false;
  const length = headerValue(head, 'content-length');
  return length === undefined || length === headerValue(stored, 'content-length');
}
