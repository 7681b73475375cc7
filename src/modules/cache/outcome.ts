import type { CacheStatus, Outcome } from '../pipeline/context.js';
import type { NotStorable } from './policy.js';

/**
 * Outcomes (X-Cache and the RFC 9211 Cache-Status parameters after the cache
 * name "tagcache"): the cache describes what happened, the handler writes it.
 */
export function served(cache: 'HIT' | 'STALE', ttlSeconds: number, extra?: string): Outcome {
  return {
    cache,
    detail: extra === undefined ? `hit; ttl=${ttlSeconds}` : `hit; ttl=${ttlSeconds}; ${extra}`,
  };
}

export type Forward = 'uri-miss' | 'vary-miss' | 'miss' | 'stale' | 'request' | 'method' | 'bypass';

export interface ForwardDetail {
  readonly stored?: boolean;
  readonly ttl?: number;
  readonly detail?: string;
}

/** A request the cache sent on (or validated) upstream. */
export function forwarded(
  cache: CacheStatus,
  fwd: Forward,
  status: number | undefined,
  opts: ForwardDetail = {},
): Outcome {
  let out = `fwd=${fwd}`;
  if (status !== undefined) out += `; fwd-status=${status}`;
  if (opts.stored) out += '; stored';
  if (opts.ttl !== undefined) out += `; ttl=${opts.ttl}`;
  if (opts.detail !== undefined) out += `; detail=${opts.detail}`;
  return { cache, detail: out };
}

/**
 * Why a forwarded answer is not kept, as `detail=` says it: a fixed
 * vocabulary (README, "Cache-Status"), never free text. `stored` appears only
 * when tagcache means to keep the answer.
 */
export type NotStoredDetail =
  | 'private'
  | 'no-store'
  | 'set-cookie'
  | 'vary-star'
  | 'too-large'
  | 'authorization'
  | 'partial'
  | 'status'
  | 'no-freshness'
  | 'method'
  | 'route-bypass';

export function notStoredDetail(reason: NotStorable | 'too-large' | 'request-no-store'): NotStoredDetail {
  return reason === 'request-no-store' ? 'no-store' : reason;
}
