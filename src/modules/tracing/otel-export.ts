import { type Context, TraceFlags } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { errorMessage } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import type { TracingConfig } from '../../utils/tracing-config.js';
import type { Metrics } from '../metrics/registry.js';

export interface ExportDeps {
  readonly metrics: Pick<Metrics, 'traceSpansDropped'>;
  readonly log: Logger;
}

/**
 * The SDK's BatchSpanProcessor, bounded and watched: finished spans wait in
 * a queue of OTEL_BSP_MAX_QUEUE_SIZE and go out in batches in the
 * background, so a slow or dead collector never holds a request. Spans that
 * find the queue full, or whose export failed, are counted in
 * tagcache_trace_spans_dropped_total; the SDK only tells its diag logger. The
 * exporter's health is logged once per change, not once per batch.
 */
export function createExportProcessor(
  config: TracingConfig,
  exporter: SpanExporter,
  { metrics, log }: ExportDeps,
): SpanProcessor {
  const queueFull = metrics.traceSpansDropped.labels('queue_full');
  const exportFailed = metrics.traceSpansDropped.labels('export_failed');
  const endpoint = new URL(config.url);
  const where = `${endpoint.origin}${endpoint.pathname}`;
  // Spans handed to the batch processor and not yet to the exporter: the batch processor's queue, counted
  // here because it drops silently. Its own bound is never reached, as this one refuses first.
  let queued = 0;
  let healthy = true;

  const watched: SpanExporter = {
    export(spans, done) {
      queued -= spans.length;
      exporter.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) {
          if (!healthy) {
            healthy = true;
            log.info({ endpoint: where }, 'trace export recovered');
          }
        } else {
          exportFailed.inc(spans.length);
          if (healthy) {
            healthy = false;
            log.warn(
              { endpoint: where, err: result.error === undefined ? undefined : errorMessage(result.error) },
              'trace export failing; spans are dropped until the collector answers (requests are not affected)',
            );
          }
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
  const batch = new BatchSpanProcessor(watched, {
    maxQueueSize: config.maxQueueSize,
    maxExportBatchSize: config.maxExportBatchSize,
    scheduledDelayMillis: config.scheduleDelayMs,
    exportTimeoutMillis: config.exportTimeoutMs,
  });

  return {
    onStart: (span: Span, parent: Context) => batch.onStart(span, parent),
    onEnd(span: ReadableSpan) {
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
      if (queued >= config.maxQueueSize) {
        queueFull.inc();
        return;
      }
      queued++;
      batch.onEnd(span);
    },
    forceFlush: () => batch.forceFlush(),
    shutdown: () => batch.shutdown(),
  };
}
