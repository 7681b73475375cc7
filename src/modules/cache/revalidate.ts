import { Readable } from 'node:stream';
import type { Done, Next } from '../../utils/compose.js';
import { isTagcacheError } from '../../utils/errors.js';
import type { HeaderMap } from '../../utils/headers.js';
import type { Metrics } from '../metrics/registry.js';
import { type ProxyResponse, RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { forwardStatus } from './cache-status.js';
import type { Collapser } from './collapse.js';
import { revalidationHeaders } from './conditional.js';
import { decide, type RequestDirectives, staleAt, staleIfErrorUntil } from './decide.js';
import { buildEntry, mergeNotModified, storedHeaders } from './entry.js';
import { type Found, isVariantFor, policyOf } from './lookup.js';
import { computePolicy } from './policy.js';
import type { Refresher } from './refresher.js';
import type { StoreAccess } from './store-access.js';
import { type AbsorbDeps, absorbResponse } from './store-response.js';

/** RFC 5861 §4: the answers that let a stale entry stand in. */
const ERROR_STATUSES = new Set([500, 502, 503, 504]);

export type Serve = (ctx: RequestContext, found: Found, status: 'HIT' | 'STALE', detail?: string) => void;

export interface RevalidatorDeps {
  readonly store: StoreAccess;
  readonly metrics: Metrics;
  readonly absorbDeps: AbsorbDeps;
  readonly downstream: (ctx: RequestContext) => Done;
  readonly refresher: Refresher;
  readonly collapser: Collapser;
}

/** Whether an upstream failure (thrown) is one stale-if-error covers. */
function isUpstreamFailure(err: unknown): boolean {
  return (
    isTagcacheError(err, 'TC_UPSTREAM_UNREACHABLE') ||
    isTagcacheError(err, 'TC_UPSTREAM_TIMEOUT') ||
    isTagcacheError(err, 'TC_UPSTREAM_RESET') ||
    isTagcacheError(err, 'TC_UPSTREAM_CIRCUIT_OPEN')
  );
}

function discard(res: ProxyResponse): void {
  const body = res.body;
  if (body instanceof Readable) body.resume();
}

/**
 * Validation of stored entries: in the foreground when a request needs it,
 * in the background (once per entry) for stale-while-revalidate, answering
 * with the stale entry when the backend fails inside stale-if-error.
 */
export function createRevalidator(deps: RevalidatorDeps) {
  const { store, metrics, absorbDeps, collapser } = deps;

  /** The entry updated by a 304, or undefined when the 304 made it unstorable. */
  function afterNotModified(
    ctx: RequestContext,
    found: Found,
    res: ProxyResponse,
    times: { requestTime: number; responseTime: number },
  ): { found: Found; ttlMs: number } | undefined {
    const route = ctx.route?.route;
    if (route === undefined) return undefined;
    const clientView = mergeNotModified(found.entry.headers, res.headers);
    const upstreamView: HeaderMap = { ...clientView };
    if (found.policy.sc !== undefined) upstreamView['surrogate-control'] = found.policy.sc;
    for (const name in res.upstreamHeaders) {
      if (name !== 'content-length' && name !== 'content-encoding' && name !== 'content-type') {
        upstreamView[name] = res.upstreamHeaders[name];
      }
    }
    const result = computePolicy(
      {
        method: 'GET',
        requestHeaders: ctx.headers,
        status: found.entry.status,
        headers: upstreamView,
        ...times,
        route,
      },
      absorbDeps.keep,
    );
    if (!result.storable) return undefined;
    const tags = [...new Set([...found.entry.tags, ...ctx.tags])];
    const entry = buildEntry({
      id: found.entry.id,
      key: found.entry.key,
      status: found.entry.status,
      headers: storedHeaders(clientView, found.entry.body.length),
      body: found.entry.body,
      forms: found.entry.forms,
      policy: result.policy,
      tags,
      url: found.entry.url,
      route: found.entry.route,
      // The request time: a purge after it must refuse this write (store tombstones).
      storedAt: times.requestTime,
    });
    return { found: { entry, policy: result.policy }, ttlMs: result.ttlMs };
  }

  /** Revalidates with a GET of its own; resolves with the refreshed entry, or undefined when none resulted. */
  async function refreshNow(ctx: RequestContext, key: string, found: Found): Promise<Found | undefined> {
    const route = ctx.route?.route.name ?? 'unknown';
    const bg = new RequestContext({
      // The triggering request's id, marked: the refresh's log lines and upstream request correlate with it.
      id: `${ctx.id.slice(0, 119)}:refresh`,
      method: 'GET',
      target: ctx.target,
      headers: ctx.headers,
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
      await deps.downstream(bg);
    } catch (err) {
      metrics.revalidations.labels(route, 'error').inc();
      ctx.log.warn(
        { id: bg.id, err: isTagcacheError(err) ? err.code : String(err), route },
        'revalidation failed',
      );
      return undefined;
    }
    const res = bg.response;
    if (res === undefined) return undefined;
    const times = { requestTime, responseTime: Date.now() };
    if (res.status === 304) {
      discard(res);
      metrics.revalidations.labels(route, 'not_modified').inc();
      const updated = afterNotModified(bg, found, res, times);
      if (updated === undefined) {
        await store.delete(found.entry.id);
        return undefined;
      }
      await store.put(updated.found.entry, updated.ttlMs);
      return updated.found;
    }
    if (res.status >= 500) {
      discard(res);
      metrics.revalidations.labels(route, 'error').inc();
      return undefined;
    }
    metrics.revalidations.labels(route, 'replaced').inc();
    const absorbed = absorbResponse(bg, key, times, absorbDeps, false);
    if (res.body instanceof Readable) res.body.resume();
    if (!absorbed.stored) {
      // The backend no longer lets this be stored: the old copy must not be served again.
      await store.delete(found.entry.id);
      return undefined;
    }
    const entry = await absorbed.entry;
    const policy = entry === undefined ? undefined : policyOf(entry);
    return entry === undefined || policy === undefined ? undefined : { entry, policy };
  }

  return {
    /** The leader's entry, if it can answer this follower: its variant, and usable now. */
    usable(entry: StoredEntry, ctx: RequestContext): Found | undefined {
      const policy = policyOf(entry);
      if (policy === undefined) return undefined;
      if (!isVariantFor(entry, policy.vary, ctx.headers)) return undefined;
      const d = decide(policy, entry.softPurgedAt, undefined, Date.now());
      return d.kind === 'revalidate' ? undefined : { entry, policy };
    },

    refreshInBackground(ctx: RequestContext, key: string, found: Found): void {
      deps.refresher.once(found.entry.id, async () => {
        await refreshNow(ctx, key, found);
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

      if (ctx.method === 'HEAD') {
        // A HEAD cannot carry a new body back; validate with a GET of our own and answer from its result.
        const refreshed = await refreshNow(ctx, key, found);
        if (refreshed !== undefined) {
          serve(ctx, refreshed, 'HIT');
          ctx.cache = 'REVALIDATED';
          ctx.cacheStatusDetail = forwardStatus(fwd, undefined, {
            ttl: Math.round((refreshed.policy.fu - Date.now()) / 1000),
          });
          return;
        }
        if (Date.now() < sieUntil) return staleOnError(undefined);
        ctx.cache = 'MISS';
        try {
          await next();
        } catch (err) {
          if (isOutage(err)) return staleOnError(isTagcacheError(err) ? err.status : undefined, 'outage');
          throw err;
        }
        ctx.cacheStatusDetail = forwardStatus(fwd, ctx.response?.status);
        return;
      }

      const plain = fwd === 'stale' && ctx.headers.range === undefined;
      const role = plain ? collapser.join(key) : undefined;
      if (role?.role === 'follower') {
        const entry = await role.result;
        const usable = entry === undefined ? undefined : this.usable(entry, ctx);
        if (usable !== undefined) {
          metrics.collapsed.labels(route).inc();
          serve(ctx, usable, 'HIT', 'collapsed');
          return;
        }
      }
      const leader = role?.role === 'leader' ? role : undefined;
      let settled: StoredEntry | undefined;
      let handedOff = false;
      try {
        ctx.upstreamExtraHeaders = revalidationHeaders(found.policy);
        const requestTime = Date.now();
        try {
          await next();
        } catch (err) {
          metrics.revalidations.labels(route, 'error').inc();
          if (isUpstreamFailure(err) && Date.now() < sieUntil) {
            settled = found.entry;
            return staleOnError(isTagcacheError(err) ? err.status : undefined);
          }
          if (isOutage(err)) {
            settled = found.entry;
            return staleOnError(isTagcacheError(err) ? err.status : undefined, 'outage');
          }
          throw err;
        }
        const res = ctx.response;
        if (res === undefined) return;
        if (ERROR_STATUSES.has(res.status) && Date.now() < sieUntil) {
          discard(res);
          metrics.revalidations.labels(route, 'error').inc();
          settled = found.entry;
          return staleOnError(res.status);
        }
        const times = { requestTime, responseTime: Date.now() };
        if (res.status === 304) {
          discard(res);
          metrics.revalidations.labels(route, 'not_modified').inc();
          const updated = afterNotModified(ctx, found, res, times);
          if (updated === undefined) await store.delete(found.entry.id);
          else void store.put(updated.found.entry, updated.ttlMs);
          const current = updated?.found ?? found;
          serve(ctx, current, 'HIT');
          ctx.cache = 'REVALIDATED';
          ctx.cacheStatusDetail = forwardStatus(fwd, 304, {
            ttl: Math.round((current.policy.fu - Date.now()) / 1000),
          });
          settled = updated?.found.entry;
          return;
        }
        if (res.status < 500) metrics.revalidations.labels(route, 'replaced').inc();
        else metrics.revalidations.labels(route, 'error').inc();
        ctx.cache = 'MISS';
        const absorbed = absorbResponse(ctx, key, times, absorbDeps, req?.noStore === true);
        if (!absorbed.stored) {
          if (res.status < 500) await store.delete(found.entry.id);
          ctx.cacheStatusDetail = forwardStatus(fwd, res.status);
          return;
        }
        ctx.cacheStatusDetail = forwardStatus(fwd, res.status, { stored: true, ttl: absorbed.ttlSeconds });
        if (leader !== undefined) {
          const l = leader;
          absorbed.entry.then(l.settle, () => l.settle(undefined));
          handedOff = true;
        }
      } finally {
        // Every path settles the flight: followers either reuse what we got or go upstream themselves.
        if (leader !== undefined && !handedOff) leader.settle(settled);
      }
    },
  };
}

export type Revalidator = ReturnType<typeof createRevalidator>;
