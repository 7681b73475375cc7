import { type HeaderMap, headerList, headerValue } from '../../utils/headers.js';
import type { Metrics } from '../metrics/registry.js';
import type { RequestContext } from '../pipeline/context.js';
import type { Route } from '../router/types.js';
import type { StoredEntry } from '../store/types.js';
import { collectBody } from './body-collector.js';
import { encodingPreference } from './encoding.js';
import { buildEntry, storedHeaders, variantId, varyMarker } from './entry.js';
import { computePolicy, type KeepWindows, type NotStorable, type Policy } from './policy.js';
import type { RefusalLog } from './refusals.js';
import {
  type CompressionSettings,
  mayTransform,
  type Prepared,
  prepareForStore,
  willVaryByEncoding,
} from './representation.js';
import type { PutOutcome, StoreAccess } from './store-access.js';
import { recodeMiss } from './transcode.js';
import { selectingNames, variantKey } from './vary.js';

export interface AbsorbDeps {
  readonly store: StoreAccess;
  readonly metrics: Metrics;
  readonly maxObjectBytes: number;
  readonly keep: KeepWindows;
  /** Remembers why responses were not stored, for look-ups; none in tests of other things. */
  readonly refusals?: RefusalLog;
  readonly compression: CompressionSettings;
}

export type Absorbed =
  | { readonly stored: false; readonly reason: NotStorable | 'too-large' | 'request-no-store' }
  /**
   * entry resolves once the body is complete and the store has had its say: undefined when the
   * body was cut short or grew too large, or when the store refused the write because a purge
   * came after the fetch — the entry then must not answer anyone else either.
   */
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
  const absorbed = absorb(ctx, key, times, deps, requestNoStore, mayAnswerFromEntry);
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
  mayAnswerFromEntry: boolean,
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
  // The stored copy's fields as the backend sent them; its length is set once the body is whole.
  const headers = res.headers;
  const snapshot = storedHeaders(headers, undefined);
  const status = res.status;
  const tags = ctx.tags;
  // What the backend was asked for: on a cacheable request, the key's target.
  const target = `${ctx.scheme}://${ctx.host}${ctx.upstreamTarget ?? ctx.target}`;
  // Usually the key itself: one string for both.
  const url = target === key ? key : target;
  const transformable = mayTransform(snapshot, route, deps.compression);
  const commit = async (prepared: Prepared): Promise<StoredEntry | undefined> => {
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
    const outcome = await persist(
      entry,
      policy,
      result.ttlMs,
      deps,
      route.name,
      names === undefined ? undefined : varyMarker({ ...base, id: key }, names),
    );
    // A store that failed refused nothing: the answer is as good as it was.
    return outcome === 'refused' ? undefined : entry;
  };
  // Only the form this client prefers is made before the entry is written; the others when first
  // asked for (lazy-forms.ts). ready settles when it is made (at once when not made off the event loop).
  const want = encodingPreference(ctx.headers['accept-encoding']).best;
  const save = (
    body: Buffer,
  ): { entry: Promise<StoredEntry | undefined>; ready: Promise<void> | undefined } => {
    const prepared = prepareForStore(snapshot, body, route, deps.compression, want);
    if (!(prepared instanceof Promise)) return { entry: commit(prepared), ready: undefined };
    const entry = prepared.then(commit, () => commit({ headers: snapshot, body, forms: undefined }));
    // Settles after commit has run (callbacks run in order), so its writes have reached a near tier.
    return { entry, ready: prepared.then(NOTHING, NOTHING) };
  };

  const ttlSeconds = Math.round((policy.fu - times.responseTime) / 1000);
  const body = res.body;
  if (body === null || Buffer.isBuffer(body)) {
    return {
      stored: true,
      ttlSeconds,
      entry: save(body ?? Buffer.alloc(0)).entry,
      answerFromEntry: false,
    };
  }
  let resolve: (entry: StoredEntry | undefined) => void = () => undefined;
  const entry = new Promise<StoredEntry | undefined>((r) => {
    resolve = r;
  });
  res.body = collectBody(body, deps.maxObjectBytes, (whole) => {
    if (whole === undefined) {
      // Cut short or grown past MAX_OBJECT_BYTES: the look-up says too-large (the likelier of the two).
      deps.refusals?.note(key, 'too-large', status);
      return resolve(undefined);
    }
    const saved = save(whole);
    saved.entry.then(resolve, () => resolve(undefined));
    // The answer ends once the forms are made and the write is under way: the next request finds it.
    return saved.ready;
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

const NOTHING = (): undefined => undefined;

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
    // Every form held counts: the plain body and each encoded copy.
    const forms = entry.forms;
    deps.metrics.storedBytes
      .labels(route)
      .observe(entry.body.length + (forms?.gzip?.length ?? 0) + (forms?.br?.length ?? 0));
  }
  return markerStored === 'refused' ? 'refused' : stored;
}

function withVaryEncoding(headers: HeaderMap): HeaderMap {
  const vary = headerList(headers.vary);
  if (vary.some((name) => name.toLowerCase() === 'accept-encoding')) return headers;
  return { ...headers, vary: [...vary, 'Accept-Encoding'].join(', ') };
}
