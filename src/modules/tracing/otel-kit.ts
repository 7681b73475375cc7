import { type Attributes, type Context, type Span, type SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';

/** What the store and upstream wrappers need: spans under the current one, and the propagator. */
export interface SpanKit {
  /**
   * False under a span the sampler turned down: nothing below it would be
   * sampled either (every sampler tagcache offers decides by the parent or by
   * the trace id), so callers skip opening spans and pay nothing.
   */
  sampled(): boolean;
  /** The context spans opened now are children of. */
  current(): Context;
  /** Opens a span as a child of the current one. */
  start(name: string, kind: SpanKind, attributes?: Attributes): Span;
  /** The current context, with `span` as its span. */
  contextWith(span: Span): Context;
  /** fn with `span` as the current span, the parent of what fn opens. */
  within<T>(span: Span, fn: () => T): T;
  readonly propagator: W3CTraceContextPropagator;
}

/** Methods the HTTP semantic conventions name; anything else a client sends is _OTHER, never a new name. */
const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

export function methodName(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : '_OTHER';
}

/** Marks a span failed with the error's tagcache code (or its name) as error.type. */
export function failed(span: Span, err: unknown): void {
  const code = (err as { code?: unknown } | null)?.code;
  const type = typeof code === 'string' ? code : err instanceof Error ? err.name : 'error';
  span.setAttribute(ATTR_ERROR_TYPE, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** work, with `span` ended when it settles (after `after` saw the value); a failure marks it and passes on. */
export function endWhen<T>(span: Span, work: Promise<T>, after?: (value: T) => void): Promise<T> {
  return work.then(
    (value) => {
      after?.(value);
      span.end();
      return value;
    },
    (err: unknown) => {
      failed(span, err);
      span.end();
      throw err;
    },
  );
}
