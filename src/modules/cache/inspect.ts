import { keysForUrl, parseHttpUrl } from '../invalidation/keys.js';
import type { RouteSource } from '../router/types.js';
import type { InspectedEntry, Store } from '../store/types.js';
import { staleAt } from './decide.js';
import { VARY_MARKER_STATUS } from './entry.js';
import { currentAge, decodePolicy } from './policy.js';
import type { Refusal, RefusalLog } from './refusals.js';

/** One stored entry as GET /entries shows it. */
export interface EntryView {
  /** The request field values this variant answers ({} when the response does not vary). */
  readonly variant: Readonly<Record<string, string | null>>;
  readonly status: number;
  readonly url: string;
  readonly route: string;
  readonly tags: readonly string[];
  readonly ageSeconds: number;
  /** Seconds until stale (0 once stale). */
  readonly freshForSeconds: number;
  readonly stale: boolean;
  readonly staleWhileRevalidateSeconds: number;
  readonly staleIfErrorSeconds: number;
  /** must-revalidate, proxy-revalidate, s-maxage or no-cache: never answered stale. */
  readonly mustRevalidate: boolean;
  readonly softPurgedAt: string | null;
  readonly bodyBytes: number;
  readonly contentEncoding: string;
  /** Seconds until the store drops it (past its stale windows and keep). */
  readonly keptForSeconds: number;
  readonly storedAt: string;
}

export interface KeyView {
  readonly key: string;
  /** The request fields the key's variants are selected by, when it varies. */
  readonly vary: readonly string[] | null;
  readonly variants: readonly EntryView[];
  /** Why the last response for this key was not stored, when one was refused recently on this instance. */
  readonly notStored: (Omit<Refusal, 'at'> & { readonly at: string }) | null;
}

export interface EntryLookup {
  /** Every key of the URL (both schemes) with its variants. */
  byUrl(url: string): Promise<{ url: string; keys: KeyView[] }>;
  byTag(
    tag: string,
    limit: number,
  ): Promise<{ tag: string; count: number; urls: string[]; entries: EntryView[] }>;
}

/** Look-ups for the admin API: the store's entries read through the cache's own rules. */
export function createEntryLookup(deps: {
  store: Pick<Store, 'inspectKey' | 'inspectTag'>;
  routes: RouteSource;
  refusals: RefusalLog;
}): EntryLookup {
  const { store, routes, refusals } = deps;
  return {
    async byUrl(raw) {
      const keys = keysForUrl(parseHttpUrl(raw), routes.current());
      const found = await Promise.all(keys.map((key) => store.inspectKey(key)));
      return {
        url: raw,
        keys: keys.map((key, i) => {
          const entries = found[i] ?? [];
          const marker = entries.find((e) => e.status === VARY_MARKER_STATUS && e.id === key);
          const refusal = refusals.get(key);
          return {
            key,
            vary: marker === undefined ? null : varyOf(marker),
            variants: entries.filter((e) => e !== marker).map((e) => describeEntry(e, Date.now())),
            notStored: refusal === undefined ? null : { ...refusal, at: new Date(refusal.at).toISOString() },
          };
        }),
      };
    },
    async byTag(tag, limit) {
      const { count, entries } = await store.inspectTag(tag, limit);
      const now = Date.now();
      return {
        tag,
        count,
        urls: [...new Set(entries.map((e) => e.url))],
        entries: entries.map((e) => describeEntry(e, now)),
      };
    },
  };
}

export function describeEntry(e: InspectedEntry, now: number): EntryView {
  const policy = decodePolicy(e.policy);
  const until = policy === undefined ? 0 : staleAt(policy, e.softPurgedAt);
  const encoding = e.headers['content-encoding'];
  return {
    variant: variantOf(e),
    status: e.status,
    url: e.url,
    route: e.route,
    tags: e.tags,
    ageSeconds: policy === undefined ? 0 : Math.round(currentAge(policy, now)),
    freshForSeconds: Math.max(0, Math.round((until - now) / 1000)),
    stale: policy === undefined || policy.nc || now >= until,
    staleWhileRevalidateSeconds: policy?.swr ?? 0,
    staleIfErrorSeconds: policy?.sie ?? 0,
    mustRevalidate: policy?.ns ?? false,
    softPurgedAt: e.softPurgedAt > 0 ? new Date(e.softPurgedAt).toISOString() : null,
    bodyBytes: e.bodyBytes,
    contentEncoding: (Array.isArray(encoding) ? encoding.join(', ') : encoding) ?? 'identity',
    keptForSeconds: Math.round(e.ttlMs / 1000),
    storedAt: new Date(e.storedAt).toISOString(),
  };
}

function varyOf(marker: InspectedEntry): string[] {
  const vary = marker.headers.vary;
  const text = Array.isArray(vary) ? vary.join(',') : (vary ?? '');
  return text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** A variant's id is its key, a newline, then `name:value\n` per field (vary.ts); NUL means absent. */
function variantOf(e: InspectedEntry): Record<string, string | null> {
  if (e.id === e.key || !e.id.startsWith(`${e.key}\n`)) return {};
  const out: Record<string, string | null> = {};
  for (const line of e.id.slice(e.key.length + 1).split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const value = line.slice(colon + 1);
    out[line.slice(0, colon)] = value === '\u0000' ? null : value;
  }
  return out;
}
