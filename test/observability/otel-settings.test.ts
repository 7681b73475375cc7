import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/utils/config.js';
import { rejected } from '../support/config.js';

const ON = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };

describe('tracing settings (the standard OTEL_* variables)', () => {
  it('are off unless an OTLP endpoint is named, whatever else is set', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(
      loadConfig({
        OTEL_SERVICE_NAME: 'shop',
        OTEL_TRACES_SAMPLER: 'always_on',
        OTEL_RESOURCE_ATTRIBUTES: 'a=b',
      }).tracing,
    ).toBeUndefined();
  });

  it('are off with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none, endpoint or not', () => {
    expect(loadConfig({ ...ON, OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
    expect(loadConfig({ ...ON, OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined();
  });

  it('have the SDK defaults: service tagcache, parent-based always-on sampling, a 2048-span queue', () => {
    expect(loadConfig(ON).tracing).toEqual({
      url: 'http://collector:4318/v1/traces',
      headers: {},
      timeoutMs: 10_000,
      serviceName: 'tagcache',
      resourceAttributes: {},
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      maxQueueSize: 2048,
      maxExportBatchSize: 512,
      scheduleDelayMs: 5_000,
      exportTimeoutMs: 30_000,
    });
  });

  it('append /v1/traces to the generic endpoint and take the traces endpoint as given', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/base/' }).tracing?.url).toBe(
      'https://otel.example/base/v1/traces',
    );
    expect(
      loadConfig({ ...ON, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:9999/custom' }).tracing?.url,
    ).toBe('http://other:9999/custom');
  });

  it('read the sampler, its ratio, resource attributes and exporter headers', () => {
    const t = loadConfig({
      ...ON,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,deployment.environment.name=prod%20eu',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-honeycomb-team=abc%3D,x-other=1',
    }).tracing;
    expect(t).toMatchObject({
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.1,
      serviceName: 'from-attrs',
      resourceAttributes: { 'deployment.environment.name': 'prod eu' },
      headers: { 'x-honeycomb-team': 'abc=', 'x-other': '1' },
    });
    expect(
      loadConfig({ ...ON, OTEL_SERVICE_NAME: 'edge', OTEL_RESOURCE_ATTRIBUTES: 'service.name=x' }).tracing,
    ).toMatchObject({ serviceName: 'edge' });
  });

  it('stop start-up with one line naming the setting for values the SDK would quietly replace', () => {
    expect(rejected({ ...ON, OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toMatch(
      /^OTEL_TRACES_SAMPLER="jaeger_remote": expected one of always_on/,
    );
    expect(rejected({ ...ON, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '10%' })).toMatch(
      /^OTEL_TRACES_SAMPLER_ARG="10%": expected a sampling ratio from 0 to 1/,
    );
    expect(rejected({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toMatch(
      /^OTEL_EXPORTER_OTLP_ENDPOINT=/,
    );
    expect(rejected({ ...ON, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toMatch(
      /^OTEL_EXPORTER_OTLP_PROTOCOL="grpc": expected http\/json or unset/,
    );
    expect(rejected({ ...ON, OTEL_TRACES_EXPORTER: 'zipkin' })).toMatch(/^OTEL_TRACES_EXPORTER="zipkin"/);
    expect(rejected({ ...ON, OTEL_BSP_MAX_QUEUE_SIZE: 'lots' })).toMatch(/^OTEL_BSP_MAX_QUEUE_SIZE="lots"/);
    expect(rejected({ ...ON, OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' })).toMatch(
      /^OTEL_BSP_MAX_EXPORT_BATCH_SIZE="20": expected at most OTEL_BSP_MAX_QUEUE_SIZE/,
    );
  });

  it('never print exporter headers or endpoint credentials in an error', () => {
    const headers = rejected({ ...ON, OTEL_EXPORTER_OTLP_HEADERS: 'secret-api-key-value' });
    expect(headers).toMatch(/^OTEL_EXPORTER_OTLP_HEADERS="<hidden>"/);
    expect(headers).not.toContain('secret-api-key-value');
    const url = rejected({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:secret-pw@collector:4318' });
    expect(url).not.toContain('secret-pw');
  });
});
