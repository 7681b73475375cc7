import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { InvalidationReport, InvalidationRequest } from '../invalidation/types.js';
import type { Store } from '../store/types.js';
import type { UpstreamClient } from '../upstream/client.js';

/** What a request's server span is opened from (a RequestContext is one). */
export interface RequestStart {
  readonly method: string;
  readonly path: string;
  readonly scheme: 'http' | 'https';
  readonly headers: IncomingHttpHeaders;
  readonly id: string;
}

/** How a request ended, for its server span. */
export interface RequestEnd {
  readonly status: number;
  /** The route's name; undefined when the request never reached the router. */
  readonly route: string | undefined;
  readonly cache: string;
  /** The RFC 9211 parameters tagcache sent, which say "stored" and "collapsed". */
  readonly cacheStatusDetail: string | undefined;
  readonly tags: number;
  readonly bytes: number;
  readonly error: string | undefined;
}

/** One client request's server span. */
export interface RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  /** Runs fn (the pipeline) with this span as the parent of every span it opens. */
  run<T>(fn: () => T): T;
  end(how: RequestEnd): void;
}

export type AdminRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The one interface the rest of tagcache traces through. Off, it is a set of
 * no-ops that hand back what they were given (the store, the client, the
 * promise), so nothing is wrapped and the hit path pays nothing; on, it is the
 * OpenTelemetry SDK, loaded only then (see loadTracing).
 */
export interface Tracing {
  readonly enabled: boolean;
  /** Opens a client request's server span, parented by its traceparent; undefined when off. */
  startRequest(req: RequestStart): RequestTrace | undefined;
  /** The store with a child span around each operation. */
  store(store: Store): Store;
  /** The backend client with a client span per request, whose context goes upstream in traceparent. */
  upstream(client: UpstreamClient): UpstreamClient;
  /** A child span of the current one, open until `waiting` settles. */
  wait<T>(name: string, waiting: Promise<T>): Promise<T>;
  /** fn as a child span of the current one. */
  work<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** fn as the root of a trace of its own, linked to the current span (work a request set off). */
  detached<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** An admin endpoint inside a server span of its own. */
  handler(route: string, handler: AdminRoute): AdminRoute;
  /** An invalidation as a span with its kind, mode and entries (never its tags or URLs). */
  invalidation(req: InvalidationRequest, fn: () => Promise<InvalidationReport>): Promise<InvalidationReport>;
  /** Exports what is queued, within a bound, and stops. */
  shutdown(): Promise<void>;
}
