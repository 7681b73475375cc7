import { TagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import { normaliseTarget } from '../../utils/normalise-target.js';
import { keyFor, keyTarget, normaliseHost } from '../cache/cache-key.js';
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
 * matches, normalised exactly as a request's target is (cache-key.ts), so a
 * purge of `/p/{x}`, `/p/a/../b` or `/p/x?q=it's` names what such a request
 * stored. The proxy listens on plain HTTP behind TLS terminators, so whether
 * a client's request counted as http or https depends on the hop in front:
 * both keys go.
 */
export function urlKeys(urls: readonly string[], table: RouteTable): string[] {
  const keys = new Set<string>();
  for (const raw of urls) {
    const url = parseHttpUrl(raw);
    const rule = table.match(url.path).route.cacheKeyQuery;
    const target = keyTarget(url.target, rule);
    for (const scheme of ['http', 'https']) keys.add(keyFor(scheme, url.host, target));
  }
  return [...keys];
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
