import { type HeaderMap, headerList, headerValue } from '../../utils/headers.js';
import type { Metrics } from '../metrics/registry.js';
import type { RequestContext } from '../pipeline/context.js';
import type { Route } from '../router/types.js';
import type { StoredEntry } from '../store/types.js';
import { collectBody } from './body-collector.js';
import { encodingPreference } from './encoding.js';
import { buildEntry, storedHeaders, variantId, varyMarker } from './entry.js';
import { computePolicy, type KeepWindows, type NotStorable, type Policy } from './policy.js';
import {
  type CompressionSettings,
  mayTransform,
  type Prepared,
  prepareForStore,
  willVaryByEncoding,
} from './representation.js';
import type { StoreAccess } from './store-access.js';
import { recodeMiss } from './transcode.js';
import { selectingNames, variantKey } from './vary.js';

export interface AbsorbDeps {
  readonly store: StoreAccess;
  readonly metrics: Metrics;
  readonly maxObjectBytes: number;
  readonly keep: KeepWindows;
  readonly compression: CompressionSettings;
}

export type Absorbed =
  | { readonly stored: false; readonly reason: NotStorable | 'too-large' | 'request-no-store' }
  /** entry resolves when the body is complete (undefined if it was cut short or grew too large). */
  | {
      readonly stored: true;
      readonly ttlSeconds: number;
      readonly entry: Promise<StoredEntry | undefined>;
      /**
       * The client takes another coding than the backend sent: the body is being read whole, and
       * the answer is to come from the entry once its forms are made (ctx.response.body is spent).
       */
      readonly answerFromEntry: boolean;
    };

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
  /** The caller answers from the entry when the client prefers another form (see answerFromEntry below). */
  mayAnswerFromEntry = false,
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
  // Once stored it will be answered in several codings: this answer says so too.
  if (willVaryByEncoding(res.upstreamHeaders, route, deps.compression))
    res.headers = withVaryEncoding(res.headers);
  // Snapshot now: the handler adds per-answer headers to this object before the body ends.
  const headers = res.headers;
  const snapshot = storedHeaders(headers, undefined);
  const status = res.status;
  const tags = ctx.tags;
  const target = `${ctx.scheme}://${ctx.host}${ctx.target}`;
  // Usually the key itself: one string for both.
  const url = target === key ? key : target;
  const transformable = mayTransform(snapshot, route, deps.compression);
  const commit = (prepared: Prepared): StoredEntry => {
    // Accept-Encoding selects no variant of a body tagcache can answer in any coding (vary.ts).
    const names = selectingNames(policy.vary, prepared.headers, transformable);
    const variant = names === undefined ? undefined : variantKey(names, ctx.headers);
    // storedAt is when the request went upstream: a purge after that must refuse this write (tombstones).
    const base = { key, policy, url, route: route.name, storedAt: times.requestTime };
    const entry = buildEntry({
      ...base,
      id: variant === undefined ? key : variantId(key, variant),
      status,
      headers: storedHeaders(prepared.headers, prepared.body.length),
      body: prepared.body,
      forms: prepared.forms,
      tags,
    });
    void persist(
      entry,
      policy,
      result.ttlMs,
      deps,
      route.name,
      names === undefined ? undefined : varyMarker({ ...base, id: key }, names),
    );
    return entry;
  };
  // Encoded forms are made here, once per entry, before it is written: a hit never compresses.
  const save = (body: Buffer): StoredEntry | Promise<StoredEntry> => {
    const prepared = prepareForStore(snapshot, body, route, deps.compression);
    if (!(prepared instanceof Promise)) return commit(prepared);
    return prepared.then(commit, () => commit({ headers: snapshot, body, forms: undefined }));
  };

  const ttlSeconds = Math.round((policy.fu - times.responseTime) / 1000);
  const body = res.body;
  if (body === null || Buffer.isBuffer(body)) {
    return {
      stored: true,
      ttlSeconds,
      entry: Promise.resolve(save(body ?? Buffer.alloc(0))),
      answerFromEntry: false,
    };
  }
  let resolve: (entry: StoredEntry | undefined | Promise<StoredEntry>) => void = () => undefined;
  const entry = new Promise<StoredEntry | undefined>((r) => {
    resolve = r;
  });
  res.body = collectBody(body, deps.maxObjectBytes, (whole) => {
    if (whole === undefined) return resolve(undefined);
    const saved = save(whole);
    resolve(saved);
    // The answer ends once the entry is written, compressed or not: the next request finds it.
    return saved instanceof Promise ? saved.then(() => undefined) : undefined;
  });
  const answerFromEntry =
    mayAnswerFromEntry && ctx.method === 'GET' && wantsOtherForm(ctx, res.upstreamHeaders, route, deps);
  if (answerFromEntry) {
    // Nobody else reads it now: a failure mid-body settles the entry as undefined, which the caller answers.
    res.body.on('error', () => undefined);
    res.body.resume();
  } else if (mayAnswerFromEntry && ctx.method === 'GET') {
    const recoded = recodeMiss(
      res.upstreamHeaders,
      res.headers,
      res.body,
      encodingPreference(ctx.headers['accept-encoding']),
      route,
      deps.compression,
    );
    if (recoded !== undefined) {
      res.headers = recoded.headers;
      res.body = recoded.body;
    }
  }
  return { stored: true, ttlSeconds, entry, answerFromEntry };
}

/**
 * Whether the client of a miss should wait for the entry rather than get the
 * backend's bytes as they stream: when the entry will hold a form this client
 * prefers (br where the backend sent gzip or nothing, identity where it sent
 * a coding), so misses save bandwidth too. Only bodies of a declared length
 * within MAX_OBJECT_BYTES: one that turned out larger could not be answered
 * (those are recoded as they stream instead, transcode.ts).
 */
function wantsOtherForm(ctx: RequestContext, upstream: HeaderMap, route: Route, deps: AbsorbDeps): boolean {
  if (!willVaryByEncoding(upstream, route, deps.compression)) return false;
  const length = Number(headerValue(upstream, 'content-length') ?? Number.NaN);
  if (!(length <= deps.maxObjectBytes)) return false;
  const sent = headerValue(upstream, 'content-encoding')?.trim().toLowerCase() ?? 'identity';
  return encodingPreference(ctx.headers['accept-encoding']).best !== sent;
}

async function persist(
  entry: StoredEntry,
  policy: Policy,
  ttlMs: number,
  deps: AbsorbDeps,
  route: string,
  marker: StoredEntry | undefined,
): Promise<void> {
  // Both writes start at once, the marker first: a near tier (memory, or Redis's local tier) takes
  // both before this returns, so the next request finds the variant; awaiting the marker's Redis
  // round trip first left a window where it did not. A variant whose marker failed is unreachable
  // and expires with its TTL; one whose marker a purge refused is refused by the same tombstone.
  const [markerStored, stored] = await Promise.all([
    marker === undefined ? true : deps.store.put(marker, ttlMs),
    deps.store.put(entry, ttlMs),
  ]);
  if (markerStored && stored) {
    deps.metrics.storedTtl.labels(route).observe(Math.max(0, policy.lt - policy.ia));
    // Every form held counts: the plain body and each encoded copy.
    const forms = entry.forms;
    deps.metrics.storedBytes
      .labels(route)
      .observe(entry.body.length + (forms?.gzip?.length ?? 0) + (forms?.br?.length ?? 0));
  }
}

function withVaryEncoding(headers: HeaderMap): HeaderMap {
  const vary = headerList(headers.vary);
  if (vary.some((name) => name.toLowerCase() === 'accept-encoding')) return headers;
  return { ...headers, vary: [...vary, 'Accept-Encoding'].join(', ') };
}
