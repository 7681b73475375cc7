import { Readable } from 'node:stream';
import type { Done } from '../../utils/compose.js';
import { isTagcacheError, TagcacheError } from '../../utils/errors.js';
import type { ProxyResponse, RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { upstreamBodyError } from '../upstream/index.js';
import { readAhead } from './body-collector.js';
import { revalidationHeaders } from './conditional.js';
import { type CacheCore, routeName } from './core.js';
import type { Found } from './lookup.js';
import { afterNotModified } from './not-modified.js';
import { discard, errorCode, forbidsStoring, isUpstreamFailure } from './revalidation-failure.js';
import type { Failure } from './stale-fallback.js';
import { type Absorbed, absorbResponse } from './store-response.js';

/** What one validation of a stored entry came to. */
export type Validated =
  /** The backend failed: what failed is the error thrown, or the error answer (its body drained). */
  | (Failure & {
      readonly kind: 'failed';
      readonly failure: { readonly err: unknown } | { readonly response: ProxyResponse };
    })
  /** 304: the entry with the new fields (the old one when they made it unstorable, and then deleted). */
  | {
      readonly kind: 'not-modified';
      readonly found: Found;
      readonly stored: Promise<StoredEntry | undefined>;
    }
  /** A new answer, in vctx.response, being stored as it streams when it may be. */
  | { readonly kind: 'replaced'; readonly response: ProxyResponse; readonly absorbed: Absorbed }
  | { readonly kind: 'none' };

export interface ValidateRules {
  /** Whether an answer with this status counts as a failure (the stale entry may stand in for it). */
  readonly fails: (status: number) => boolean;
  /** Read a new body whole before anything is stored or answered: a body that breaks is then a failure. */
  readonly readAhead: boolean;
}

/**
 * One conditional request for a stored entry, sent through `send` with
 * vctx — the client's own request in the foreground, a context of the
 * cache's own in the background — and the store updated as its answer says.
 * Foreground and background validation differ only in what they do with the result.
 */
export async function validate(
  core: CacheCore,
  vctx: RequestContext,
  send: () => Done,
  key: string,
  found: Found,
  rules: ValidateRules,
): Promise<Validated> {
  const { metrics, store, absorbDeps } = core;
  const route = routeName(vctx);
  const counted = metrics.revalidations;
  vctx.upstreamExtraHeaders = revalidationHeaders(found.policy);
  const requestTime = Date.now();
  try {
    await send();
  } catch (err) {
    counted.labels(route, 'error').inc();
    if (vctx.background) vctx.log.warn({ id: vctx.id, err: errorCode(err), route }, 'revalidation failed');
    const transport = isUpstreamFailure(err);
    const status = transport && isTagcacheError(err) ? err.status : undefined;
    return { kind: 'failed', transport, status, failure: { err } };
  }
  const res = vctx.response;
  if (res === undefined) return { kind: 'none' };
  const times = { requestTime, responseTime: Date.now() };
  if (res.status === 304) {
    discard(res);
    counted.labels(route, 'not_modified').inc();
    const updated = afterNotModified(vctx, found, res, times, absorbDeps.keep);
    if (updated === undefined) {
      return { kind: 'not-modified', found, stored: store.delete(found.entry.id).then(() => undefined) };
    }
    const entry = updated.found.entry;
    // Refused: a purge came after this validation went out, and its answer speaks of the purged entry.
    const stored = store.put(entry, updated.ttlMs).then((o) => (o === 'refused' ? undefined : entry));
    return { kind: 'not-modified', found: updated.found, stored };
  }
  if (rules.fails(res.status)) {
    discard(res);
    counted.labels(route, 'error').inc();
    return { kind: 'failed', transport: false, status: res.status, failure: { response: res } };
  }
  if (rules.readAhead && res.body instanceof Readable) {
    const read = await readAhead(res.body, absorbDeps.maxObjectBytes);
    if (read.kind === 'failed') {
      counted.labels(route, 'error').inc();
      vctx.log.warn({ id: vctx.id, err: errorCode(read.err), route }, 'revalidation body failed');
      const err =
        upstreamBodyError(read.err, vctx.upstreamAddress ?? 'unknown') ??
        new TagcacheError('TC_UPSTREAM_RESET', 'the backend body was cut short', 502);
      return { kind: 'failed', transport: true, status: res.status, failure: { err } };
    }
    res.body = read.body;
  }
  counted.labels(route, res.status < 500 ? 'replaced' : 'error').inc();
  const absorbed = absorbResponse(vctx, key, times, absorbDeps, false);
  // The backend no longer lets this be stored: the old copy must not be served again.
  if (!absorbed.stored && forbidsStoring(absorbed.reason, res.status)) await store.delete(found.entry.id);
  return { kind: 'replaced', response: res, absorbed };
}
