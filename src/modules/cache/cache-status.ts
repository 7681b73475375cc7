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
  opts: { stored?: boolean; ttl?: number; collapsed?: boolean } = {},
): string {
  let out = `fwd=${fwd}`;
  if (status !== undefined) out += `; fwd-status=${status}`;
  if (opts.stored) out += '; stored';
  if (opts.ttl !== undefined) out += `; ttl=${opts.ttl}`;
  if (opts.collapsed) out += '; collapsed';
  return out;
}
