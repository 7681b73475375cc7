import { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { isTagcacheError, TagcacheError } from '../../utils/errors.js';
import { endToEndHeaders, type HeaderMap } from '../../utils/headers.js';
import { UpstreamBody } from '../../utils/upstream-body.js';
import { originKey } from './origin-key.js';
import { type Pool, undiciParts } from './undici-parts.js';

export interface UpstreamOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Connections kept per origin. */
  connections: number;
  /** The `undici` fast path (FAST_PATHS): undici loaded from its internal files, not its index. */
  fast?: boolean;
}

export interface UpstreamRequest {
  readonly origin: URL;
  readonly method: string;
  /** Path and query, sent as given. */
  readonly path: string;
  readonly headers: HeaderMap;
  readonly body: Readable | null;
  /** Whoever waits for the answer, who may go away first (the request is then cut). */
  readonly client?: ClientWatch | undefined;
  /** Interim (1xx) responses the backend sends before its final one. */
  readonly onInfo?: (status: number, headers: HeaderMap) => void;
}

/** Someone waiting for an answer who may go away first (a RequestContext is one). */
export interface ClientWatch {
  readonly clientGone: boolean;
  /** Calls `listener` once if the client goes away, unless offClientGone stops it first. */
  onClientGone(listener: () => void): void;
  offClientGone(listener: () => void): void;
}

export interface UpstreamResponse {
  readonly status: number;
  /** End-to-end headers only: hop-by-hop fields and those named in Connection are gone. */
  readonly headers: HeaderMap;
  /** A Readable, which the proxy handler may instead write straight to the client (see UpstreamBody). */
  readonly body: UpstreamBody;
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
  const fast = opts.fast ?? true;
  const undici = undiciParts(fast);
  const pools = new Map<string, Pool>();

  function poolFor(origin: URL): Pool {
    const key = originKey(origin);
    let pool = pools.get(key);
    if (pool === undefined) {
      pool = new undici.Pool(key, {
        connections: opts.connections,
        pipelining: 1,
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
        headersTimeout: opts.headersTimeoutMs,
        bodyTimeout: opts.bodyTimeoutMs,
        connect: { timeout: opts.connectTimeoutMs },
      });
      pools.set(key, pool);
    }
    return pool;
  }

  return {
    request(req) {
      return new Promise((resolve, reject) => {
        const exchange = new Exchange(req, resolve, reject);
        if (exchange.settled) return;
        try {
          poolFor(req.origin).dispatch(
            {
              method: req.method as 'GET',
              path: req.path,
              headers: req.headers as Record<string, string | string[]>,
              body: req.body,
            },
            new ControllerHandler(exchange),
          );
        } catch (err) {
          // A refusal made before anything was sent (an argument undici will not take).
          exchange.error(err as Error);
        }
      });
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => p.destroy())));
      pools.clear();
    },
  };
}

/**
 * One backend request: the response is handed over at its headers, and its
 * body is an UpstreamBody fed chunk by chunk. undici's request() would add an
 * AsyncResource, a body stream, an abort listener and a promise wrapper per
 * request that a proxy does not need. ControllerHandler translates undici's
 * callbacks into these calls.
 */
class Exchange {
  settled = false;
  /** undici's controller for this request, once it started: pauses, resumes and aborts it. */
  #controller: Controller | null = null;
  #body: UpstreamBody | null = null;
  /** Listening for the client going away (see #unlisten). */
  #watching = false;
  readonly #req: UpstreamRequest;
  readonly #resolve: (res: UpstreamResponse) => void;
  readonly #reject: (err: unknown) => void;

  constructor(
    req: UpstreamRequest,
    resolve: (res: UpstreamResponse) => void,
    reject: (err: unknown) => void,
  ) {
    this.#req = req;
    this.#resolve = resolve;
    this.#reject = reject;
    const client = req.client;
    if (client === undefined) return;
    if (client.clientGone) {
      this.settled = true;
      reject(abortError());
      return;
    }
    client.onClientGone(this.#onAbort);
    this.#watching = true;
  }

  #onAbort = (): void => {
    const err = abortError();
    if (this.#controller !== null) this.#controller.abort(err);
    else this.error(err);
  };

  #unlisten(): void {
    if (!this.#watching) return;
    this.#watching = false;
    this.#req.client?.offClientGone(this.#onAbort);
  }

  start(controller: Controller): void {
    this.#controller = controller;
    // Aborted while queued for a connection: undici learns it now.
    if (this.settled && this.#body === null) controller.abort(abortError());
  }

  headers(status: number, parsed: Record<string, string | string[]>): void {
    const headers = parsed as HeaderMap;
    if (status < 200) {
      this.#req.onInfo?.(status, headers);
      return;
    }
    // The controller itself feeds the body (no closures per request over it).
    const body = new UpstreamBody(this.#controller ?? UNSTARTED);
    this.#body = body;
    this.settled = true;
    this.#resolve({ status, headers: endToEndHeaders(headers), body });
  }

  /** False: pause until the body calls `resume`. */
  data(chunk: Buffer): boolean {
    return this.#body?.deliver(chunk) ?? true;
  }

  complete(): void {
    this.#unlisten();
    this.#body?.complete();
  }

  error(err: Error): void {
    this.#unlisten();
    // As undici's request() does: a failed request's body is spent, never sent again elsewhere.
    const sent = this.#req.body;
    if (sent !== null && !sent.destroyed) {
      // undici's own trick: an IncomingMessage destroyed without its socket leaves the client's connection up for the 502.
      if (sent instanceof IncomingMessage) (sent as { socket: unknown }).socket = null;
      sent.on('error', () => {}).destroy(err);
    }
    if (this.#body !== null) this.#body.fail(err);
    else if (!this.settled) {
      this.settled = true;
      this.#reject(clientGone(this.#req, err) ?? toUpstreamError(err, this.#req.origin));
    }
  }
}

interface Controller {
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** undici starts a request before its answer comes; should it not have, there is nothing to resume or abort. */
const UNSTARTED: Controller = { abort() {}, pause() {}, resume() {} };

/**
 * undici's supported handler interface: a controller to pause, resume and
 * abort with. The deprecated one (onConnect, onHeaders, …) that undici 7
 * still calls directly saves a wrapper per request, which measured no gain
 * side by side (bench/README.md, fast paths).
 */
class ControllerHandler {
  readonly #x: Exchange;
  constructor(exchange: Exchange) {
    this.#x = exchange;
  }
  onRequestStart(controller: Controller): void {
    this.#x.start(controller);
  }
  onResponseStart(_controller: Controller, status: number, headers: Record<string, string | string[]>): void {
    this.#x.headers(status, headers);
  }
  onResponseData(controller: Controller, chunk: Buffer): void {
    if (!this.#x.data(chunk)) controller.pause();
  }
  onResponseEnd(): void {
    this.#x.complete();
  }
  onResponseError(_controller: Controller | undefined, err: Error): void {
    this.#x.error(err);
  }
}

/** What undici's request() rejects with when its signal fires (its RequestAbortedError): isAbort() knows it. */
function abortError(): Error {
  return Object.assign(new Error('Request aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' });
}

/** The client went away (its body then fails with its connection's reset): not the backend's doing. */
function clientGone(req: UpstreamRequest, err: unknown): Error | undefined {
  if (req.client?.clientGone !== true || isAbort(err)) return undefined;
  return Object.assign(new Error('the client went away before the backend answered', { cause: err }), {
    name: 'AbortError',
  });
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
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new TagcacheError('TC_UPSTREAM_TIMEOUT', `backend ${where} sent no headers in time`, 504, {
      cause: err,
    });
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return new TagcacheError('TC_UPSTREAM_TIMEOUT', `backend ${where} stalled sending the body`, 504, {
      cause: err,
    });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
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
  // By name: undici's HTTPParserError may carry no code.
  if ((err as { name?: unknown } | null)?.name === 'HTTPParserError') return true;
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
