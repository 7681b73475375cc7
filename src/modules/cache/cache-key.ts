import { boundedMemo } from '../../utils/bounded-memo.js';
/**
 * Cache keys: scheme, normalised host, path and the query the route keeps.
 * HEAD shares GET's key, so HEAD is answered from a cached GET.
 */
export type QueryRule = 'all' | 'none' | readonly string[];

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

/** The query part of the key ('' or starting with '?') under the route's rule. */
export function keyQuery(query: string, rule: QueryRule): string {
  if (rule === 'all' || query === '' || query === '?') return query === '?' ? '' : query;
  if (rule === 'none') return '';
  const kept: string[] = [];
  for (const pair of query.slice(1).split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      name = rawName;
    }
    if (rule.includes(name)) kept.push(pair);
  }
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}

export function cacheKey(scheme: string, host: string, path: string, query: string, rule: QueryRule): string {
  return `${scheme}://${normaliseHost(host, scheme)}${path}${keyQuery(query, rule)}`;
}
