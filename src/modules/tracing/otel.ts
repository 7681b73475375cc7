import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { Logger } from '../../utils/logger.js';
import type { TracingConfig } from '../../utils/tracing-config.js';
import type { Metrics } from '../metrics/registry.js';
import { createExportProcessor } from './otel-export.js';
import { endWhen, methodName, type SpanKit } from './otel-kit.js';
import { traceStore } from './otel-store.js';
import { traceUpstream } from './otel-upstream.js';
import type { RequestEnd, RequestStart, RequestTrace, Tracing } from './types.js';

export interface OtelDeps {
  readonly metrics: Pick<Metrics, 'traceSpansDropped'>;
  readonly log: Logger;
}

/** A generous bound on shutdown: a dead collector must not hold a stopping proxy. */
const SHUTDOWN_BOUND_MS = 2_000;

export function createOtelTracing(config: TracingConfig, deps: OtelDeps): Tracing {
  const processor = createExportProcessor(
    config,
    new OTLPTraceExporter({
      url: config.url,
      headers: { ...config.headers },
      timeoutMillis: config.timeoutMs,
    }),
    deps,
  );
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...config.resourceAttributes, [ATTR_SERVICE_NAME]: config.serviceName }),
    ),
    sampler: samplerFor(config),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('tagcache');
  const propagator = new W3CTraceContextPropagator();
  // The parent of spans opened now. Our own storage rather than the API's global context manager:
  // nothing is registered globally, so two proxies in one process keep their traces apart.
  const als = new AsyncLocalStorage<Context>();
  const current = () => als.getStore() ?? ROOT_CONTEXT;

  const kit: SpanKit = {
    sampled() {
      const parent = trace.getSpanContext(current());
      return parent === undefined || (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
    },
    current,
    start: (name, kind, attributes) => tracer.startSpan(name, { kind, attributes }, current()),
    contextWith: (span) => trace.setSpan(current(), span),
    within: (span, fn) => als.run(trace.setSpan(current(), span), fn),
    propagator,
  };

  /** fn inside `span`, which ends when fn settles; a failure marks it and passes on. */
  function within<T>(span: Span, ctx: Context, fn: () => Promise<T>): Promise<T> {
    return als.run(ctx, () => endWhen(span, fn()));
  }

  return {
    enabled: true,
    startRequest(req: RequestStart): RequestTrace {
      const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
      const method = methodName(req.method);
      const span = tracer.startSpan(method, { kind: SpanKind.SERVER }, parent);
      // Most requests are not sampled: their spans take no attributes.
      if (span.isRecording()) {
        span.setAttributes({
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_URL_PATH]: req.path,
          [ATTR_URL_SCHEME]: req.scheme,
          'tagcache.request_id': req.id,
        });
      }
      const ctx = trace.setSpan(parent, span);
      const { traceId, spanId } = span.spanContext();
      return {
        traceId,
        spanId,
        run: (fn) => als.run(ctx, fn),
        end: (how) => endRequest(span, method, how),
      };
    },
    store: (store) => traceStore(store, kit),
    upstream: (client) => traceUpstream(client, kit),
    wait(name, waiting) {
      if (!kit.sampled()) return waiting;
      const span = kit.start(name, SpanKind.INTERNAL);
      return endWhen(span, waiting);
    },
    work(name, fn) {
      if (!kit.sampled()) return fn();
      const span = kit.start(name, SpanKind.INTERNAL);
      return within(span, kit.contextWith(span), fn);
    },
    detached(name, fn) {
      const trigger = trace.getSpanContext(current());
      const span = tracer.startSpan(
        name,
        {
          kind: SpanKind.INTERNAL,
          root: true,
          links: trigger === undefined ? [] : [{ context: trigger }],
        },
        ROOT_CONTEXT,
      );
      return within(span, trace.setSpan(ROOT_CONTEXT, span), fn);
    },
    handler(route, handler) {
      return (req, res) => {
        const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
        const method = methodName(req.method);
        const span = tracer.startSpan(
          `${method} ${route}`,
          {
            kind: SpanKind.SERVER,
            attributes: {
              [ATTR_HTTP_REQUEST_METHOD]: method,
              [ATTR_HTTP_ROUTE]: route,
              [ATTR_URL_PATH]: route,
            },
          },
          parent,
        );
        res.once('close', () => {
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
          if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        });
        return als.run(trace.setSpan(parent, span), () => handler(req, res));
      };
    },
    invalidation(req, fn) {
      if (!kit.sampled()) return fn();
      const { target } = req;
      const span = kit.start('tagcache.invalidate', SpanKind.INTERNAL, {
        'tagcache.invalidation.kind': target.kind,
        'tagcache.invalidation.mode': req.soft ? 'soft' : 'hard',
        'tagcache.invalidation.items':
          target.kind === 'tags' ? target.tags.length : target.kind === 'urls' ? target.urls.length : 0,
      });
      return within(span, kit.contextWith(span), async () => {
        const report = await fn();
        span.setAttribute('tagcache.invalidation.entries', report.entries);
        return report;
      });
    },
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_BOUND_MS);
      });
      try {
        await Promise.race([provider.shutdown().catch(() => undefined), bound]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The HTTP server conventions, and tagcache's own: what the cache did (never tag values). */
function endRequest(span: Span, method: string, how: RequestEnd): void {
  if (!span.isRecording()) return;
  if (how.route !== undefined) {
    span.updateName(`${method} ${how.route}`);
    span.setAttribute(ATTR_HTTP_ROUTE, how.route);
  }
  const detail = how.cacheStatusDetail ?? '';
  span.setAttributes({
    [ATTR_HTTP_RESPONSE_STATUS_CODE]: how.status,
    'http.response.body.size': how.bytes,
    'tagcache.cache': how.cache,
    'tagcache.collapsed': /(?:^|; )(?:detail=)?collapsed(?:;|$)/.test(detail),
    'tagcache.stored': /(?:^|; )stored(?:;|$)/.test(detail),
    'tagcache.tags': how.tags,
  });
  // Server spans: a 4xx is the client's doing, not an error of ours (HTTP semantic conventions).
  if (how.status >= 500 || how.error !== undefined) {
    span.setAttribute(ATTR_ERROR_TYPE, how.error ?? String(how.status));
    if (how.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: how.error });
  }
  span.end();
}

function samplerFor(config: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
