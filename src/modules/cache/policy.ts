import type { IncomingHttpHeaders } from 'node:http';
import { type HeaderMap, headerValue } from '../../utils/headers.js';
import type { Route } from '../router/types.js';
import { deltaSeconds } from './directives.js';
import { parseHttpDate } from './http-date.js';

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

export interface KeepWindows {
  /** Kept this long past the stale windows when the entry has a validator, for 304 revalidation. */
  readonly staleKeepSeconds: number;
  /** Kept at least this long past freshness when stale use is allowed, to serve during a backend outage. */
  readonly staleOnOutageSeconds: number;
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

/**
 * JSON.stringify(p) for a policy as computePolicy builds it (its fields in
 * this order), written out by hand: a generic stringify cost ~1 µs per
 * stored miss. The bytes are the same (Redis entries keep their format);
 * a number JSON cannot hold takes the generic route, as JSON would write null.
 */
export function encodePolicy(p: Policy): string {
  const { rt, ia, lt, fu, swr, sie } = p;
  if (!(Number.isFinite(rt) && Number.isFinite(ia) && Number.isFinite(lt) && Number.isFinite(fu)))
    return JSON.stringify(p);
  if (!(Number.isFinite(swr) && Number.isFinite(sie))) return JSON.stringify(p);
  let s = `{"v":${p.v},"rt":${rt},"ia":${ia},"lt":${lt},"fu":${fu},"swr":${swr},"sie":${sie},"ns":${p.ns},"nc":${p.nc}`;
  if (p.etag !== undefined) s += `,"etag":${JSON.stringify(p.etag)}`;
  if (p.lm !== undefined) s += `,"lm":${JSON.stringify(p.lm)}`;
  if (p.vary !== undefined) s += `,"vary":${JSON.stringify(p.vary)}`;
  if (p.sc !== undefined) s += `,"sc":${JSON.stringify(p.sc)}`;
  if (p.au !== undefined) s += `,"au":${p.au}`;
  return `${s}}`;
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
