import type { TrustedProxies } from '../../utils/client-address.js';
import { TagcacheError } from '../../utils/errors.js';
import type { HeaderMap } from '../../utils/headers.js';
import type { Stage } from '../pipeline/context.js';
import type { Dispatch } from './dispatch.js';
import { appendVia, forwardRequestHeaders } from './forward-headers.js';

export interface UpstreamStageDeps {
  readonly dispatch: Dispatch;
  /** UPSTREAM_URL's origins, for routes that name none. */
  readonly defaultOrigins: readonly URL[];
  readonly trustedProxies: TrustedProxies;
  readonly preserveHost?: boolean;
}

/**
 * The innermost stage: sends the request to one of the route's backends (or
 * UPSTREAM_URL's) and puts the streaming response on the context. Failures
 * become typed errors the outer stages may answer from cache (stale-if-error,
 * or stale during an outage when the circuit is open) before the handler
 * turns them into 502/503/504.
 */
export function upstreamStage({
  dispatch,
  defaultOrigins,
  trustedProxies,
  preserveHost = false,
}: UpstreamStageDeps): Stage {
  // Not async: the request's one promise is the backend's answer, and the stage adds a step to it.
  return function upstream(ctx) {
    // The route's own backends, or UPSTREAM_URL's for a route that names none.
    const origins = ctx.route?.route.upstreams ?? defaultOrigins;
    const route = ctx.route?.route.name ?? 'unknown';
    if (origins.length === 0) {
      throw new TagcacheError('TC_UPSTREAM_UNREACHABLE', `no backend for route ${route}`, 502);
    }
    const headers = forwardRequestHeaders({
      method: ctx.method,
      headers: ctx.headers,
      peer: ctx.clientIp,
      peerTrusted: !trustedProxies.none && trustedProxies.has(ctx.clientIp),
      scheme: ctx.scheme,
      requestId: ctx.id,
      preserveHost,
      hasBody: ctx.body !== null,
    });
    const extra = ctx.upstreamExtraHeaders;
    if (extra !== undefined) {
      // An undefined value removes the client's field (a revalidation drops the client's own conditionals).
      for (const name in extra) {
        const value = extra[name];
        if (value === undefined) delete headers[name];
        else headers[name] = value;
      }
    }
    const started = performance.now();
    return dispatch(
      origins,
      {
        method: ctx.method,
        path: ctx.upstreamTarget ?? ctx.target,
        headers,
        body: ctx.body,
        client: ctx,
        onInfo: ctx.onInterim,
      },
      {
        route,
        // Known before the answer, so a failure's log line names the backend that failed.
        onPick(origin) {
          ctx.upstreamAddress = origin.host;
        },
      },
    ).then(
      (res) => {
        ctx.upstreamMs = performance.now() - started;
        // Object.assign, not a spread: on Node 20 a spread of the backend's fields is much slower
        // (bench/README.md, pass-through).
        const out: HeaderMap = Object.assign({}, res.headers);
        out.via = appendVia(res.headers.via);
        ctx.response = { status: res.status, headers: out, upstreamHeaders: res.headers, body: res.body };
      },
      (err: unknown) => {
        ctx.upstreamMs = performance.now() - started;
        throw err;
      },
    );
  };
}
