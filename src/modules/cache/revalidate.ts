import { Readable } from 'node:stream';
import type { Done, Next } from '../../utils/compose.js';
import { isTagcacheError, TagcacheError } from '../../utils/errors.js';
import type { Metrics } from '../metrics/registry.js';
import { type ProxyResponse, RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { upstreamBodyError } from '../upstream/index.js';
import { type AskAsStored, askAsStored, refreshHeaders } from './ask-as-stored.js';
import { readAhead } from './body-collector.js';
import { forwardStatus, notStoredDetail } from './cache-status.js';
import type { Collapser } from './collapse.js';
import { revalidationHeaders } from './conditional.js';
import { type RequestDirectives, staleAt, staleIfErrorUntil } from './decide.js';
import { type Found, policyOf } from './lookup.js';
import { afterNotModified } from './not-modified.js';
import type { Refresher } from './refresher.js';
import {
  discard,
  drain,
  ERROR_STATUSES,
  errorCode,
  forbidsStoring,
  isUpstreamFailure,
} from './revalidation-failure.js';
import type { StoreAccess } from './store-access.js';
import { type AbsorbDeps, absorbResponse } from './store-response.js';

export type Serve = (ctx: RequestContext, found: Found, status: 'HIT' | 'STALE', detail?: string) => void;

/** What a revalidation of its own left behind. */
type Refreshed =
  | { readonly kind: 'refreshed'; readonly found: Found }
  /**
   * The backend failed: transport (unreachable, reset, timed out, a body that stalled or broke — an
   * outage as far as stale answers go) or a server error status.
   */
  | {
      readonly kind: 'failed';
      readonly transport: boolean;
      readonly status?: number;
      /** What failed: the error thrown, or the error answer (its body already drained). */
      readonly failure: { readonly err: unknown } | { readonly response: ProxyResponse };
    }
  /** An answer that left nothing to serve: not storable, refused by a purge, or its body cut short. */
  | { readonly kind: 'unstored' };

const UNSTORED: Refreshed = { kind: 'unstored' };

/** When and how a failed revalidation may be answered from the stale entry. */
interface StaleFallback {
  /** stale-if-error covers failures and error statuses until then (epoch ms). */
  readonly sieUntil: number;
  /** A backend that cannot be reached is an outage the stale entry stands in for until then (epoch ms). */
  readonly outageUntil: number;
  readonly serve: (status: number | undefined, reason?: 'error' | 'outage') => void;
}

export interface RevalidatorDeps {
  readonly store: StoreAccess;
  readonly metrics: Metrics;
  readonly absorbDeps: AbsorbDeps;
  /** The chain a client request takes; a background context passes the cache by. */
  readonly send: (ctx: RequestContext) => Done;
  readonly refresher: Refresher;
  readonly collapser: Collapser;
  /** A collapse follower's wait: true when its leader's entry answered it. */
  readonly follow: (ctx: RequestContext, leader: Promise<StoredEntry | undefined>) => Promise<boolean>;
}

/**
 * Validation of stored entries: in the foreground when a request needs it,
 * in the background (once per entry) for stale-while-revalidate, answering
 * with the stale entry when the backend fails inside stale-if-error.
 */
export function createRevalidator(deps: RevalidatorDeps) {
  const { store, metrics, absorbDeps, collapser } = deps;

  /**
   * The stale entry as the store holds it now, for followers of a failed revalidation: a purge
   * since it was read must not be undone by handing them the copy read before it.
   */
  async function stillStored(entry: StoredEntry): Promise<StoredEntry | undefined> {
    const current = await store.get(entry.id);
    return current?.storedAt === entry.storedAt ? current : undefined;
  }

  /** Revalidates with a GET of its own, asked as the entry is served; the store is updated as its answer says. */
  async function refreshNow(
    ctx: RequestContext,
    key: string,
    found: Found,
    asked: AskAsStored,
  ): Promise<Refreshed> {
    const route = ctx.route?.route.name ?? 'unknown';
    const bg = new RequestContext({
      // The triggering request's id, marked: the refresh's log lines and upstream request correlate with it.
      id: `${ctx.id.slice(0, 119)}:refresh`,
      method: 'GET',
      target: ctx.upstreamTarget ?? ctx.target,
      headers: refreshHeaders(asked),
      scheme: ctx.scheme,
      clientIp: ctx.clientIp,
      body: null,
      log: ctx.log,
      background: true,
    });
    bg.route = ctx.route;
    bg.upstreamExtraHeaders = revalidationHeaders(found.policy);
    const requestTime = Date.now();
    try {
      await deps.send(bg);
    } catch (err) {
      metrics.revalidations.labels(route, 'error').inc();
      ctx.log.warn(
        { id: bg.id, err: isTagcacheError(err) ? err.code : String(err), route },
        'revalidation failed',
      );
      return {
        kind: 'failed',
        transport: isUpstreamFailure(err),
        status: isTagcacheError(err) ? err.status : undefined,
        failure: { err },
      };
    }
    const res = bg.response;
    if (res === undefined) return UNSTORED;
    const times = { requestTime, responseTime: Date.now() };
    if (res.status === 304) {
      discard(res);
      metrics.revalidations.labels(route, 'not_modified').inc();
      const updated = afterNotModified(bg, found, res, times, absorbDeps.keep);
      if (updated === undefined) {
        await store.delete(found.entry.id);
        return UNSTORED;
      }
      // Refused: a purge came after this revalidation went out, and its answer speaks of the purged entry.
      const outcome = await store.put(updated.found.entry, updated.ttlMs);
      return outcome === 'refused' ? UNSTORED : { kind: 'refreshed', found: updated.found };
    }
    if (res.status >= 500) {
      discard(res);
      metrics.revalidations.labels(route, 'error').inc();
      return { kind: 'failed', transport: false, status: res.status, failure: { response: res } };
    }
    if (res.body instanceof Readable) {
      // Read before anything is stored or answered: a body that stalls or breaks is a failed
      // revalidation (the stale entry may stand in), not merely an answer that left nothing.
      const read = await readAhead(res.body, absorbDeps.maxObjectBytes);
      if (read.kind === 'failed') {
        metrics.revalidations.labels(route, 'error').inc();
        ctx.log.warn({ id: bg.id, err: errorCode(read.err), route }, 'revalidation body failed');
        return {
          kind: 'failed',
          transport: true,
          status: res.status,
          failure: {
            err:
              upstreamBodyError(read.err, bg.upstreamAddress ?? 'unknown') ??
              new TagcacheError('TC_UPSTREAM_RESET', 'the backend body was cut short', 502),
          },
        };
      }
      res.body = read.body;
    }
    metrics.revalidations.labels(route, 'replaced').inc();
    const absorbed = absorbResponse(bg, key, times, absorbDeps, false);
    drain(res.body);
    if (!absorbed.stored) {
      // The backend no longer lets this be stored: the old copy must not be served again.
      if (forbidsStoring(absorbed.reason, res.status)) await store.delete(found.entry.id);
      return UNSTORED;
    }
    const entry = await absorbed.entry;
    const policy = entry === undefined ? undefined : policyOf(entry);
    return entry === undefined || policy === undefined
      ? UNSTORED
      : { kind: 'refreshed', found: { entry, policy } };
  }

  /**
   * Validation beside the client's request, for a HEAD (which cannot carry a new body back) and for
   * a request whose credentials the revalidation leaves out (its answer is not this client's).
   * The client gets the refreshed entry, or the stale one when the backend failed and that is
   * allowed, or else its own request's answer, for itself alone.
   */
  async function validateAside(
    ctx: RequestContext,
    next: Next,
    key: string,
    found: Found,
    asked: AskAsStored,
    fwd: 'stale' | 'request',
    stale: StaleFallback,
    serve: Serve,
    handOff: (result: Promise<StoredEntry | undefined>) => void,
  ): Promise<void> {
    const refreshed = await refreshNow(ctx, key, found, asked);
    if (refreshed.kind === 'refreshed') {
      handOff(Promise.resolve(refreshed.found.entry));
      serve(ctx, refreshed.found, 'HIT');
      ctx.cache = 'REVALIDATED';
      ctx.cacheStatusDetail = forwardStatus(fwd, undefined, {
        ttl: Math.round((refreshed.found.policy.fu - Date.now()) / 1000),
      });
      return;
    }
    if (refreshed.kind === 'failed') {
      const { transport, status } = refreshed;
      const now = Date.now();
      const reason =
        (transport || ERROR_STATUSES.has(status ?? 0)) && now < stale.sieUntil
          ? 'error'
          : transport && now < stale.outageUntil
            ? 'outage'
            : undefined;
      if (reason !== undefined) {
        handOff(stillStored(found.entry));
        return stale.serve(status, reason);
      }
      // A HEAD learns nothing more by asking again: the failed GET is its answer (one backend request, not two).
      if (ctx.method === 'HEAD') return answerFailure(ctx, fwd, refreshed.failure);
    }
    return forwardOwn(ctx, next, fwd, stale);
  }

  function answerFailure(
    ctx: RequestContext,
    fwd: 'stale' | 'request',
    failure: { readonly err: unknown } | { readonly response: ProxyResponse },
  ): void {
    if ('err' in failure) throw failure.err;
    const res = failure.response;
    ctx.cache = 'MISS';
    ctx.response = { ...res, body: null };
    ctx.cacheStatusDetail = forwardStatus(fwd, res.status);
  }

  /**
   * The client's request as it came, for this client alone: nothing is stored or deleted, and a
   * backend failure is still answered from the stale entry when that is allowed.
   */
  async function forwardOwn(
    ctx: RequestContext,
    next: Next,
    fwd: 'stale' | 'request',
    stale: StaleFallback,
  ): Promise<void> {
    ctx.cache = 'MISS';
    try {
      await next();
    } catch (err) {
      const status = isTagcacheError(err) ? err.status : undefined;
      if (isUpstreamFailure(err) && Date.now() < stale.sieUntil) return stale.serve(status);
      if (isUpstreamFailure(err) && Date.now() < stale.outageUntil) return stale.serve(status, 'outage');
      throw err;
    }
    const res = ctx.response;
    if (res !== undefined && ERROR_STATUSES.has(res.status) && Date.now() < stale.sieUntil) {
      discard(res);
      return stale.serve(res.status);
    }
    ctx.cacheStatusDetail = forwardStatus(fwd, res?.status);
  }

  return {
    refreshInBackground(ctx: RequestContext, key: string, found: Found): void {
      const asked = askAsStored(found.policy, ctx.headers);
      // Nobody can ask as the entry was asked: it stays as it is until a request that can comes.
      if (!asked.asStored) return;
      deps.refresher.once(found.entry.id, async () => {
        await refreshNow(ctx, key, found, asked);
      });
    },

    /** Validates before answering; a 304 refreshes the entry, an error inside stale-if-error serves it stale. */
    async revalidate(
      ctx: RequestContext,
      next: Next,
      key: string,
      found: Found,
      req: RequestDirectives | undefined,
      fwd: 'stale' | 'request',
      serve: Serve,
    ): Promise<void> {
      const route = ctx.route?.route.name ?? 'unknown';
      const sieUntil = staleIfErrorUntil(found.policy, found.entry.softPurgedAt, req);
      // A backend that cannot be reached at all (refused, reset, timed out, circuit open) is an outage:
      // RFC 9111 §4.2.4 lets a disconnected cache serve stale, so entries stand in far past their own
      // stale-if-error window — unless the response forbade stale use (must-revalidate and kin).
      const outageUntil = found.policy.ns
        ? 0
        : staleAt(found.policy, found.entry.softPurgedAt) + absorbDeps.keep.staleOnOutageSeconds * 1000;
      const staleOnError = (status: number | undefined, reason: 'error' | 'outage' = 'error') => {
        const detail = reason === 'error' ? 'stale-if-error' : 'backend-outage';
        metrics.staleServed.labels(route, reason).inc();
        serve(ctx, found, 'STALE', `detail=${detail}`);
        ctx.cacheStatusDetail = `${forwardStatus('stale', status)}; detail=${detail}`;
      };
      const isOutage = (err: unknown) => isUpstreamFailure(err) && Date.now() < outageUntil;

      const asked = askAsStored(found.policy, ctx.headers);
      // This client's answer is its own and must leave the shared entry as it is: it asked not to be
      // stored, or it cannot ask as the entry was asked (RFC 9111 §5.2.1.5, §3.5).
      const ownOnly = req?.noStore === true || !asked.asStored;
      const stale: StaleFallback = { sieUntil, outageUntil, serve: staleOnError };
      if (ownOnly) return forwardOwn(ctx, next, fwd, stale);

      const plain = fwd === 'stale' && ctx.headers.range === undefined;
      let role = plain ? collapser.join(key) : undefined;
      if (role?.role === 'follower') {
        if (await deps.follow(ctx, role.result)) return;
        // An entry that needs validation too, typically from the miss that stored the one found here,
        // its store write settling only now (slow under load): collapse once more, behind one
        // revalidation, rather than every follower going upstream alone.
        if ((await role.result) !== undefined) {
          role = collapser.join(key);
          if (role.role === 'follower' && (await deps.follow(ctx, role.result))) return;
        }
      }
      const leader = role?.role === 'leader' ? role : undefined;
      let handedOff = false;
      /** Followers get what this revalidation leaves, once the store has had its say on it. */
      const handOff = (result: Promise<StoredEntry | undefined>) => {
        if (leader === undefined) return;
        handedOff = true;
        result.then(leader.settle, () => leader.settle(undefined));
      };
      try {
        if (ctx.method === 'HEAD' || asked.stripped) {
          return await validateAside(ctx, next, key, found, asked, fwd, stale, serve, handOff);
        }
        ctx.upstreamExtraHeaders = revalidationHeaders(found.policy);
        const requestTime = Date.now();
        try {
          await next();
        } catch (err) {
          metrics.revalidations.labels(route, 'error').inc();
          if (isUpstreamFailure(err) && Date.now() < sieUntil) {
            handOff(stillStored(found.entry));
            return staleOnError(isTagcacheError(err) ? err.status : undefined);
          }
          if (isOutage(err)) {
            handOff(stillStored(found.entry));
            return staleOnError(isTagcacheError(err) ? err.status : undefined, 'outage');
          }
          throw err;
        }
        const res = ctx.response;
        if (res === undefined) return;
        if (ERROR_STATUSES.has(res.status) && Date.now() < sieUntil) {
          discard(res);
          metrics.revalidations.labels(route, 'error').inc();
          handOff(stillStored(found.entry));
          return staleOnError(res.status);
        }
        const times = { requestTime, responseTime: Date.now() };
        if (res.status === 304) {
          discard(res);
          metrics.revalidations.labels(route, 'not_modified').inc();
          const updated = afterNotModified(ctx, found, res, times, absorbDeps.keep);
          if (updated === undefined) await store.delete(found.entry.id);
          else {
            const entry = updated.found.entry;
            handOff(store.put(entry, updated.ttlMs).then((o) => (o === 'refused' ? undefined : entry)));
          }
          const current = updated?.found ?? found;
          serve(ctx, current, 'HIT');
          ctx.cache = 'REVALIDATED';
          ctx.cacheStatusDetail = forwardStatus(fwd, 304, {
            ttl: Math.round((current.policy.fu - Date.now()) / 1000),
          });
          return;
        }
        if (res.body instanceof Readable && Date.now() < Math.max(sieUntil, outageUntil)) {
          // The stale entry may still answer: read the new body before any header goes out, so a
          // backend that stalls or drops it mid-way costs this client the new copy, not its answer.
          const read = await readAhead(res.body, absorbDeps.maxObjectBytes);
          if (read.kind === 'failed') {
            metrics.revalidations.labels(route, 'error').inc();
            ctx.log.warn(
              { err: errorCode(read.err), route },
              'revalidation body failed; answered from the stale entry',
            );
            handOff(stillStored(found.entry));
            return staleOnError(res.status, Date.now() < sieUntil ? 'error' : 'outage');
          }
          res.body = read.body;
        }
        if (res.status < 500) metrics.revalidations.labels(route, 'replaced').inc();
        else metrics.revalidations.labels(route, 'error').inc();
        ctx.cache = 'MISS';
        const absorbed = absorbResponse(ctx, key, times, absorbDeps, false);
        if (!absorbed.stored) {
          if (forbidsStoring(absorbed.reason, res.status)) await store.delete(found.entry.id);
          ctx.cacheStatusDetail = forwardStatus(fwd, res.status, {
            detail: notStoredDetail(absorbed.reason),
          });
          return;
        }
        ctx.cacheStatusDetail = forwardStatus(fwd, res.status, { stored: true, ttl: absorbed.ttlSeconds });
        handOff(absorbed.entry);
      } finally {
        // Every path settles the flight: followers either reuse what we got or go upstream themselves.
        if (leader !== undefined && !handedOff) leader.settle(undefined);
      }
    },
  };
}

export type Revalidator = ReturnType<typeof createRevalidator>;
