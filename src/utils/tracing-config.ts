import { type Env, fail, readBool, readInt } from './env.js';

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/** OpenTelemetry tracing, from the standard OTEL_* variables; undefined means off. */
export interface TracingConfig {
  /** Where spans are POSTed (OTLP/HTTP with JSON bodies), the full URL including /v1/traces. */
  readonly url: string;
  /** Sent with every export (collector credentials): never logged. */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES, decoded. */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly sampler: SamplerName;
  /** The ratio of the traceidratio samplers, 0 to 1. */
  readonly samplerRatio: number;
  /** Finished spans waiting for export; past it new ones are dropped and counted. */
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly scheduleDelayMs: number;
  readonly exportTimeoutMs: number;
}

const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/**
 * Tracing is on when an OTLP endpoint is named and neither OTEL_SDK_DISABLED
 * nor OTEL_TRACES_EXPORTER=none turns it off. The names and meanings are the
 * OpenTelemetry SDK's own, so an operator's usual environment works; values
 * the SDK would quietly ignore or replace stop start-up here instead.
 */
export function readTracingConfig(env: Env): TracingConfig | undefined {
  if (readBool(env, 'OTEL_SDK_DISABLED', false)) return undefined;
  const exporter = readTrimmed(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase();
  if (exporter === 'none') return undefined;
  if (exporter !== undefined && exporter !== 'otlp') {
    fail('OTEL_TRACES_EXPORTER', exporter, 'otlp or none (tagcache exports traces over OTLP/HTTP only)');
  }
  const url = readEndpoint(env);
  if (url === undefined) return undefined;
  // The traces variable wins; the generic one may then name another protocol for other programs' signals.
  const tracesProtocol = readTrimmed(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL');
  if (tracesProtocol !== undefined) checkProtocol('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', tracesProtocol);
  else checkProtocol('OTEL_EXPORTER_OTLP_PROTOCOL', readTrimmed(env, 'OTEL_EXPORTER_OTLP_PROTOCOL'));
  const sampler = readSampler(env);
  const resourceAttributes = readKeyValues(env, 'OTEL_RESOURCE_ATTRIBUTES');
  const maxQueueSize = readInt(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1, 1_000_000);
  const maxExportBatchSize = readInt(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, 1, 1_000_000);
  if (maxExportBatchSize > maxQueueSize) {
    fail(
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
      String(maxExportBatchSize),
      `at most OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`,
    );
  }
  const headers =
    readTrimmed(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS') !== undefined
      ? readKeyValues(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', true)
      : readKeyValues(env, 'OTEL_EXPORTER_OTLP_HEADERS', true);
  const timeoutMs =
    readTrimmed(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') !== undefined
      ? readInt(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 10_000, 1, 600_000)
      : readInt(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000, 1, 600_000);
  return Object.freeze({
    url,
    headers,
    timeoutMs,
    serviceName: readTrimmed(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? 'tagcache',
    resourceAttributes,
    sampler,
    samplerRatio: readRatioArg(env, sampler),
    maxQueueSize,
    maxExportBatchSize,
    scheduleDelayMs: readInt(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, 0, 600_000),
    exportTimeoutMs: readInt(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000, 1, 600_000),
  });
}

function readTrimmed(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** The traces endpoint is used as given; the generic one gets the signal's path appended (OTLP spec). */
function checkProtocol(name: string, protocol: string | undefined): void {
  if (protocol !== undefined && protocol !== 'http/json') {
    fail(name, protocol, 'http/json or unset (tagcache sends OTLP over HTTP with JSON bodies)');
  }
}

function readEndpoint(env: Env): string | undefined {
  const traces = readTrimmed(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (traces !== undefined) return httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', traces).href;
  const base = readTrimmed(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base === undefined) return undefined;
  const url = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url.href;
}

function httpUrl(name: string, value: string): URL {
  const expected = 'an http:// or https:// URL, such as http://127.0.0.1:4318';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(name, value, expected);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(name, value, expected);
  if (url.username !== '' || url.password !== '') {
    fail(name, '<hidden>', `${expected}, without credentials (put them in OTEL_EXPORTER_OTLP_HEADERS)`);
  }
  return url;
}

function readSampler(env: Env): SamplerName {
  const value = readTrimmed(env, 'OTEL_TRACES_SAMPLER');
  if (value === undefined) return 'parentbased_always_on';
  const name = value.toLowerCase() as SamplerName;
  if (!SAMPLERS.includes(name)) fail('OTEL_TRACES_SAMPLER', value, `one of ${SAMPLERS.join(', ')}`);
  return name;
}

function readRatioArg(env: Env, sampler: SamplerName): number {
  const value = readTrimmed(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (value === undefined || !sampler.endsWith('traceidratio')) return 1;
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || n > 1) {
    fail('OTEL_TRACES_SAMPLER_ARG', value, 'a sampling ratio from 0 to 1, such as 0.1');
  }
  return n;
}

/**
 * The W3C Baggage-like `key=value,key2=value2` form OTEL_RESOURCE_ATTRIBUTES
 * and OTEL_EXPORTER_OTLP_HEADERS share, values percent-decoded.
 */
function readKeyValues(env: Env, name: string, secret = false): Readonly<Record<string, string>> {
  const value = readTrimmed(env, name);
  const out: Record<string, string> = {};
  if (value === undefined) return Object.freeze(out);
  const expected = 'comma-separated key=value pairs, such as a=1,b=2 (values percent-encoded)';
  for (const item of value.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    const key = eq <= 0 ? '' : item.slice(0, eq).trim();
    if (key === '') fail(name, secret ? '<hidden>' : value, expected);
    try {
      out[key] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      fail(name, secret ? '<hidden>' : value, expected);
    }
  }
  return Object.freeze(out);
}
