import { TagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import { cacheKey } from '../cache/cache-key.js';
import type { Metrics } from '../metrics/registry.js';
import type { RouteSource } from '../router/router-stage.js';
import type { RouteTable } from '../router/types.js';
import type { InvalidationMode, InvalidationTarget, Store } from '../store/types.js';

/** What a publisher asked to invalidate; plain data, so a cluster primary can pass it to workers. */
export type InvalidationRequest = {
  readonly target:
    | { readonly kind: 'tags'; readonly tags: readonly string[] }
    | { readonly kind: 'urls'; readonly urls: readonly string[] }
    | { readonly kind: 'all' };
  readonly soft: boolean;
};

export type InvalidationReport = {
  readonly mode: InvalidationMode;
  /** Tags named in the request (kind tags). */
  readonly tags?: number;
  /** URLs named in the request (kind urls). */
  readonly urls?: number;
  /** Entries deleted (hard) or marked stale (soft). */
  readonly entries: number;
  readonly durationMs: number;
};

export interface InvalidatorDeps {
  readonly store: Pick<Store, 'invalidate'>;
  readonly routes: RouteSource;
  readonly metrics: Pick<Metrics, 'invalidations' | 'invalidatedEntries' | 'invalidationDuration'>;
  readonly log: Logger;
}

/**
 * Carries out invalidations against the store and counts them. Store
 * failures reject (TC_STORE_*) for the caller to answer; nothing is counted
 * for them here, the store counts its own errors.
 */
export function createInvalidator({ store, routes, metrics, log }: InvalidatorDeps) {
  return async function invalidate(req: InvalidationRequest): Promise<InvalidationReport> {
    const { target } = req;
    const mode: InvalidationMode = req.soft ? 'soft' : 'hard';
    const started = performance.now();
    const storeTarget: InvalidationTarget =
      target.kind === 'urls' ? { kind: 'keys', keys: urlKeys(target.urls, routes.current()) } : target;
    const { entries } = await store.invalidate(storeTarget, mode);
    const seconds = (performance.now() - started) / 1000;
    metrics.invalidations.labels(target.kind, mode).inc();
    metrics.invalidatedEntries.labels(target.kind).inc(entries);
    metrics.invalidationDuration.labels(target.kind).observe(seconds);
    const durationMs = Math.round(seconds * 100_000) / 100;
    log.debug({ kind: target.kind, mode, entries, durationMs }, 'invalidation carried out');
    if (target.kind === 'tags') return { mode, tags: target.tags.length, entries, durationMs };
    if (target.kind === 'urls') return { mode, urls: target.urls.length, entries, durationMs };
    return { mode, entries, durationMs };
  };
}

/**
 * The cache keys of each URL, under the query rule of the route its path
 * matches. The proxy listens on plain HTTP behind TLS terminators, so
 * whether a client's request counted as http or https depends on the hop in
 * front: both keys go.
 */
export function urlKeys(urls: readonly string[], table: RouteTable): string[] {
  const keys = new Set<string>();
  for (const raw of urls) {
    const url = parseHttpUrl(raw);
    const rule = table.match(url.pathname).route.cacheKeyQuery;
    for (const scheme of ['http', 'https'])
      keys.add(cacheKey(scheme, url.host, url.pathname, url.search, rule));
  }
  return [...keys];
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
