import { type IncomingMessage, type OutgoingHttpHeader, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { RequestRecorder } from '../modules/metrics/index.js';
import type { Metrics } from '../modules/metrics/registry.js';
import {
  type Outcome,
  type ProxyResponse,
  RequestContext,
  requestIdFrom,
} from '../modules/pipeline/context.js';
import { matchRoute, type RouteSource } from '../modules/router/index.js';
import type { Tracing } from '../modules/tracing/index.js';
import { isAbort, upstreamBodyError, upstreamFailureReason } from '../modules/upstream/index.js';
import type { AccessLog } from '../utils/access-log.js';
import type { Done } from '../utils/compose.js';
import { isTagcacheError, TagcacheError } from '../utils/errors.js';
import { endToEndHeaders, type HeaderMap } from '../utils/headers.js';
import type { Logger } from '../utils/logger.js';
import { RetryLaterError } from '../utils/retry-later.js';
import { UpstreamBody } from '../utils/upstream-body.js';
import { limitBody } from './body-limit.js';
import { checkRequest, hasBody, isRefusal, type RequestLimits } from './request-checks.js';

export interface ProxyHandlerDeps {
  readonly run: (ctx: RequestContext) => Done;
  /** The route table, matched once per request before `run`. */
  readonly routes: RouteSource;
  readonly log: Logger;
  /** Where the per-request lines go. */
  readonly accessLog: AccessLog;
  readonly metrics: Metrics;
  readonly record: RequestRecorder;
  readonly accessLogEnabled: boolean;
  /** MAX_URL_BYTES, MAX_BODY_BYTES and ALLOWED_HOSTS, checked before the pipeline runs. */
  readonly limits: RequestLimits;
  /** A server span per request, when tracing is on. */
  readonly tracing?: Tracing;
}

/** Fields tagcache sets on every answer: a backend's own are replaced, not repeated. */
const OWN_FIELDS = new Set(['x-request-id', 'x-cache', 'cache-status']);

/** nginx's convention for "the client closed the connection before the answer". */
const CLIENT_CLOSED = 499;

/** What `OPTIONS *` (a question about the server, not a resource) is told: every method passes through. */
const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/**
 * Connections on which a request was refused. After a framing refusal the
 * bytes that follow may be a request the client smuggled inside a body, and
 * Node parses pipelined requests (and calls the handler) before the refusal's
 * Connection: close takes effect: nothing more read from such a connection is served.
 */
const refusedConnections = new WeakSet<Socket>();

/**
 * The proxy listener's entrypoint: builds the request context, runs the
 * pipeline, writes the answer, then logs and counts it once.
 */
export function createProxyHandler(
  deps: ProxyHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { run, routes, log, metrics, record, accessLogEnabled, accessLog, limits } = deps;
  // Off, the request path asks one question of it: is it there.
  const tracing = deps.tracing?.enabled === true ? deps.tracing : undefined;

  function finish(ctx: RequestContext, status: number, bytes: number, err?: unknown): void {
    if (ctx.finished) return;
    ctx.finished = true;
    metrics.inFlight.dec();
    const seconds = (performance.now() - ctx.startedAt) / 1000;
    const route = ctx.route?.route.name ?? 'unknown';
    const outcome = ctx.outcome;
    record(route, ctx.method, status, outcome.cache, seconds);
    const trace = ctx.trace;
    trace?.end({
      status,
      route: ctx.route?.route.name,
      cache: outcome.cache,
      cacheStatusDetail: outcome.detail,
      tags: ctx.tags.length,
      bytes,
      error: err === undefined ? undefined : errorType(err),
    });
    if (!accessLogEnabled && err === undefined && status < 500) return;
    accessLog.write({
      id: ctx.id,
      method: ctx.method,
      path: ctx.path,
      route,
      status,
      cache: outcome.cache,
      bytes,
      ms: round(seconds * 1000),
      upstreamMs: ctx.upstreamMs === undefined ? undefined : round(ctx.upstreamMs),
      upstream: ctx.upstreamAddress,
      err: err === undefined ? undefined : describe(err),
      error: isError(status, err),
      traceId: trace?.traceId,
      spanId: trace?.spanId,
    });
  }

  function send(ctx: RequestContext, res: ServerResponse): void {
    const r = ctx.response;
    if (r === undefined) {
      sendError(ctx, res, new TagcacheError('TC_PIPELINE', 'the pipeline finished without an answer'));
      return;
    }
    try {
      res.writeHead(r.status, headerList(r, ctx));
    } catch (err) {
      // A header value Node refuses to write (a bad character from the backend).
      destroyBody(r);
      sendError(
        ctx,
        res,
        new TagcacheError('TC_UPSTREAM_UNREACHABLE', `unwritable response: ${describe(err)}`, 502),
      );
      return;
    }
    const body = r.body;
    if (body === null) {
      res.end();
      finish(ctx, r.status, 0);
    } else if (Buffer.isBuffer(body)) {
      res.end(body);
      finish(ctx, r.status, ctx.method === 'HEAD' ? 0 : body.length);
    } else if (body instanceof UpstreamBody && body.unread) {
      // Nobody read it as a stream (a tap for the cache may be on): written straight to the client.
      body.sendTo(res, (err, bytes) => bodyDone(ctx, res, r.status, bytes, err));
    } else {
      let bytes = 0;
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      pipeline(body, res, (err) => bodyDone(ctx, res, r.status, bytes, err ?? undefined));
    }
  }

  function bodyDone(
    ctx: RequestContext,
    res: ServerResponse,
    status: number,
    bytes: number,
    err: Error | undefined,
  ): void {
    if (err === undefined || err === null) {
      finish(ctx, status, bytes);
      return;
    }
    // Headers are gone: all a proxy can do is cut the connection, so the client sees truncation.
    // `res` is destroyed either way, so the error itself tells a backend failure from a client abort.
    const failure = upstreamBodyError(err, ctx.upstreamAddress ?? 'unknown');
    if (failure !== undefined) {
      metrics.upstreamErrors.labels(ctx.route?.route.name ?? 'unknown', upstreamFailureReason(failure)).inc();
      finish(ctx, status, bytes, failure);
      return;
    }
    const aborted = isAbort(err) || res.destroyed;
    finish(ctx, aborted && !res.writableFinished ? CLIENT_CLOSED : status, bytes, aborted ? undefined : err);
  }

  /**
   * Node's flat [name, value, …] form, built fresh: r.headers may be a stored entry's own object,
   * and copying it to add four fields (object spread, new hidden classes) costs more than this.
   */
  function headerList(r: ProxyResponse, ctx: RequestContext): OutgoingHttpHeader[] {
    const list: OutgoingHttpHeader[] = [];
    const headers = r.headers;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined || OWN_FIELDS.has(name) || (name === 'age' && r.age !== undefined)) continue;
      list.push(name, value);
    }
    if (r.age !== undefined) list.push('age', r.age);
    const outcome = ctx.outcome;
    list.push('x-request-id', ctx.id, 'x-cache', outcome.cache, 'cache-status', cacheStatus(outcome));
    return list;
  }

  /** send(), where a fault of our own cuts this one answer short instead of the process. */
  function deliver(ctx: RequestContext, res: ServerResponse): void {
    try {
      send(ctx, res);
    } catch (err) {
      log.error({ err: describe(err), id: ctx.id }, 'writing an answer failed');
      res.destroy();
      // Counted and logged all the same (a no-op when send() got that far): the in-flight gauge must not drift.
      const fault = new TagcacheError('TC_PIPELINE', `writing the answer failed: ${describe(err)}`, 500, {
        cause: err,
      });
      finish(ctx, res.headersSent ? (ctx.response?.status ?? 500) : 500, 0, fault);
    }
  }

  function sendError(ctx: RequestContext, res: ServerResponse, thrown: unknown, close = false): void {
    if (isAbort(thrown) || (res.destroyed && !res.headersSent)) {
      finish(ctx, CLIENT_CLOSED, 0);
      return;
    }
    const err = isTagcacheError(thrown)
      ? thrown
      : new TagcacheError('TC_PIPELINE', `unexpected failure: ${describe(thrown)}`, 500, { cause: thrown });
    const status = err.status >= 400 ? err.status : 500;
    if (res.headersSent) {
      res.destroy();
      finish(ctx, status, 0, err);
      return;
    }
    const body = Buffer.from(`${status} ${STATUS_CODES[status] ?? 'Error'}\n`);
    const outcome = failed(ctx.outcome, err);
    const headers: Record<string, string> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(body.length),
      'cache-control': 'no-store',
      'x-request-id': ctx.id,
      'x-cache': outcome.cache,
      'cache-status': cacheStatus(outcome),
    };
    if (err instanceof RetryLaterError) headers['retry-after'] = String(err.retryAfterSeconds);
    // An unread or refused body must not be parsed as the next request on this connection.
    if (close || status === 413) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(ctx.method === 'HEAD' ? undefined : body);
    finish(ctx, status, body.length, err);
  }

  /** OPTIONS * asks about the server: answered here, since it names no resource a backend could serve. */
  function answerServerOptions(ctx: RequestContext, res: ServerResponse): void {
    ctx.outcome = SERVER_OPTIONS;
    res.writeHead(200, {
      allow: ALLOW,
      'content-length': '0',
      'cache-control': 'no-store',
      'x-request-id': ctx.id,
      'x-cache': SERVER_OPTIONS.cache,
      'cache-status': cacheStatus(SERVER_OPTIONS),
    });
    res.end();
    finish(ctx, 200, 0);
  }

  /** Cuts the connection once the refusal is written: whatever follows it is never parsed. */
  function closeAfter(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    refusedConnections.add(socket);
    res.once('finish', () => {
      socket.end();
      if (socket.writableFinished) socket.destroy();
      else socket.once('finish', () => socket.destroy());
    });
  }

  return function proxy(req, res) {
    // A request read after a refusal on its connection: the connection closes once the refusal is out.
    if (refusedConnections.has(req.socket)) return;
    metrics.inFlight.inc();
    const method = req.method ?? 'GET';
    const checked = checkRequest(req, limits);
    const refused = isRefusal(checked) ? checked : undefined;
    const ctx = new RequestContext({
      id: requestIdFrom(req.headers),
      method,
      // A refused target is logged cut short: it may be the very thing that was too long.
      target: isRefusal(checked) ? (req.url ?? '/').slice(0, 1024) : checked.target,
      headers: req.headers,
      scheme: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
      clientIp: req.socket,
      body:
        refused === undefined && hasBody(req.headers['transfer-encoding'], req.headers['content-length'])
          ? limitBody(req, res, limits.maxBodyBytes)
          : null,
      log,
      answer: res,
      onInterim: (status, headers) => relayInterim(res, status, headers),
    });
    if (tracing !== undefined) ctx.trace = tracing.startRequest(ctx);
    if (refused !== undefined) {
      metrics.rejectedRequests.labels(refused.reason).inc();
      ctx.outcome = REFUSED;
      sendError(ctx, res, new TagcacheError('TC_BAD_REQUEST', refused.message, refused.status), true);
      closeAfter(req, res);
      return;
    }
    if (ctx.target === '*') {
      answerServerOptions(ctx, res);
      return;
    }
    // Routed once, at the door: every stage reads ctx.route.
    ctx.route = matchRoute(routes, ctx.target);
    const done = ctx.trace === undefined ? run(ctx) : ctx.trace.run(() => run(ctx));
    // A hit settled at once is written now, not a microtask later.
    if (done === undefined) deliver(ctx, res);
    else
      done.then(
        () => deliver(ctx, res),
        (err) => sendError(ctx, res, err),
      );
  };
}

/**
 * 1xx responses pass to the client as they come (RFC 9110 §15.2): 103 Early
 * Hints with their end-to-end fields, 102 Processing. They are never stored,
 * and their fields never join the final response.
 */
function relayInterim(res: ServerResponse, status: number, headers: HeaderMap): void {
  if (res.headersSent || res.destroyed) return;
  if (status === 103) {
    const hints = endToEndHeaders(headers);
    if (hints.link !== undefined) res.writeEarlyHints(hints as Record<string, string | string[]>);
  } else if (status === 102) {
    res.writeProcessing();
  }
}

function destroyBody(r: ProxyResponse): void {
  if (r.body !== null && !Buffer.isBuffer(r.body)) r.body.destroy();
}

const SERVER_OPTIONS: Outcome = { cache: 'BYPASS', detail: 'fwd=bypass' };
/** A request refused at the door: the error answer says why (see failed). */
const REFUSED: Outcome = { cache: 'BYPASS', detail: undefined };

/** The Cache-Status field (RFC 9211) of an outcome; X-Cache is its `cache`. */
function cacheStatus(outcome: Outcome): string {
  return outcome.detail === undefined ? 'tagcache' : `tagcache; ${outcome.detail}`;
}

/**
 * The outcome an error answer reports: forwarded as the cache stage let it go, with the
 * catalogue code, or the directive the client's own request named, as its detail.
 */
function failed(outcome: Outcome, err: TagcacheError): Outcome {
  const detail = err.code === 'TC_ONLY_IF_CACHED' ? 'only-if-cached' : err.code;
  return {
    cache: outcome.cache,
    detail: `fwd=${outcome.cache === 'BYPASS' ? 'bypass' : 'miss'}; detail=${detail}`,
  };
}

/**
 * Blame decides the level: ours (a pipeline fault) and the backend's (even mid-body, under a 200) are
 * errors; an answer the client asked for (only-if-cached's 504) is not.
 */
function isError(status: number, err: unknown): boolean {
  if (!isTagcacheError(err)) return status >= 500;
  if (err.code === 'TC_ONLY_IF_CACHED') return false;
  return status >= 500 || err.code === 'TC_PIPELINE' || err.code.startsWith('TC_UPSTREAM_');
}

function describe(err: unknown): string {
  if (isTagcacheError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** A failure's kind for a span (error.type): the catalogue code, never the message. */
function errorType(err: unknown): string {
  if (isTagcacheError(err)) return err.code;
  return err instanceof Error ? err.name : 'error';
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
