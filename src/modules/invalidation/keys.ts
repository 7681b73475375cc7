import { TagcacheError } from '../../utils/errors.js';
import { cacheKey, normaliseHost } from '../cache/cache-key.js';
import type { RouteTable } from '../router/types.js';

/**
 * The scheme rule, one for every invalidation (purge API, PURGE, unsafe
 * methods): a URL names both its http and its https keys. tagcache listens on
 * plain HTTP behind TLS terminators, so which scheme a client's request was
 * keyed under depends on the hop in front (and on X-Forwarded-Proto from
 * TRUSTED_PROXIES); purging both costs nothing when one is absent and never
 * leaves the other copy behind.
 */
const SCHEMES = ['http', 'https'] as const;

/** The cache keys of a URL: both schemes, its query kept as the route its path matches says. */
export function keysForUrl(url: URL, table: RouteTable): string[] {
  const rule = table.match(url.pathname).route.cacheKeyQuery;
  return SCHEMES.map((scheme) => cacheKey(scheme, url.host, url.pathname, url.search, rule));
}

/** keysForUrl of each URL, without repeats. */
export function urlKeys(urls: readonly string[], table: RouteTable): string[] {
  const keys = new Set<string>();
  for (const raw of urls) for (const key of keysForUrl(parseHttpUrl(raw), table)) keys.add(key);
  return [...keys];
}

/**
 * Key prefixes of a URL prefix, for both schemes: the host normalised as cache
 * keys have it, the path and query as written (compared with the stored key,
 * whose query is what the route keeps).
 */
export function prefixKeys(prefixes: readonly string[]): string[] {
  const keys = new Set<string>();
  for (const raw of prefixes) {
    const url = parseHttpUrl(raw);
    for (const scheme of SCHEMES)
      keys.add(`${scheme}://${normaliseHost(url.host, scheme)}${url.pathname}${url.search}`);
  }
  return [...keys];
}

/** The sites (`scheme://host`) of a host scope, both schemes. */
export function sitesForHost(host: string): string[] {
  return SCHEMES.map((scheme) => `${scheme}://${normaliseHost(host, scheme)}`);
}

/** An absolute http(s) URL, or TC_BAD_INVALIDATION saying what it is instead. */
export function parseHttpUrl(raw: string): URL {
  const expected = 'expected an absolute http:// or https:// URL such as https://example.com/products/1';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TagcacheError(
      'TC_BAD_INVALIDATION',
      `URL ${JSON.stringify(raw.slice(0, 200))} is not absolute: ${expected}`,
      400,
    );
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    throw new TagcacheError(
      'TC_BAD_INVALIDATION',
      `URL ${JSON.stringify(raw.slice(0, 200))} is not http(s): ${expected}`,
      400,
    );
  }
  return url;
}
