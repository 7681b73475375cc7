import { headerValue } from '../../utils/headers.js';
import type { Metrics } from '../metrics/registry.js';
import type { RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { collectBody } from './body-collector.js';
import { clientForm, sayVaryEncoding } from './client-form.js';
import { computePolicy } from './compute-policy.js';
import { encodingPreference } from './encoding.js';
import { storedHeaders } from './entry.js';
import { entryWriter } from './persist.js';
import type { KeepWindows, NotStorable } from './policy.js';
import type { RefusalLog } from './refusals.js';
import { type CompressionSettings, mayTransform, prepareForStore } from './representation.js';
import type { StoreAccess } from './store-access.js';

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
  sayVaryEncoding(res, res.upstreamHeaders, route, deps.compression);
  // The stored copy's fields as the backend sent them; its length is set once the body is whole.
  const headers = res.headers;
  const snapshot = storedHeaders(headers, undefined);
  const status = res.status;
  const tags = ctx.tags;
  // What the backend was asked for: on a cacheable request, the key's target.
  const target = `${ctx.scheme}://${ctx.host}${ctx.upstreamTarget ?? ctx.target}`;
  // Usually the key itself: one string for both.
  const url = target === key ? key : target;
  const commit = entryWriter(deps, {
    key,
    policy,
    ttlMs: result.ttlMs,
    url,
    route: route.name,
    // storedAt is when the request went upstream: a purge after that must refuse this write (tombstones).
    storedAt: times.requestTime,
    status,
    tags,
    request: ctx.headers,
    transformable: mayTransform(snapshot, route, deps.compression),
  });
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
    mayAnswerFromEntry &&
    ctx.method === 'GET' &&
    clientForm(ctx, res, res.upstreamHeaders, res.body, route, deps.compression, deps.maxObjectBytes);
  return { stored: true, ttlSeconds, entry, answerFromEntry };
}

const NOTHING = (): undefined => undefined;
