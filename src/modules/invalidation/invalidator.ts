import type { Logger } from '../../utils/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { RouteSource } from '../router/types.js';
import type { InvalidationMode, InvalidationTarget, Store } from '../store/types.js';
import type { History } from './history.js';
import { prefixKeys, sitesForHost, urlKeys } from './keys.js';
import { type InvalidationReport, type InvalidationRequest, itemsOf } from './types.js';

/** Who asked, for the history and the log line. */
export interface InvalidationOrigin {
  /** The token's name (never the token), or `PURGE_ALLOW`. */
  readonly by: string;
  /** The client's address. */
  readonly client?: string;
  /** false: another process of the same purge logs and records it (cluster workers with memory stores). */
  readonly record?: boolean;
  /** Entries the other processes of the same purge affected, reported and recorded with this one's. */
  readonly otherEntries?: number;
}

/** Tags, URLs or prefixes named in the log line; the counts say the rest. */
const LOGGED_ITEMS = 20;

export interface InvalidatorDeps {
  readonly store: Pick<Store, 'invalidate'>;
  readonly routes: RouteSource;
  readonly metrics: Pick<Metrics, 'invalidations' | 'invalidatedEntries' | 'invalidationDuration'>;
  readonly log: Logger;
  /** Where each carried-out invalidation is recorded; none in tests of other things. */
  readonly history?: History;
}

/**
 * Carries out invalidations against the store, counts them, logs each in one
 * info line and records it in the history. Store failures reject
 * (TC_STORE_*) for the caller to answer; nothing is counted for them here,
 * the store counts its own errors. A history that cannot be written is
 * logged, never a failed purge.
 */
export function createInvalidator({ store, routes, metrics, log, history }: InvalidatorDeps) {
  return async function invalidate(
    req: InvalidationRequest,
    origin: InvalidationOrigin = { by: 'unknown' },
  ): Promise<InvalidationReport> {
    const { target } = req;
    const mode: InvalidationMode = req.soft ? 'soft' : 'hard';
    const started = performance.now();
    const { entries } = await store.invalidate(storeTarget(req, routes), mode);
    const seconds = (performance.now() - started) / 1000;
    metrics.invalidations.labels(target.kind, mode).inc();
    metrics.invalidatedEntries.labels(target.kind).inc(entries);
    metrics.invalidationDuration.labels(target.kind).observe(seconds);
    const durationMs = Math.round(seconds * 100_000) / 100;
    log.debug({ kind: target.kind, mode, entries, durationMs }, 'invalidation carried out');
    const report = reportOf(req, mode, entries + (origin.otherEntries ?? 0), durationMs);
    if (origin.record === false) return report;
    log.info(
      {
        client: origin.client,
        tokenName: origin.by,
        kind: target.kind,
        ...report,
        items: itemsOf(req).slice(0, LOGGED_ITEMS),
      },
      'invalidated',
    );
    await history
      ?.record(req, report, origin.by)
      .catch((err: unknown) =>
        log.warn({ err }, 'the invalidation was carried out but not recorded in the history'),
      );
    return report;
  };
}

/** The store's terms: URLs become their keys, a host its sites, prefixes key prefixes. */
function storeTarget(req: InvalidationRequest, routes: RouteSource): InvalidationTarget {
  const { target } = req;
  if (target.kind === 'urls') return { kind: 'keys', keys: urlKeys(target.urls, routes.current()) };
  if (target.kind === 'prefixes') return { kind: 'prefixes', prefixes: prefixKeys(target.prefixes) };
  if (target.kind === 'tags' && target.host !== undefined)
    return { kind: 'tags', tags: target.tags, sites: sitesForHost(target.host) };
  if (target.kind === 'tags') return { kind: 'tags', tags: target.tags };
  return { kind: 'all' };
}

function reportOf(
  req: InvalidationRequest,
  mode: InvalidationMode,
  entries: number,
  durationMs: number,
): InvalidationReport {
  const { target } = req;
  if (target.kind === 'tags') {
    const host = target.host === undefined ? {} : { host: target.host };
    return { mode, tags: target.tags.length, ...host, entries, durationMs };
  }
  if (target.kind === 'urls') return { mode, urls: target.urls.length, entries, durationMs };
  if (target.kind === 'prefixes') return { mode, prefixes: target.prefixes.length, entries, durationMs };
  return { mode, entries, durationMs };
}
