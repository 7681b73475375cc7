import { headerValue } from '../../utils/headers.js';
import type { Route } from '../router/types.js';
import { type Directives, has, secondsOf } from './directives.js';
import { hcsAuthorization, policyHeaders } from './hcs-input.js';
import { hcsVerdict } from './hcs-verdict.js';
import {
  correctedInitialAge,
  type KeepWindows,
  keptUntil,
  type Policy,
  type PolicyInput,
  type PolicyResult,
} from './policy.js';
import { effectiveControl } from './targeted.js';
import { varyNames } from './vary.js';

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
  const explicit = hasExplicitFreshness(d, normalised);
  // Any final status may be stored with explicit freshness, or heuristically when marked public (§3, §4.2.2).
  if (!understood && !explicit && !has(d, 'public')) return { storable: false, reason: 'status' };
  // An error other than 404/410 is stored only when the backend marked it so (see ROUTE_TTL_STATUSES).
  if (status >= 400 && !explicit && !has(d, 'public') && !ROUTE_TTL_STATUSES.has(status))
    return { storable: false, reason: 'status' };
  const hcs = hcsVerdict(
    // A final status outside hcs's list is storable with explicit freshness (§3); hcs is asked as for a 200.
    understood ? status : 200,
    hcsAuthorization(input.requestHeaders, d),
    normalised,
  );
  if (!hcs.storable) {
    return {
      storable: false,
      reason: input.requestHeaders.authorization !== undefined ? 'authorization' : 'no-freshness',
    };
  }

  const routeTtl = ROUTE_TTL_STATUSES.has(status);
  let lifetime = Math.max(0, hcs.maxAge);
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
  const policy: { -readonly [K in keyof Policy]: Policy[K] } = {
    v: 1,
    rt: input.responseTime,
    ia: initialAge,
    lt: lifetime,
    fu: freshUntil,
    swr,
    sie,
    ns: noStale,
    nc: noCache,
  };
  // Set one by one in this order (the serialised policy keeps it), not spread in: a spread per field cost a shape change each.
  if (etag !== undefined) policy.etag = etag;
  if (lm !== undefined) policy.lm = lm;
  if (vary !== undefined) policy.vary = vary;
  const sc = headerValue(headers, 'surrogate-control');
  if (sc !== undefined) policy.sc = sc;
  if (input.requestHeaders.authorization !== undefined) policy.au = true;
  const ttlMs = Math.ceil(keptUntil(policy, keep) - input.responseTime);
  if (ttlMs <= 0) return { storable: false, reason: 'no-freshness' };
  return { storable: true, policy, ttlMs };
}

/** The route's ttlOverrides names this backend directive (it then counts only with the route's ttl). */
function overrides(route: Route, directive: 'no-store' | 'private' | 'no-cache'): boolean {
  return route.ttlSeconds !== undefined && route.ttlOverrides.includes(directive);
}

function hasExplicitFreshness(d: Directives, normalised: Record<string, string>): boolean {
  return has(d, 's-maxage') || has(d, 'max-age') || normalised.expires !== undefined;
}
