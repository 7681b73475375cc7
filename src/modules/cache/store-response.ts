import { headerValue } from '../../utils/headers.js';
import type { Metrics } from '../metrics/registry.js';
import type { RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { collectBody } from './body-collector.js';
import { buildEntry, storedHeaders, variantId, varyMarker } from './entry.js';
import { computePolicy, type KeepWindows, type NotStorable, type Policy } from './policy.js';
import type { RefusalLog } from './refusals.js';
import type { PutOutcome, StoreAccess } from './store-access.js';
import { variantKey } from './vary.js';

export interface AbsorbDeps {
  readonly store: StoreAccess;
  readonly metrics: Metrics;
  readonly maxObjectBytes: number;
  readonly keep: KeepWindows;
  /** Remembers why responses were not stored, for look-ups; none in tests of other things. */
  readonly refusals?: RefusalLog;
}

export type Absorbed =
  | { readonly stored: false; readonly reason: NotStorable | 'too-large' | 'request-no-store' }
  /**
   * entry resolves once the body is complete and the store has had its say: undefined when the
   * body was cut short or grew too large, or when the store refused the write because a purge
   * came after the fetch — the entry then must not answer anyone else either.
   */
  | { readonly stored: true; readonly ttlSeconds: number; readonly entry: Promise<StoredEntry | undefined> };

/**
 * Decides whether ctx.response may be stored and, if so, wraps its body so a
 * copy is kept while it streams to the client; the entry (with its tags and,
 * for a varying response, its vary marker) is written once the body is whole.
 * The client is never held up by the store.
 */
export function absorbResponse(
  ctx: RequestContext,
  key: string,
  times: { requestTime: number; responseTime: number },
  deps: AbsorbDeps,
  requestNoStore: boolean,
): Absorbed {
  const absorbed = absorb(ctx, key, times, deps, requestNoStore);
  if (deps.refusals !== undefined) {
    if (absorbed.stored) deps.refusals.forget(key);
    else deps.refusals.note(key, absorbed.reason, ctx.response?.status ?? 0);
  }
  return absorbed;
}

function absorb(
  ctx: RequestContext,
  key: string,
  times: { requestTime: number; responseTime: number },
  deps: AbsorbDeps,
  requestNoStore: boolean,
): Absorbed {
  const res = ctx.response;
  const route = ctx.route?.route;
  if (res === undefined || route === undefined || res.upstreamHeaders === undefined)
    return { stored: false, reason: 'status' };
  if (requestNoStore) return { stored: false, reason: 'request-no-store' };
  const result = computePolicy(
    {
      method: ctx.method,
      requestHeaders: ctx.headers,
      status: res.status,
      headers: res.upstreamHeaders,
      requestTime: times.requestTime,
      responseTime: times.responseTime,
      route,
    },
    deps.keep,
  );
  if (!result.storable) return { stored: false, reason: result.reason };
  const declared = Number(headerValue(res.upstreamHeaders, 'content-length') ?? Number.NaN);
  if (declared > deps.maxObjectBytes) return { stored: false, reason: 'too-large' };

  const policy = result.policy;
  // Snapshot now: the handler adds per-answer headers to this object before the body ends.
  const headers = res.headers;
  const snapshot = { ...headers };
  const status = res.status;
  const tags = ctx.tags;
  // What the backend was asked for: on a cacheable request, the key's target.
  const target = `${ctx.scheme}://${ctx.host}${ctx.upstreamTarget ?? ctx.target}`;
  // Usually the key itself: one string for both.
  const url = target === key ? key : target;
  const variant = policy.vary === undefined ? undefined : variantKey(policy.vary, ctx.headers);
  const save = async (body: Buffer): Promise<StoredEntry | undefined> => {
    // storedAt is when the request went upstream: a purge after that must refuse this write (tombstones).
    const base = { key, policy, url, route: route.name, storedAt: times.requestTime };
    const entry = buildEntry({
      ...base,
      id: variant === undefined ? key : variantId(key, variant),
      status,
      headers: storedHeaders(snapshot, body.length),
      body,
      tags,
    });
    const outcome = await persist(
      entry,
      policy,
      result.ttlMs,
      deps,
      route.name,
      variant === undefined ? undefined : varyMarker({ ...base, id: key }, policy.vary ?? []),
    );
    // A store that failed refused nothing: the answer is as good as it was.
    return outcome === 'refused' ? undefined : entry;
  };

  const ttlSeconds = Math.round((policy.fu - times.responseTime) / 1000);
  const body = res.body;
  if (body === null || Buffer.isBuffer(body)) {
    return { stored: true, ttlSeconds, entry: save(body ?? Buffer.alloc(0)) };
  }
  let resolve: (entry: StoredEntry | undefined) => void = () => undefined;
  const entry = new Promise<StoredEntry | undefined>((r) => {
    resolve = r;
  });
  res.body = collectBody(body, deps.maxObjectBytes, (whole) => {
    if (whole === undefined) {
      // Cut short or grown past MAX_OBJECT_BYTES: the look-up says too-large (the likelier of the two).
      deps.refusals?.note(key, 'too-large', status);
      resolve(undefined);
    } else save(whole).then(resolve, () => resolve(undefined));
  });
  return { stored: true, ttlSeconds, entry };
}

async function persist(
  entry: StoredEntry,
  policy: Policy,
  ttlMs: number,
  deps: AbsorbDeps,
  route: string,
  marker: StoredEntry | undefined,
): Promise<PutOutcome> {
  // Both writes start at once, the marker first: a near tier (memory, or Redis's local tier) takes
  // both before this returns, so the next request finds the variant; awaiting the marker's Redis
  // round trip first left a window where it did not. A variant whose marker failed is unreachable
  // and expires with its TTL; one whose marker a purge refused is refused by the same tombstone.
  const [markerStored, stored] = await Promise.all([
    marker === undefined ? 'stored' : deps.store.put(marker, ttlMs),
    deps.store.put(entry, ttlMs),
  ]);
  if (markerStored === 'stored' && stored === 'stored') {
    deps.metrics.storedTtl.labels(route).observe(Math.max(0, policy.lt - policy.ia));
    deps.metrics.storedBytes.labels(route).observe(entry.body.length);
  }
  return markerStored === 'refused' ? 'refused' : stored;
}
