import { boundedMemo } from '../../utils/bounded-memo.js';
import { normaliseTarget } from '../../utils/normalise-target.js';
import type { QueryRule, QueryRuleObject } from '../router/types.js';

/**
 * Cache keys: scheme, normalised host, then the normalised path and the query
 * the route keeps (keyTarget), which is also what a cacheable request sends
 * upstream. HEAD shares GET's key, so HEAD is answered from a cached GET.
 */
export type { QueryRule };

const DEFAULT_PORT: Record<string, string> = { http: '80', https: '443' };

const normalisedHttp = boundedMemo(1024, (host) => normaliseHostUncached(host, 'http'));
const normalisedHttps = boundedMemo(1024, (host) => normaliseHostUncached(host, 'https'));

/**
 * Lower-case, no trailing dot, no default port: "Example.COM.:80" and
 * "example.com" are one host. Remembered, since a proxy sees few hosts and
 * asks on every request; the memo is dropped when it grows (hostile Hosts).
 */
export function normaliseHost(host: string, scheme: string): string {
  if (scheme === 'http') return normalisedHttp(host);
  if (scheme === 'https') return normalisedHttps(host);
  return normaliseHostUncached(host, scheme);
}

function normaliseHostUncached(host: string, scheme: string): string {
  let h = host.trim().toLowerCase();
  let port = '';
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(h);
  if (m !== null) {
    h = m[1] ?? '';
    port = m[2] ?? '';
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (port === '' || port === DEFAULT_PORT[scheme]) return h;
  return `${h}:${port}`;
}

/**
 * The query part of the key ('' or starting with '?') under the route's rule.
 * The query is taken as it came (fragment already gone); parameter names are
 * compared form-decoded (`utm%5Fsource` is `utm_source`).
 */
export function keyQuery(query: string, rule: QueryRule): string {
  if (query === '' || query === '?') return '';
  if (rule === 'all') return query;
  if (rule === 'none') return '';
  const object = Array.isArray(rule) ? undefined : (rule as QueryRuleObject);
  const keep = object === undefined ? (rule as readonly string[]) : object.keep;
  if (keep === 'none') return '';
  if (object !== undefined && keep === 'all' && object.ignores === undefined && !object.sort) return query;
  const kept: { name: string; pair: string }[] = [];
  for (const pair of query.slice(1).split('&')) {
    if (pair === '') continue;
    const name = paramName(pair);
    if (keep !== 'all' && !keep.includes(name)) continue;
    if (object?.ignores?.(name) === true) continue;
    kept.push({ name, pair });
  }
  if (object?.sort) kept.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return kept.length === 0 ? '' : `?${kept.map((k) => k.pair).join('&')}`;
}

function paramName(pair: string): string {
  const eq = pair.indexOf('=');
  const raw = eq === -1 ? pair : pair.slice(0, eq);
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/**
 * The target a cacheable request is keyed by and forwarded with: the
 * normalised path and the query the route keeps. Nothing outside the key
 * reaches the backend, so no client can make the stored answer differ from
 * what the key says it is (unkeyed parameters, fragments, dot segments).
 */
export function keyTarget(target: string, rule: QueryRule): string {
  const { path, query } = normaliseTarget(target);
  return `${path}${keyQuery(query, rule)}`;
}

export function cacheKey(scheme: string, host: string, target: string, rule: QueryRule): string {
  return keyFor(scheme, host, keyTarget(target, rule));
}

/** The key of an already-normalised target (keyTarget's result). */
export function keyFor(scheme: string, host: string, keyedTarget: string): string {
  return `${scheme}://${normaliseHost(host, scheme)}${keyedTarget}`;
}
