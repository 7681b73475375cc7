/** A compiled route of routes.json. Durations are seconds, as in the file. */
export interface Route {
  readonly name: string;
  readonly pattern: RegExp;
  /** false: every request on the route bypasses the cache. */
  readonly cache: boolean;
  /** Freshness when the backend gives none (applied only to responses a shared cache may store). */
  readonly defaultTtlSeconds: number | undefined;
  /**
   * Forced freshness: replaces the backend's lifetime (max-age, s-maxage,
   * Expires, heuristics) for responses that may be stored, on the statuses a
   * route TTL applies to (200, 203, 204, 300, 301, 308, 404, 410).
   */
  readonly ttlSeconds: number | undefined;
  /** Backend directives the forced ttl also overrides; empty: private, no-store and no-cache still apply. */
  readonly ttlOverrides: readonly TtlOverride[];
  /** stale-while-revalidate window when the backend gives none. */
  readonly staleWhileRevalidateSeconds: number | undefined;
  /** stale-if-error window when the backend gives none. */
  readonly staleIfErrorSeconds: number | undefined;
  /** Tag templates; `{name}` is filled from the pattern's named group. */
  readonly tags: readonly string[];
  /** Backends of this route; undefined means UPSTREAM_URL. */
  readonly upstreams: readonly URL[] | undefined;
  /** Which query parameters are part of the cache key (and reach the backend on a cacheable request). */
  readonly cacheKeyQuery: QueryRule;
  /** Store responses that carry Set-Cookie (the cookie is stored and replayed). */
  readonly cacheSetCookie: boolean;
  /** A token bucket per client address; undefined means no limit. */
  readonly rateLimit: RateLimit | undefined;
  /** false: tagcache never changes the content coding of this route's stored responses. */
  readonly compress: boolean;
}

export type TtlOverride = 'private' | 'no-store' | 'no-cache';

/** routes.json `rateLimit`: a token bucket per client IP. */
export interface RateLimit {
  /** Tokens added per second: the sustained rate. */
  readonly requestsPerSecond: number;
  /** Bucket size: how many requests may come at once after a quiet spell. */
  readonly burst: number;
  /** Cache hits take no token; only requests that go to the backend are limited. */
  readonly exemptHits: boolean;
}

export interface RouteMatch {
  readonly route: Route;
  /** Named groups of the pattern that matched. */
  readonly params: Readonly<Record<string, string>>;
}

/** Where the live table comes from; a reload swaps what current() returns. */
export interface RouteSource {
  current(): RouteTable;
}

export interface RouteTable {
  readonly routes: readonly Route[];
  readonly fallback: Route;
  /** First match wins; the fallback answers the rest. */
  match(path: string): RouteMatch;
}

/** routes.json `cacheKeyQuery`: "all", "none", a list of names kept, or the object form. */
export type QueryRule = 'all' | 'none' | readonly string[] | QueryRuleObject;

/**
 * The object form: which parameters the key keeps (`keep`, default all),
 * which it drops by name glob (`ignore`, after keep) and whether they are
 * sorted by name (stable: a repeated name keeps its order).
 */
export interface QueryRuleObject {
  readonly keep: 'all' | 'none' | readonly string[];
  readonly ignore: readonly string[];
  readonly sort: boolean;
  /** `ignore` compiled: true for a name an `ignore` glob matches (`*` is any run of characters). */
  readonly ignores: ((name: string) => boolean) | undefined;
}
