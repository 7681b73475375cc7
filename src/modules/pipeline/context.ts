import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { AfterStage, Middleware } from '../../utils/compose.js';
import { TagcacheError } from '../../utils/errors.js';
import type { HeaderMap } from '../../utils/headers.js';
import type { Logger } from '../../utils/logger.js';
import type { RouteMatch } from '../router/types.js';
import type { RequestTrace } from '../tracing/types.js';

/** What X-Cache says, and the `cache` metric label. */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS';

/**
 * What the cache did with a request, as one value: the handler renders it
 * into X-Cache and Cache-Status, and counts and logs it.
 */
export interface Outcome {
  readonly cache: CacheStatus;
  /** RFC 9211 Cache-Status parameters after the cache name, e.g. "fwd=miss; stored". */
  readonly detail: string | undefined;
}

/** Until a stage says otherwise, a request went to the backend. */
export const FORWARDED: Outcome = { cache: 'MISS', detail: undefined };

export interface ProxyResponse {
  status: number;
  /**
   * What the client receives, lower-case names. On a hit it is the stored
   * entry's own object (a copy per hit cost more than the rest of the hit):
   * replace it, never mutate it.
   */
  headers: HeaderMap;
  /** Age (RFC 9111 §5.1) of an answer from the cache, sent after `headers` and instead of any Age in them. */
  readonly age?: string;
  /** The backend's end-to-end headers as received; the cache policy reads these. Never mutated. */
  readonly upstreamHeaders: HeaderMap | undefined;
  /** A buffer (from cache, or a short generated answer), a stream (from the backend), or null. */
  body: Buffer | Readable | null;
}

export interface RequestInit {
  id: string;
  method: string;
  target: string;
  headers: IncomingHttpHeaders;
  scheme: 'http' | 'https';
  /**
   * The peer's address, or the socket to read it from when asked: a hit never asks, and reading
   * a socket's costs a call into it.
   */
  clientIp: string | PeerSocket;
  body: Readable | null;
  log: Logger;
  /**
   * The client's answer, watched the first time a stage asks whether the
   * client goes away (see onClientGone): it has if the answer closes unfinished.
   */
  answer?: WatchedAnswer;
  /** Relays an interim (1xx) response to the client; absent for background requests. */
  onInterim?: (status: number, headers: HeaderMap) => void;
  background?: boolean;
}

/** The connection a request came on, read for its peer's address only when asked. */
export interface PeerSocket {
  readonly remoteAddress?: string | undefined;
}

/** A client's answer (a ServerResponse), as far as watching for the client going away needs it. */
export interface WatchedAnswer {
  readonly writableFinished: boolean;
  on(event: 'close', listener: () => void): unknown;
}

/**
 * One request's state as it passes the pipeline. Built per request, so fields
 * are plain and anything costly (the watch on the client, a child logger) is made on
 * first use: a fresh hit must not pay for what only a miss needs.
 */
export class RequestContext {
  readonly id: string;
  readonly method: string;
  /** The request target as received: path and query. */
  readonly target: string;
  readonly path: string;
  /** The query string including '?', or ''. */
  readonly query: string;
  readonly headers: IncomingHttpHeaders;
  readonly scheme: 'http' | 'https';
  /** The request body to forward; null for requests without one. */
  readonly body: Readable | null;
  /** performance.now() at arrival, for durations. */
  readonly startedAt: number;
  /** Epoch ms at arrival, for cache arithmetic. */
  readonly now: number;
  /** A revalidation the cache runs on its own, with no client waiting. */
  readonly background: boolean;
  readonly log: Logger;

  /** Matched once, by the proxy handler before the chain runs (see routeOf); a revalidation copies its request's. */
  route: RouteMatch | undefined = undefined;
  /**
   * The target sent upstream instead of `target`: a cacheable request sends
   * its key's target, so nothing outside the key reaches the backend.
   */
  upstreamTarget: string | undefined = undefined;
  /** Headers a stage adds to the upstream request (conditional revalidation). */
  upstreamExtraHeaders: HeaderMap | undefined = undefined;
  response: ProxyResponse | undefined = undefined;
  outcome: Outcome = FORWARDED;
  tags: readonly string[] = [];
  upstreamMs: number | undefined = undefined;
  upstreamAddress: string | undefined = undefined;
  /** Relays the backend's interim (1xx) responses to the client, when there is one. */
  readonly onInterim: ((status: number, headers: HeaderMap) => void) | undefined;
  /** Set once the handler has counted and logged this request: it is never done twice. */
  finished = false;
  /** The request's server span, when tracing is on. */
  trace: RequestTrace | undefined = undefined;

  #clientIp: string | PeerSocket;
  readonly #answer: WatchedAnswer | undefined;
  /**
   * Who is told when the client goes away: null until someone asks, then one listener (the
   * usual case: the backend request) or, past one, an array of them.
   */
  #goneListeners: (() => void) | (() => void)[] | null = null;
  #watching = false;
  #clientGone = false;

  constructor(init: RequestInit) {
    this.id = init.id;
    this.method = init.method;
    this.target = init.target;
    const q = init.target.indexOf('?');
    this.path = q === -1 ? init.target : init.target.slice(0, q);
    this.query = q === -1 ? '' : init.target.slice(q);
    this.headers = init.headers;
    this.scheme = init.scheme;
    this.#clientIp = init.clientIp;
    this.body = init.body;
    this.startedAt = performance.now();
    this.now = Date.now();
    this.background = init.background ?? false;
    this.log = init.log;
    this.#answer = init.answer;
    this.onInterim = init.onInterim;
  }

  /** The client went away before its answer was complete (never, for a request no client waits for). */
  get clientGone(): boolean {
    return this.#clientGone;
  }

  /**
   * Calls `listener` once if the client goes away before its answer is
   * complete, unless offClientGone stops it first. The watch on the client's
   * answer is set on first use (a hit never asks). Plain callbacks rather
   * than an AbortSignal: an AbortController and its EventTarget listeners
   * cost a request that reaches the backend more than all of its header work.
   * No closure per listener to stop it either: each one lives as long as its
   * request, and young-generation collections copy whatever is live.
   */
  onClientGone(listener: () => void): void {
    if (!this.#watching) {
      this.#watching = true;
      const answer = this.#answer;
      answer?.on('close', () => {
        if (!answer.writableFinished) this.#gone();
      });
    }
    const listeners = this.#goneListeners;
    if (listeners === null) this.#goneListeners = listener;
    else if (typeof listeners === 'function') this.#goneListeners = [listeners, listener];
    else listeners.push(listener);
  }

  /** Stops a listener onClientGone was given (a no-op once it was called). */
  offClientGone(listener: () => void): void {
    const listeners = this.#goneListeners;
    if (listeners === listener) this.#goneListeners = null;
    else if (Array.isArray(listeners)) {
      const at = listeners.indexOf(listener);
      if (at !== -1) listeners.splice(at, 1);
    }
  }

  #gone(): void {
    this.#clientGone = true;
    const listeners = this.#goneListeners;
    this.#goneListeners = null;
    if (typeof listeners === 'function') listeners();
    else if (listeners !== null) for (const listener of listeners) listener();
  }

  /** The address of the peer that sent this request (a proxy's, when one is in front). */
  get clientIp(): string {
    const ip = this.#clientIp;
    if (typeof ip === 'string') return ip;
    const read = ip.remoteAddress ?? '';
    this.#clientIp = read;
    return read;
  }

  /** The Host the client asked for, lower-case; '' when absent. */
  get host(): string {
    return (this.headers.host ?? '').toLowerCase();
  }
}

export type Stage = Middleware<RequestContext>;
/** A stage that acts only on the way back (see compose). */
export type ResponseStage = AfterStage<RequestContext>;

/** The route matched at the door: every context that enters the chain has one. */
export function routeOf(ctx: RequestContext): RouteMatch {
  const match = ctx.route;
  if (match === undefined) throw new TagcacheError('TC_PIPELINE', 'the chain ran before a route was matched');
  return match;
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * Fresh ids are a random per-process prefix and a counter: unique across
 * processes and restarts like a UUID, at a fraction of randomUUID's cost on
 * every request.
 */
const ID_PREFIX = randomUUID().slice(0, 24);
let idCounter = 0;

export function newRequestId(): string {
  idCounter = (idCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${ID_PREFIX}${idCounter.toString(16).padStart(12, '0')}`;
}

/** The client's X-Request-Id when it is sane, else a fresh one. */
export function requestIdFrom(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && REQUEST_ID.test(given)) return given;
  return newRequestId();
}
