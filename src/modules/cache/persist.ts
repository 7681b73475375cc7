import type { IncomingHttpHeaders } from 'node:http';
import type { Metrics } from '../metrics/registry.js';
import type { StoredEntry } from '../store/types.js';
import { buildEntry, variantId, varyMarker, withLength } from './entry.js';
import type { Policy } from './policy.js';
import type { Prepared } from './representation.js';
import type { PutOutcome, StoreAccess } from './store-access.js';
import { selectingNames, variantKey } from './vary.js';

type Writer = { readonly store: StoreAccess; readonly metrics: Metrics };

/** What an entry is written with, besides its prepared body and headers. */
export interface EntryFields {
  readonly key: string;
  readonly policy: Policy;
  readonly ttlMs: number;
  readonly url: string;
  readonly route: string;
  readonly storedAt: number;
  readonly status: number;
  readonly tags: readonly string[];
  /** The request's fields, which select the variant. */
  readonly request: IncomingHttpHeaders;
  /** Whether tagcache may answer the body in other codings (vary.ts). */
  readonly transformable: boolean;
}

/**
 * Writes the entry made of a prepared body (and its vary marker), and
 * settles on it: undefined when a purge since the request refused the write.
 */
export function entryWriter(
  deps: Writer,
  f: EntryFields,
): (prepared: Prepared) => Promise<StoredEntry | undefined> {
  return (prepared) => {
    try {
      return write(deps, f, prepared);
    } catch (err) {
      // Settled, never thrown: callers run this inside a body's end (store-response.ts).
      return Promise.reject(err);
    }
  };
}

function write(deps: Writer, f: EntryFields, prepared: Prepared): Promise<StoredEntry | undefined> {
  // Accept-Encoding selects no variant of a body tagcache can answer in any coding (vary.ts).
  const names = selectingNames(f.policy.vary, prepared.headers, f.transformable);
  const variant = names === undefined ? undefined : variantKey(names, f.request);
  // Plain literals, no spread of shared fields: a spread then more fields cost a shape change per entry.
  const entry = buildEntry({
    id: variant === undefined ? f.key : variantId(f.key, variant),
    key: f.key,
    status: f.status,
    // The prepared headers are this write's own (storedHeaders' snapshot, or representation's copy of it).
    headers: withLength(prepared.headers, prepared.body.length),
    body: prepared.body,
    policy: f.policy,
    tags: f.tags,
    url: f.url,
    route: f.route,
    storedAt: f.storedAt,
    forms: prepared.forms,
  });
  const marker =
    names === undefined
      ? undefined
      : varyMarker(
          { id: f.key, key: f.key, policy: f.policy, url: f.url, route: f.route, storedAt: f.storedAt },
          names,
        );
  return persist(entry, f.policy, f.ttlMs, deps, f.route, marker);
}

/**
 * Writes the entry (and its marker) and settles on it, or on undefined when the store refused either.
 * Plain `then`s rather than async functions awaiting each other: a stored miss went through three
 * promise steps (and three promises) more than the write itself takes.
 */
function persist(
  entry: StoredEntry,
  policy: Policy,
  ttlMs: number,
  deps: Writer,
  route: string,
  marker: StoredEntry | undefined,
): Promise<StoredEntry | undefined> {
  const done = (markerStored: PutOutcome, stored: PutOutcome): StoredEntry | undefined => {
    if (markerStored === 'stored' && stored === 'stored') {
      const series = storedSeries(deps.metrics, route);
      series.ttl.observe(Math.max(0, policy.lt - policy.ia));
      // Every form held counts: the plain body and each encoded copy.
      const forms = entry.forms;
      series.bytes.observe(entry.body.length + (forms?.gzip?.length ?? 0) + (forms?.br?.length ?? 0));
    }
    // A store that failed refused nothing: the answer is as good as it was.
    return markerStored === 'refused' || stored === 'refused' ? undefined : entry;
  };
  if (marker === undefined) return deps.store.put(entry, ttlMs).then((stored) => done('stored', stored));
  // Both writes start at once, the marker first: a near tier (memory, or Redis's local tier) takes
  // both before this returns, so the next request finds the variant; awaiting the marker's Redis
  // round trip first left a window where it did not. A variant whose marker failed is unreachable
  // and expires with its TTL; one whose marker a purge refused is refused by the same tombstone.
  return Promise.all([deps.store.put(marker, ttlMs), deps.store.put(entry, ttlMs)]).then(([m, stored]) =>
    done(m, stored),
  );
}

interface StoredSeries {
  readonly ttl: ReturnType<Metrics['storedTtl']['labels']>;
  readonly bytes: ReturnType<Metrics['storedBytes']['labels']>;
}

/** Each route's series, found once per registry: labels() validates and wraps its arguments on every call. */
const seriesByMetrics = new WeakMap<Metrics, Map<string, StoredSeries>>();

function storedSeries(metrics: Metrics, route: string): StoredSeries {
  let byRoute = seriesByMetrics.get(metrics);
  if (byRoute === undefined) {
    byRoute = new Map();
    seriesByMetrics.set(metrics, byRoute);
  }
  let series = byRoute.get(route);
  if (series === undefined) {
    series = { ttl: metrics.storedTtl.labels(route), bytes: metrics.storedBytes.labels(route) };
    byRoute.set(route, series);
  }
  return series;
}
