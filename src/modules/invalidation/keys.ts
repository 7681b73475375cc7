import { TagcacheError } from '../../utils/errors.js';
import { normaliseTarget } from '../../utils/normalise-target.js';
import { keyFor, keyTarget, normaliseHost } from '../cache/cache-key.js';
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

/**
 * The cache keys of a URL: both schemes, normalised exactly as a request's
 * target is (cache-key.ts), its query kept as the route its path matches says,
 * so a purge of `/p/{x}`, `/p/a/../b` or `/p/x?q=it's` names what such a
 * request stored.
 */
export function keysForUrl(url: PurgeUrl, table: RouteTable): string[] {
  const target = keyTarget(url.target, table.match(url.path).route.cacheKeyQuery);
  return SCHEMES.map((scheme) => keyFor(scheme, url.host, target));
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
    const { path, query } = normaliseTarget(url.target);
    for (const scheme of SCHEMES) keys.add(`${scheme}://${normaliseHost(url.host, scheme)}${path}${query}`);
  }
  return [...keys];
}

/** The sites (`scheme://host`) of a host scope, both schemes. */
export function sitesForHost(host: string): string[] {
  return SCHEMES.map((scheme) => `${scheme}://${normaliseHost(host, scheme)}`);
}

export interface PurgeUrl {
  /** Host and port, normalised for the URL's own scheme (no default port). */
  readonly host: string;
  /** Path and query as written (the fragment is dropped by the normalisation). */
  readonly target: string;
  /** The normalised path, for the route match. */
  readonly path: string;
}

const ABSOLUTE = /^(https?):\/\/(?:[^/?#@]*@)?([^/?#]+)([\s\S]*)$/i;

/**
 * An absolute http(s) URL, or TC_BAD_INVALIDATION saying what it is instead.
 * Split by hand rather than by the WHATWG parser, which re-encodes (`{` →
 * `%7B`) and resolves (`a/../b`) in its own way; the key's normalisation
 * then treats the path and query exactly as a request's.
 */
export function parseHttpUrl(raw: string): PurgeUrl {
  const expected = 'expected an absolute http:// or https:// URL such as https://example.com/products/1';
  const m = ABSOLUTE.exec(raw);
  if (m === null) {
    const why =
      /^[a-z][a-z0-9+.-]*:/i.test(raw) && !/^https?:/i.test(raw) ? 'is not http(s)' : 'is not absolute';
    throw new TagcacheError(
      'TC_BAD_INVALIDATION',
      `URL ${JSON.stringify(raw.slice(0, 200))} ${why}: ${expected}`,
      400,
    );
  }
  const scheme = (m[1] as string).toLowerCase();
  const authority = m[2] as string;
  if (!/^(\[[0-9a-f:.]+\]|[^\s[\]:]+)(:\d{0,5})?$/i.test(authority)) {
    throw new TagcacheError(
      'TC_BAD_INVALIDATION',
      `URL ${JSON.stringify(raw.slice(0, 200))} has no valid host: ${expected}`,
      400,
    );
  }
  const rest = m[3] as string;
  const target = rest === '' || !rest.startsWith('/') ? `/${rest}` : rest;
  return { host: normaliseHost(authority, scheme), target, path: normaliseTarget(target).path };
}
