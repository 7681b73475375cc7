import type { TracingConfig } from '../../utils/tracing-config.js';
import { NO_TRACING } from './noop.js';
import type { OtelDeps } from './otel.js';
import type { Tracing } from './types.js';

export { NO_TRACING } from './noop.js';
export type * from './types.js';

/**
 * The OpenTelemetry SDK when tracing is configured, else the no-op. The SDK
 * is imported here and only here, on demand: with tracing off not one of its
 * modules is loaded.
 */
export async function loadTracing(config: TracingConfig | undefined, deps: OtelDeps): Promise<Tracing> {
  if (config === undefined) return NO_TRACING;
  const { createOtelTracing } = await import('./otel.js');
  return createOtelTracing(config, deps);
}
