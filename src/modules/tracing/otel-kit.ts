import { type Attributes, type Context, type Span, type SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';

/** What the store and upstream wrappers need: spans under the current one, and the propagator. */
export interface SpanKit {
  /** Opens a span as a child of the current one. */
  start(name: string, kind: SpanKind, attributes?: Attributes): Span;
  /** The current context, with `span` as its span. */
  contextWith(span: Span): Context;
  /** fn with `span` as the current span, the parent of what fn opens. */
  within<T>(span: Span, fn: () => T): T;
  readonly propagator: W3CTraceContextPropagator;
}

/** Marks a span failed with the error's tagcache code (or its name) as error.type. */
export function failed(span: Span, err: unknown): void {
  const code = (err as { code?: unknown } | null)?.code;
  const type = typeof code === 'string' ? code : err instanceof Error ? err.name : 'error';
  span.setAttribute(ATTR_ERROR_TYPE, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}
