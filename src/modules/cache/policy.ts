import type { IncomingHttpHeaders } from 'node:http';
import CachePolicy from 'http-cache-semantics';
import { type HeaderMap, headerValue } from '../../utils/headers.js';
import type { Route } from '../router/types.js';
import { type Directives, deltaSeconds, has, secondsOf } from './directives.js';
import { formatHttpDate, parseHttpDate } from './http-date.js';
import { effectiveControl } from './targeted.js';
import { varyNames } from './vary.js';

/**
 * The serialised cache policy of an entry: every number the hit path needs,
 * decided once at store time (times are epoch ms, windows seconds).
 */
export interface Policy {
  readonly v: 1;
  /** When the response (or its last validation) arrived. */
  readonly rt: number;
  /** corrected_initial_age (RFC 9111 §4.2.3), seconds. */
  readonly ia: number;
  /** Freshness lifetime, seconds. */
  readonly lt: number;
  /** Fresh until (epoch ms) = rt + (lifetime − initial age). */
  readonly fu: number;
  /** stale-while-revalidate window, seconds past fu. */
  readonly swr: number;
  /** stale-if-error window, seconds past fu. */
  readonly sie: number;
  /** Never serve stale without validation (must-revalidate, proxy-revalidate, s-maxage, no-cache). */
  readonly ns: boolean;
  /** no-cache: validate on every use. */
  readonly nc: boolean;
  readonly etag?: string;
  readonly lm?: string;
  /** Vary field names (normalised), when the response varies. */
  readonly vary?: readonly string[];
  /** The backend's Surrogate-Control, which clients never see but a 304 refresh must still honour. */
  readonly sc?: string;
  /** Stored from a request with Authorization (RFC 9111 §3.5): revalidations ask with one too. */
  readonly au?: true;
}

export type NotStorable =
  | 'method'
  | 'status'
  | 'no-store'
  | 'private'
  | 'authorization'
  | 'set-cookie'
  | 'vary-star'
  | 'partial'
  | 'no-freshness';

export interface PolicyInput {
  readonly method: string;
  readonly requestHeaders: IncomingHttpHeaders;
  readonly status: number;
  /** The backend's end-to-end headers. */
  readonly headers: HeaderMap;
  /** Epoch ms the request went upstream and its response headers arrived. */
  readonly requestTime: number;
  readonly responseTime: number;
  readonly route: Route;
}

export type PolicyResult =
  | { readonly storable: true; readonly policy: Policy; readonly ttlMs: number }
  | { readonly storable: false; readonly reason: NotStorable };

/** Status codes whose semantics tagcache implements when storing (RFC 9110 §15). */
const UNDERSTOOD = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501]);
/**
 * The statuses a route's defaultTtl and ttl apply to: the heuristically
 * cacheable ones (RFC 9110 §15.1) without the errors a client can provoke
 * (405, 414, 501). Any other error lives for everyone only as long as the
 * backend itself said (max-age, s-maxage, Expires): one crafted request must
 * not take a page down for every visitor (CPDoS).
 */
const ROUTE_TTL_STATUSES = new Set([200, 203, 204, 300, 301, 308, 404, 410]);

export interface KeepWindows {
  /** Kept this long past the stale windows when the entry has a validator, for 304 revalidation. */
  readonly staleKeepSeconds: number;
  /** Kept at least this long past freshness when stale use is allowed, to serve during a backend outage. */
  readonly staleOnOutageSeconds: number;
}

/**
 * Decides whether a response may be stored by a shared cache and, if so, its
 * policy. http-cache-semantics (shared: true) decides storability and the
 * freshness lifetime, fed with headers normalised here to RFC 9111 parsing
 * rules; what it does not cover — targeted fields (RFC 9213), must-understand,
 * stale windows (RFC 5861), age correction (§4.2.3), proxy-revalidate — is
 * decided around it.
 */
export function computePolicy(input: PolicyInput, keep: KeepWindows): PolicyResult {
  const { method, status, headers, route } = input;
  if (method !== 'GET') return { storable: false, reason: 'method' };
  // Only a 206 is partial (RFC 9110 §14.4): a 200 that carries Content-Range is a whole response like any other.
  if (status === 206) return { storable: false, reason: 'partial' };
  const requestCc = headerValue(input.requestHeaders, 'cache-control');
  if (requestCc !== undefined && /(^|[\s,])no-store(\s*(,|$))/i.test(requestCc))
    return { storable: false, reason: 'no-store' };

  const control = effectiveControl(headers);
  const d = control.directives;
  const understood = UNDERSTOOD.has(status);
  // §5.2.2.3: must-understand lets a cache that understands the status ignore no-store.
  if (has(d, 'must-understand') && !understood) return { storable: false, reason: 'status' };
  if (has(d, 'no-store') && !(has(d, 'must-understand') && understood) && !overrides(route, 'no-store'))
    return { storable: false, reason: 'no-store' };
  if (has(d, 'private') && !overrides(route, 'private')) return { storable: false, reason: 'private' };
  const vary = varyNames(headers);
  if (vary === '*') return { storable: false, reason: 'vary-star' };
  if (headers['set-cookie'] !== undefined && !route.cacheSetCookie)
    return { storable: false, reason: 'set-cookie' };

  const normalised = policyHeaders(headers, d, control.source !== 'cache-control');
  const hcs = new CachePolicy(
    { method, url: '/', headers: hcsRequestHeaders(input.requestHeaders, d) },
    // A final status outside hcs's list is storable with explicit freshness (§3); hcs is asked as for a 200.
    { status: understood ? status : 200, headers: normalised },
    { shared: true },
  );
  const explicit = hasExplicitFreshness(d, normalised);
  // Any final status may be stored with explicit freshness, or heuristically when marked public (§3, §4.2.2).
  if (!understood && !explicit && !has(d, 'public')) return { storable: false, reason: 'status' };
  // An error other than 404/410 is stored only when the backend marked it so (see ROUTE_TTL_STATUSES).
  if (status >= 400 && !explicit && !has(d, 'public') && !ROUTE_TTL_STATUSES.has(status))
    return { storable: false, reason: 'status' };
  if (!hcs.storable()) {
    return {
      storable: false,
      reason: input.requestHeaders.authorization !== undefined ? 'authorization' : 'no-freshness',
    };
  }

  const routeTtl = ROUTE_TTL_STATUSES.has(status);
  let lifetime = Math.max(0, hcs.maxAge());
  if (!explicit && route.defaultTtlSeconds !== undefined && routeTtl) lifetime = route.defaultTtlSeconds;
  // The route's forced ttl replaces whatever lifetime the backend gave (Fastly's beresp.ttl).
  if (route.ttlSeconds !== undefined && routeTtl) lifetime = route.ttlSeconds;
  const noCache = has(d, 'no-cache') && !overrides(route, 'no-cache');
  if (noCache) lifetime = 0;

  const swrGiven = secondsOf(d, 'stale-while-revalidate');
  const sieGiven = secondsOf(d, 'stale-if-error');
  // s-maxage implies proxy-revalidate (§5.2.2.10) unless the response grants stale use explicitly (RFC 5861).
  const noStale =
    noCache ||
    has(d, 'must-revalidate') ||
    has(d, 'proxy-revalidate') ||
    (has(d, 's-maxage') && swrGiven === undefined && sieGiven === undefined);
  const swr = noStale ? 0 : (swrGiven ?? route.staleWhileRevalidateSeconds ?? 0);
  const sie = noStale ? 0 : (sieGiven ?? route.staleIfErrorSeconds ?? 0);

  const initialAge = correctedInitialAge(headers, input.requestTime, input.responseTime);
  const freshUntil = input.responseTime + (lifetime - initialAge) * 1000;
  const etag = headerValue(headers, 'etag');
  const lm = headerValue(headers, 'last-modified');
  const policy: Policy = {
    v: 1,
    rt: input.responseTime,
    ia: initialAge,
    lt: lifetime,
    fu: freshUntil,
    swr,
    sie,
    ns: noStale,
    nc: noCache,
    ...(etag !== undefined ? { etag } : {}),
    ...(lm !== undefined ? { lm } : {}),
    ...(vary !== undefined ? { vary } : {}),
    ...(headers['surrogate-control'] !== undefined ? { sc: headerValue(headers, 'surrogate-control') } : {}),
    ...(input.requestHeaders.authorization !== undefined ? { au: true as const } : {}),
  };
  const ttlMs = Math.ceil(keptUntil(policy, keep) - input.responseTime);
  if (ttlMs <= 0) return { storable: false, reason: 'no-freshness' };
  return { storable: true, policy, ttlMs };
}

/**
 * Until when (epoch ms) the store keeps an entry of this policy: past its
 * stale windows, longer when it has a validator (304 revalidation) or may be
 * served through a backend outage. Also what an entry rewritten later (a form
 * made on a hit, lazy-forms.ts) is kept until.
 */
export function keptUntil(p: Policy, keep: KeepWindows): number {
  const hasValidator = p.etag !== undefined || (p.lm !== undefined && !Number.isNaN(parseHttpDate(p.lm)));
  // Only a response that was fresh for a while is worth keeping for an outage; one born stale is not.
  const keepSeconds = Math.max(
    Math.max(p.swr, p.sie) + (hasValidator ? keep.staleKeepSeconds : 0),
    p.ns || p.lt <= p.ia ? 0 : keep.staleOnOutageSeconds,
  );
  return p.fu + keepSeconds * 1000;
}

/** The route's ttlOverrides names this backend directive (it then counts only with the route's ttl). */
function overrides(route: Route, directive: 'no-store' | 'private' | 'no-cache'): boolean {
  return route.ttlSeconds !== undefined && route.ttlOverrides.includes(directive);
}

function hasExplicitFreshness(d: Directives, normalised: Record<string, string>): boolean {
  return has(d, 's-maxage') || has(d, 'max-age') || normalised.expires !== undefined;
}

/**
 * What http-cache-semantics sees: a canonical Cache-Control rebuilt from the
 * effective directives (so quoting, case and duplicates follow RFC 9111, not
 * its naive split), Expires only when valid (else an expired date), and no
 * directives it mishandles: proxy-revalidate (it zeroes freshness) and
 * no-store/private (decided above).
 */
function policyHeaders(headers: HeaderMap, d: Directives, targeted: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const parts: string[] = [];
  for (const [name, value] of d.map) {
    if (
      name === 'proxy-revalidate' ||
      name === 'must-revalidate' ||
      name === 'no-store' ||
      name === 'private'
    )
      continue;
    if (name === 'max-age' || name === 's-maxage') {
      parts.push(`${name}=${deltaSeconds(value) ?? 0}`);
      continue;
    }
    if (name === 'stale-while-revalidate' || name === 'stale-if-error') continue;
    parts.push(value === true ? name : `${name}=${value}`);
  }
  if (parts.length > 0) out['cache-control'] = parts.join(', ');
  const date = headerValue(headers, 'date');
  const dateMs = parseHttpDate(date);
  if (!Number.isNaN(dateMs)) out.date = formatHttpDate(dateMs);
  if (!targeted) {
    const expires = headers.expires;
    if (expires !== undefined) {
      // A repeated or invalid Expires means already expired (§5.3).
      const ms =
        Array.isArray(expires) && expires.length > 1
          ? Number.NaN
          : parseHttpDate(headerValue(headers, 'expires'));
      out.expires = Number.isNaN(ms) ? 'Thu, 01 Jan 1970 00:00:00 GMT' : formatHttpDate(ms);
    }
  }
  const lm = parseHttpDate(headerValue(headers, 'last-modified'));
  if (!Number.isNaN(lm)) out['last-modified'] = formatHttpDate(lm);
  if (headers.vary !== undefined) out.vary = headerValue(headers, 'vary') ?? '';
  return out;
}

/**
 * hcs never sees must-revalidate (policyHeaders), which like public and s-maxage lets a shared cache
 * store the answer to a request with Authorization (RFC 9111 §3.5): it is then not told of one.
 */
function hcsRequestHeaders(headers: IncomingHttpHeaders, d: Directives): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers.authorization !== undefined && !has(d, 'must-revalidate'))
    out.authorization = headers.authorization;
  return out;
}

/** RFC 9111 §5.1: Age is delta-seconds; an invalid value is ignored, a repeated one uses the first. */
export function ageValue(headers: HeaderMap): number {
  const raw = headers.age;
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (first === undefined) return 0;
  return deltaSeconds(first.split(',')[0]?.trim()) ?? 0;
}

/** corrected_initial_age (RFC 9111 §4.2.3), seconds. */
export function correctedInitialAge(headers: HeaderMap, requestTime: number, responseTime: number): number {
  const dateMs = parseHttpDate(headerValue(headers, 'date'));
  const apparentAge = Number.isNaN(dateMs) ? 0 : Math.max(0, (responseTime - dateMs) / 1000);
  const responseDelay = Math.max(0, (responseTime - requestTime) / 1000);
  const correctedAgeValue = ageValue(headers) + responseDelay;
  return Math.max(apparentAge, correctedAgeValue);
}

/** current_age (§4.2.3) at now, seconds. */
export function currentAge(p: Policy, now: number): number {
  return p.ia + Math.max(0, (now - p.rt) / 1000);
}

export function encodePolicy(p: Policy): string {
  return JSON.stringify(p);
}

/** undefined for an unknown serialisation version: the entry is then a miss. */
export function decodePolicy(s: string): Policy | undefined {
  try {
    const p = JSON.parse(s) as Policy;
    return p !== null && typeof p === 'object' && p.v === 1 && typeof p.fu === 'number' ? p : undefined;
  } catch {
    return undefined;
  }
}
