import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { pipeline } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { RequestRecorder } from '../modules/metrics/index.js';
import type { Metrics } from '../modules/metrics/registry.js';
import { type ProxyResponse, RequestContext, requestIdFrom } from '../modules/pipeline/context.js';
import { isAbort } from '../modules/upstream/index.js';
import { isTagcacheError, TagcacheError } from '../utils/errors.js';
import type { Logger } from '../utils/logger.js';

export interface ProxyHandlerDeps {
  readonly run: (ctx: RequestContext) => Promise<void>;
  readonly log: Logger;
  /** Where the per-request lines go; defaults to `log`. */
  readonly accessLog?: Logger;
  readonly metrics: Metrics;
  readonly record: RequestRecorder;
  readonly accessLogEnabled: boolean;
}

/** nginx's convention for "the client closed the connection before the answer". */
const CLIENT_CLOSED = 499;

/**
 * The proxy listener's entrypoint: builds the request context, runs the
 * pipeline, writes the answer, then logs and counts it once.
 */
export function createProxyHandler(
  deps: ProxyHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { run, log, metrics, record, accessLogEnabled } = deps;
  const access = deps.accessLog ?? log;

  function finish(ctx: RequestContext, status: number, bytes: number, err?: unknown): void {
    metrics.inFlight.dec();
    const seconds = (performance.now() - ctx.startedAt) / 1000;
    const route = ctx.route?.route.name ?? 'unknown';
    record(route, ctx.method, status, ctx.cache, seconds);
    if (!accessLogEnabled && err === undefined && status < 500) return;
    const line = {
      id: ctx.id,
      method: ctx.method,
      path: ctx.path,
      route,
      status,
      cache: ctx.cache,
      bytes,
      ms: round(seconds * 1000),
      upstreamMs: ctx.upstreamMs === undefined ? undefined : round(ctx.upstreamMs),
      upstream: ctx.upstreamAddress,
      err: err === undefined ? undefined : describe(err),
    };
    if (status >= 500) access.error(line, 'request');
    else access.info(line, 'request');
  }

  function send(ctx: RequestContext, res: ServerResponse): void {
    const r = ctx.response;
    if (r === undefined) {
      sendError(ctx, res, new TagcacheError('TC_PIPELINE', 'the pipeline finished without an answer'));
      return;
    }
    const headers = r.headers;
    headers['x-request-id'] = ctx.id;
    headers['x-cache'] = ctx.cache;
    headers['cache-status'] =
      ctx.cacheStatusDetail === undefined ? 'tagcache' : `tagcache; ${ctx.cacheStatusDetail}`;
    try {
      res.writeHead(r.status, headers as Record<string, string | string[]>);
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
    } else {
      let bytes = 0;
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      pipeline(body, res, (err) => {
        if (err === undefined || err === null) return finish(ctx, r.status, bytes);
        // Headers are gone: all a proxy can do is cut the connection, so the client sees truncation.
        const aborted = isAbort(err) || res.destroyed;
        finish(
          ctx,
          aborted && !res.writableFinished ? CLIENT_CLOSED : r.status,
          bytes,
          aborted ? undefined : err,
        );
      });
    }
  }

  function sendError(ctx: RequestContext, res: ServerResponse, thrown: unknown): void {
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
    const headers: Record<string, string> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(body.length),
      'cache-control': 'no-store',
      'x-request-id': ctx.id,
      'x-cache': ctx.cache,
      'cache-status': `tagcache; fwd=${ctx.cache === 'BYPASS' ? 'bypass' : 'miss'}; detail=${err.code}`,
    };
    const retryAfter = err.code === 'TC_UPSTREAM_CIRCUIT_OPEN' ? '5' : undefined;
    if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
    res.writeHead(status, headers);
    res.end(ctx.method === 'HEAD' ? undefined : body);
    finish(ctx, status, body.length, err);
  }

  return function proxy(req, res) {
    metrics.inFlight.inc();
    const method = req.method ?? 'GET';
    const ctx = new RequestContext({
      id: requestIdFrom(req.headers),
      method,
      target: req.url ?? '/',
      headers: req.headers,
      scheme: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
      clientIp: req.socket.remoteAddress ?? '',
      body: hasBody(req) ? req : null,
      log,
      onAbortWanted: (controller) => {
        res.once('close', () => {
          if (!res.writableFinished) controller.abort();
        });
      },
    });
    run(ctx).then(
      () => send(ctx, res),
      (err) => sendError(ctx, res, err),
    );
  };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function destroyBody(r: ProxyResponse): void {
  if (r.body !== null && !Buffer.isBuffer(r.body)) r.body.destroy();
}

function describe(err: unknown): string {
  if (isTagcacheError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
