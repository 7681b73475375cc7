import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { Pool, errors as undiciErrors } from 'undici';
import { isTagcacheError, TagcacheError } from '../../utils/errors.js';
import { endToEndHeaders, type HeaderMap } from '../../utils/headers.js';

export interface UpstreamOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Connections kept per origin. */
  connections: number;
}

export interface UpstreamRequest {
  readonly origin: URL;
  readonly method: string;
  /** Path and query, sent as given. */
  readonly path: string;
  readonly headers: HeaderMap;
  readonly body: Readable | null;
  /** An AbortSignal, or an emitter of 'abort' (undici takes both). */
  readonly signal?: AbortSignal | EventEmitter;
  /** Interim (1xx) responses the backend sends before its final one. */
  readonly onInfo?: (status: number, headers: HeaderMap) => void;
}

export interface UpstreamResponse {
  readonly status: number;
  /** End-to-end headers only: hop-by-hop fields and those named in Connection are gone. */
  readonly headers: HeaderMap;
  readonly body: Readable;
}

/**
 * One keep-alive undici Pool per backend origin. Knows nothing of caching:
 * it sends a request and returns a streaming response, or throws a typed
 * TC_UPSTREAM_* error (502/504) the caller can answer with.
 */
export interface UpstreamClient {
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export function createUpstreamClient(opts: UpstreamOptions): UpstreamClient {
  const pools = new Map<string, Pool>();

  function poolFor(origin: URL): Pool {
    let pool = pools.get(origin.origin);
    if (pool === undefined) {
      pool = new Pool(origin.origin, {
        connections: opts.connections,
        pipelining: 1,
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
        headersTimeout: opts.headersTimeoutMs,
        bodyTimeout: opts.bodyTimeoutMs,
        connect: { timeout: opts.connectTimeoutMs },
      });
      pools.set(origin.origin, pool);
    }
    return pool;
  }

  return {
    async request(req) {
      const pool = poolFor(req.origin);
      try {
        const res = await pool.request({
          method: req.method as 'GET',
          path: req.path,
          headers: req.headers as Record<string, string | string[]>,
          body: req.body,
          signal: req.signal,
          onInfo:
            req.onInfo === undefined
              ? undefined
              : ({ statusCode, headers }) => req.onInfo?.(statusCode, headers),
        });
        return { status: res.statusCode, headers: endToEndHeaders(res.headers), body: res.body };
      } catch (err) {
        // The client went away (its body then fails with its connection's reset): not the backend's doing.
        if ((req.signal as { aborted?: boolean } | undefined)?.aborted === true && !isAbort(err)) {
          throw Object.assign(new Error('the client went away before the backend answered', { cause: err }), {
            name: 'AbortError',
          });
        }
        throw toUpstreamError(err, req.origin);
      }
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => p.destroy())));
      pools.clear();
    },
  };
}

/**
 * undici's refusals made before a byte left, because of what the request
 * is: a target that is not a path ("*"), a field or length it will not
 * send. A client can provoke them at will, so they are the request's fault
 * (400), never the backend's.
 */
const REFUSED_LOCALLY = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

/** Maps undici's failures onto the error catalogue; an abort passes through unchanged. */
export function toUpstreamError(err: unknown, origin: URL): unknown {
  if (err instanceof TagcacheError) return err;
  if (isAbort(err)) return err;
  const code = (err as { code?: string }).code ?? '';
  const where = origin.host;
  if (REFUSED_LOCALLY.has(code)) {
    return new TagcacheError('TC_BAD_REQUEST', `the request cannot be forwarded (${errorText(err)})`, 400, {
      cause: err,
    });
  }
  if (err instanceof undiciErrors.HeadersTimeoutError || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new TagcacheError('TC_UPSTREAM_TIMEOUT', `backend ${where} sent no headers in time`, 504, {
      cause: err,
    });
  }
  if (err instanceof undiciErrors.BodyTimeoutError || code === 'UND_ERR_BODY_TIMEOUT') {
    return new TagcacheError('TC_UPSTREAM_TIMEOUT', `backend ${where} stalled sending the body`, 504, {
      cause: err,
    });
  }
  if (err instanceof undiciErrors.ConnectTimeoutError || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new TagcacheError('TC_UPSTREAM_TIMEOUT', `connecting to backend ${where} timed out`, 504, {
      cause: err,
    });
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') {
    return new TagcacheError('TC_UPSTREAM_RESET', `backend ${where} closed the connection`, 502, {
      cause: err,
    });
  }
  if (isParserError(err)) {
    const what =
      code === 'UND_ERR_HEADERS_OVERFLOW' ? 'response headers over 16 KiB' : 'something that is not HTTP';
    return new TagcacheError(
      'TC_UPSTREAM_UNREACHABLE',
      `backend ${where} answered with ${what} (${code || 'parse error'})`,
      502,
      { cause: err },
    );
  }
  const detail = code !== '' ? code : err instanceof Error ? err.message : String(err);
  return new TagcacheError('TC_UPSTREAM_UNREACHABLE', `backend ${where} unreachable (${detail})`, 502, {
    cause: err,
  });
}

/**
 * undici's HTTP parser refused what the backend sent (llhttp's HPE_* codes),
 * or its header block was too large (a backend reflecting a client's fields
 * into its own can be made to send one: one answer's fault, not an outage).
 */
function isParserError(err: unknown): boolean {
  if (err instanceof undiciErrors.HTTPParserError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('HPE_') || code === 'UND_ERR_HEADERS_OVERFLOW');
}

/** A failure that reached a backend which answered with something that is not HTTP. */
export function isProtocolFailure(err: unknown): boolean {
  return isTagcacheError(err, 'TC_UPSTREAM_UNREACHABLE') && isParserError(err.cause);
}

/** undici's codes for a backend that fails while its body streams: stalled, reset, or closed short. */
const BODY_FAILURES = new Set([
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/**
 * The typed error of a backend failing after its headers (a stalled or cut
 * body), or undefined when `err` is something else: a client that went away,
 * or a write error on the client's side.
 */
export function upstreamBodyError(err: unknown, host: string): TagcacheError | undefined {
  if (err instanceof TagcacheError) return err.code.startsWith('TC_UPSTREAM_') ? err : undefined;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !BODY_FAILURES.has(code)) return undefined;
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return new TagcacheError('TC_UPSTREAM_TIMEOUT', `backend ${host} stalled sending the body`, 504, {
      cause: err,
    });
  }
  return new TagcacheError('TC_UPSTREAM_RESET', `backend ${host} closed the connection mid-body`, 502, {
    cause: err,
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isAbort(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { name?: string; code?: string };
  return e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED' || e.code === 'ABORT_ERR';
}
