import type { NotStorable } from './policy.js';

/**
 * Cache-Status parameters (RFC 9211) after the cache name "tagcache". The
 * handler writes the header; stages describe what happened.
 */
export function hitStatus(ttlSeconds: number, extra?: string): string {
  return extra === undefined ? `hit; ttl=${ttlSeconds}` : `hit; ttl=${ttlSeconds}; ${extra}`;
}

export type Forward = 'uri-miss' | 'vary-miss' | 'miss' | 'stale' | 'request' | 'method' | 'bypass';

export function forwardStatus(
  fwd: Forward,
  status: number | undefined,
  opts: { stored?: boolean; ttl?: number; collapsed?: boolean; detail?: string } = {},
): string {
  let out = `fwd=${fwd}`;
  if (status !== undefined) out += `; fwd-status=${status}`;
  if (opts.stored) out += '; stored';
  if (opts.ttl !== undefined) out += `; ttl=${opts.ttl}`;
  if (opts.collapsed) out += '; collapsed';
  if (opts.detail !== undefined) out += `; detail=${opts.detail}`;
  return out;
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
