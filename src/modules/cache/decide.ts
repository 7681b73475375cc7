import type { IncomingHttpHeaders } from 'node:http';
import { deltaSeconds, has, parseDirectives } from './directives.js';
import { currentAge, type Policy } from './policy.js';

/** Request cache directives (RFC 9111 §5.2.1) that change how a stored response may be used. */
export interface RequestDirectives {
  readonly noCache: boolean;
  readonly noStore: boolean;
  readonly onlyIfCached: boolean;
  readonly maxAge: number | undefined;
  readonly minFresh: number | undefined;
  /** true: any staleness is acceptable. */
  readonly maxStale: number | true | undefined;
  readonly staleIfError: number | undefined;
}

/** undefined when the request carries no directives, which is the hit path's common case. */
export function requestDirectives(headers: IncomingHttpHeaders): RequestDirectives | undefined {
  const cc = headers['cache-control'];
  if (cc === undefined) {
    // §5.4: Pragma: no-cache counts only when Cache-Control is absent.
    const pragma = headers.pragma;
    if (pragma === undefined || !/(^|[\s,])no-cache(\s*(,|$))/i.test(pragma)) return undefined;
    return { ...NONE, noCache: true };
  }
  const d = parseDirectives(cc);
  const maxStale = d.map.get('max-stale');
  return {
    noCache: has(d, 'no-cache'),
    noStore: has(d, 'no-store'),
    onlyIfCached: has(d, 'only-if-cached'),
    maxAge: deltaSeconds(d.map.get('max-age')),
    minFresh: deltaSeconds(d.map.get('min-fresh')),
    maxStale: maxStale === true ? true : deltaSeconds(maxStale),
    staleIfError: deltaSeconds(d.map.get('stale-if-error')),
  };
}

const NONE: RequestDirectives = {
  noCache: false,
  noStore: false,
  onlyIfCached: false,
  maxAge: undefined,
  minFresh: undefined,
  maxStale: undefined,
  staleIfError: undefined,
};

export type Decision =
  /** Serve the stored response as it is. */
  | { readonly kind: 'hit'; readonly stale: boolean }
  /** Serve it now and refresh it once in the background (stale-while-revalidate). */
  | { readonly kind: 'stale-refresh' }
  /** Validate upstream first; `request` when only the request's directives forced it. */
  | { readonly kind: 'revalidate'; readonly fwd: 'stale' | 'request' };

/** The moment a stored response stops being fresh: its lifetime, or an earlier soft purge. */
export function staleAt(p: Policy, softPurgedAt: number): number {
  return softPurgedAt > 0 && softPurgedAt < p.fu ? softPurgedAt : p.fu;
}

/**
 * RFC 9111 §4 and RFC 5861 as one pure function of the stored policy, the
 * request's directives and the time.
 */
export function decide(
  p: Policy,
  softPurgedAt: number,
  req: RequestDirectives | undefined,
  now: number,
): Decision {
  const until = staleAt(p, softPurgedAt);
  const fresh = !p.nc && now < until;
  if (req === undefined) {
    if (fresh) return HIT;
    return !p.ns && p.swr > 0 && now < until + p.swr * 1000 ? STALE_REFRESH : REVALIDATE_STALE;
  }
  if (req.noCache) return REVALIDATE_REQUEST;
  if (req.maxAge !== undefined && currentAge(p, now) > req.maxAge) {
    return fresh ? REVALIDATE_REQUEST : REVALIDATE_STALE;
  }
  if (fresh) {
    if (req.minFresh !== undefined && (until - now) / 1000 < req.minFresh) return REVALIDATE_REQUEST;
    return HIT;
  }
  const staleSeconds = (now - until) / 1000;
  if (!p.ns && req.maxStale !== undefined && (req.maxStale === true || staleSeconds <= req.maxStale)) {
    return STALE_HIT;
  }
  if (!p.ns && p.swr > 0 && staleSeconds < p.swr) return STALE_REFRESH;
  return REVALIDATE_STALE;
}

/** Until when a failed revalidation may be answered with the stale entry (RFC 5861 §4). */
export function staleIfErrorUntil(
  p: Policy,
  softPurgedAt: number,
  req: RequestDirectives | undefined,
): number {
  if (p.ns) return 0;
  const window = Math.max(p.sie, req?.staleIfError ?? 0);
  return window === 0 ? 0 : staleAt(p, softPurgedAt) + window * 1000;
}

const HIT: Decision = { kind: 'hit', stale: false };
const STALE_HIT: Decision = { kind: 'hit', stale: true };
const STALE_REFRESH: Decision = { kind: 'stale-refresh' };
const REVALIDATE_STALE: Decision = { kind: 'revalidate', fwd: 'stale' };
const REVALIDATE_REQUEST: Decision = { kind: 'revalidate', fwd: 'request' };
