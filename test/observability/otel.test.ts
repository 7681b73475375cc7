import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild } from '../core/child.js';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { closedPortUrl } from '../support/ports.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';
import { KIND, type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.js';

const A = { trace: '4bf92f3577b34da6a3ce929d0e0e4736', span: '00f067aa0ba902b7' };
const TRACE_A = {
  traceparent: `00-${A.trace}-${A.span}-01`,
  tracestate: 'congo=t61rcWkgMzE',
};
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;
const TOKEN = 'test-token-0123456789';

/** Export often, so tests wait milliseconds for spans rather than the SDK's 5 s default. */
const FAST_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '20' };

/** expect.poll with room for a loaded machine: spans are exported in the background. */
const eventually = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000 });

let n = 0;
const path = (prefix = '/o') => `${prefix}${++n}`;

/** The server span of the request sent with this X-Request-Id, once exported. */
async function serverSpan(receiver: OtlpReceiver, id: string): Promise<ReceivedSpan> {
  let found: ReceivedSpan | undefined;
  await eventually(() => {
    found = receiver.spans.find((s) => s.kind === KIND.SERVER && s.attributes['tagcache.request_id'] === id);
    return found !== undefined;
  }).toBe(true);
  return found as ReceivedSpan;
}

const childrenOf = (receiver: OtlpReceiver, parent: ReceivedSpan) =>
  receiver.spans.filter((s) => s.traceId === parent.traceId && s.parentSpanId === parent.spanId);

const names = (spans: readonly ReceivedSpan[]) => spans.map((s) => s.name).sort();

async function droppedSpans(proxy: RunningProxy, reason: string): Promise<number> {
  const { body } = await proxy.app.ops.metrics();
  const m = new RegExp(`^tagcache_trace_spans_dropped_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(body);
  return Number(m?.[1] ?? 0);
}

async function inFlight(proxy: RunningProxy): Promise<number> {
  const { body } = await proxy.app.ops.metrics();
  return Number(/^tagcache_requests_in_flight (\d+)/m.exec(body)?.[1] ?? -1);
}

describe('OpenTelemetry traces, exported to an OTLP/HTTP receiver', () => {
  let origin: Origin;
  let receiver: OtlpReceiver;
  let proxy: RunningProxy;

  beforeAll(async () => {
    origin = await startOrigin();
    receiver = await startOtlpReceiver();
    proxy = await startProxy({
      UPSTREAM_URL: origin.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
      ...FAST_EXPORT,
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await receiver?.close();
    await origin?.close();
  });

  it('traces a MISS: server span under the incoming traceparent, store get, backend client span, store put', async () => {
    const p = path();
    origin.on(
      p,
      respond(200, { 'cache-control': 'max-age=60', 'surrogate-key': 'secret-tag-1 secret-tag-2' }),
    );
    const res = await fetchRaw(proxy.url + p, { headers: { ...TRACE_A, 'x-request-id': 'miss-1' } });
    expect(res.headers['x-cache']).toBe('MISS');

    const server = await serverSpan(receiver, 'miss-1');
    expect(server).toMatchObject({ traceId: A.trace, parentSpanId: A.span, name: 'GET all' });
    expect(server.resource).toMatchObject({
      'service.name': 'tagcache',
      'deployment.environment.name': 'test',
    });
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': 'all',
      'url.path': p,
      'http.response.status_code': 200,
      'http.response.body.size': res.body.length,
      'tagcache.cache': 'MISS',
      'tagcache.stored': true,
      'tagcache.collapsed': false,
      'tagcache.tags': 2,
    });
    // The put may finish after the answer went out.
    await eventually(() => names(childrenOf(receiver, server))).toEqual([
      'GET',
      'tagcache.store.get',
      'tagcache.store.put',
    ]);
    const children = childrenOf(receiver, server);
    const get = children.find((s) => s.name === 'tagcache.store.get');
    expect(get?.attributes).toMatchObject({ 'tagcache.store.kind': 'memory', 'tagcache.store.found': false });
    const client = children.find((s) => s.name === 'GET') as ReceivedSpan;
    expect(client.kind).toBe(KIND.CLIENT);
    expect(client.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': origin.port,
      'url.full': `${origin.url}${p}`,
      'http.response.status_code': 200,
    });

    // The backend joins the trace under the client span, not under the browser's span.
    const upstream = origin.seen.find((s) => s.url === p);
    expect(upstream?.headers.traceparent).toBe(`00-${A.trace}-${client.spanId}-01`);
    expect(upstream?.headers.tracestate).toBe(TRACE_A.tracestate);
    // Tag values never leave in a span.
    expect(JSON.stringify(receiver.trace(A.trace))).not.toContain('secret-tag');
  });

  it('puts the trace and span ids in the access log line', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'no-store' }));
    await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'logged-1' } });
    const server = await serverSpan(receiver, 'logged-1');
    await eventually(() => proxy.lines.find((l) => l.msg === 'request' && l.id === 'logged-1')).toMatchObject(
      { trace_id: server.traceId, span_id: server.spanId },
    );
  });

  it('traces a HIT with its store get and no backend span', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'max-age=60' }));
    await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'hit-0' } });
    await serverSpan(receiver, 'hit-0');
    const res = await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'hit-1' } });
    expect(res.headers['x-cache']).toBe('HIT');

    const server = await serverSpan(receiver, 'hit-1');
    expect(server.attributes).toMatchObject({ 'tagcache.cache': 'HIT', 'tagcache.stored': false });
    // Children end before their parent and are exported in order: all of them are in by now.
    const trace = receiver.trace(server.traceId);
    expect(names(trace)).toEqual(['GET all', 'tagcache.store.get']);
    expect(trace.find((s) => s.name === 'tagcache.store.get')?.attributes['tagcache.store.found']).toBe(true);
    expect(trace.some((s) => s.kind === KIND.CLIENT)).toBe(false);
  });

  it("shows a collapsed request's wait for the request it joined", async () => {
    const p = path();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    origin.on(p, (_req, res, c) => {
      void gate.then(() => res.writeHead(200, { 'cache-control': 'max-age=60' }).end(`body #${c}`));
    });
    const leader = fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'leader-1' } });
    await eventually(() => origin.count(p)).toBe(1);
    const follower = fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'follower-1' } });
    // The memory store answers at once, so a request in flight has joined the leader.
    await eventually(() => inFlight(proxy)).toBe(2);
    release();
    const answers = await Promise.all([leader, follower]);
    expect(answers.map((a) => a.text())).toEqual(['body #1', 'body #1']);
    expect(origin.count(p)).toBe(1);

    const server = await serverSpan(receiver, 'follower-1');
    expect(server.attributes).toMatchObject({ 'tagcache.cache': 'HIT', 'tagcache.collapsed': true });
    expect(names(childrenOf(receiver, server))).toEqual(['tagcache.collapsed_wait', 'tagcache.store.get']);
    expect(receiver.trace(server.traceId).some((s) => s.kind === KIND.CLIENT)).toBe(false);
  });

  it('traces a background revalidation as a trace of its own, linked to the stale hit that set it off', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'max-age=0, stale-while-revalidate=60' }));
    await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'swr-0' } });
    const stale = await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'swr-1' } });
    expect(stale.headers['x-cache']).toBe('STALE');
    const server = await serverSpan(receiver, 'swr-1');
    expect(server.attributes['tagcache.cache']).toBe('STALE');

    let revalidation: ReceivedSpan | undefined;
    await eventually(() => {
      revalidation = receiver.spans.find(
        (s) => s.name === 'tagcache.revalidate' && s.links.some((l) => l.spanId === server.spanId),
      );
      return revalidation;
    }).toMatchObject({ parentSpanId: '', links: [{ traceId: server.traceId, spanId: server.spanId }] });
    const own = revalidation as ReceivedSpan;
    expect(own.traceId).not.toBe(server.traceId);
    await eventually(() => names(childrenOf(receiver, own))).toEqual(['GET', 'tagcache.store.put']);
    const client = childrenOf(receiver, own).find((s) => s.name === 'GET') as ReceivedSpan;
    await eventually(() => origin.count(p)).toBe(2);
    expect(origin.seen.filter((s) => s.url === p)[1]?.headers.traceparent).toBe(
      `00-${own.traceId}-${client.spanId}-01`,
    );
  });

  it('traces a purge: the admin request, the invalidation with kind, mode and entries, and the store work', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'max-age=60', 'surrogate-key': 'secret-purge-tag' }));
    await fetchRaw(proxy.url + p);
    const res = await fetchRaw(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...TRACE_A },
      body: JSON.stringify({ tags: ['secret-purge-tag'] }),
    });
    expect(res.status).toBe(200);

    let admin: ReceivedSpan | undefined;
    await eventually(() => {
      admin = receiver.spans.find((s) => s.name === 'POST /invalidate');
      return admin;
    }).toMatchObject({
      kind: KIND.SERVER,
      traceId: A.trace,
      parentSpanId: A.span,
      attributes: { 'http.route': '/invalidate', 'http.response.status_code': 200 },
    });
    const invalidation = childrenOf(receiver, admin as ReceivedSpan);
    expect(invalidation).toMatchObject([
      {
        name: 'tagcache.invalidate',
        attributes: {
          'tagcache.invalidation.kind': 'tags',
          'tagcache.invalidation.mode': 'hard',
          'tagcache.invalidation.items': 1,
          'tagcache.invalidation.entries': 1,
        },
      },
    ]);
    expect(childrenOf(receiver, invalidation[0] as ReceivedSpan)).toMatchObject([
      { name: 'tagcache.store.invalidate', attributes: { 'tagcache.store.kind': 'memory' } },
    ]);
    expect(JSON.stringify(receiver.trace(A.trace))).not.toContain('secret-purge-tag');
    expect(JSON.stringify(receiver.trace(A.trace))).not.toContain(TOKEN);
  });

  it('ignores a malformed traceparent and sends the backend a valid one of its own trace', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'no-store' }));
    await fetchRaw(proxy.url + p, {
      headers: { traceparent: '00-zzzz-not-a-trace-01', tracestate: 'x=y', 'x-request-id': 'bogus-1' },
    });
    const server = await serverSpan(receiver, 'bogus-1');
    expect(server.parentSpanId).toBe('');
    const sent = origin.seen.find((s) => s.url === p)?.headers.traceparent;
    expect(sent).toMatch(TRACEPARENT);
    expect(TRACEPARENT.exec(sent as string)?.[1]).toBe(server.traceId);
    expect(origin.seen.find((s) => s.url === p)?.headers.tracestate).toBeUndefined();
  });

  it('exports nothing of a request its parent left unsampled, yet the backend and the log line still join its trace', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'max-age=60' }));
    const unsampled = { trace: '0af7651916cd43dd8448eb211c80319c', span: 'b7ad6b7169203331' };
    await fetchRaw(proxy.url + p, {
      headers: { traceparent: `00-${unsampled.trace}-${unsampled.span}-00`, 'x-request-id': 'unsampled-1' },
    });
    const sent = String(origin.seen.find((s) => s.url === p)?.headers.traceparent);
    const [, traceId, spanId] = TRACEPARENT.exec(sent) ?? [];
    expect(traceId).toBe(unsampled.trace);
    expect(spanId).not.toBe(unsampled.span);
    expect(sent.endsWith('-00')).toBe(true);
    await eventually(() =>
      proxy.lines.find((l) => l.msg === 'request' && l.id === 'unsampled-1'),
    ).toMatchObject({
      trace_id: unsampled.trace,
      span_id: spanId,
    });
    // A later sampled request's spans are exported; by then this one's would have been too.
    await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'after-unsampled' } });
    await serverSpan(receiver, 'after-unsampled');
    expect(receiver.trace(unsampled.trace)).toEqual([]);
  });

  it('sends JSON bodies to /v1/traces', () => {
    expect(receiver.contentTypes.length).toBeGreaterThan(0);
    expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/json']));
  });
});

describe('a traced purge on Redis', () => {
  let redis: TestRedis;
  let origin: Origin;
  let receiver: OtlpReceiver;
  let proxy: RunningProxy;
  beforeAll(async () => {
    redis = await startRedis();
    origin = await startOrigin();
    receiver = await startOtlpReceiver();
    proxy = await startProxy({
      UPSTREAM_URL: origin.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('otel'),
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      ...FAST_EXPORT,
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await receiver?.close();
    await origin?.close();
    await redis?.stop();
  });

  it('shows the Redis purge and the pub/sub publish under the store invalidation', async () => {
    const p = path();
    origin.on(p, respond(200, { 'cache-control': 'max-age=60', 'surrogate-key': 'redis-tag' }));
    await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'redis-miss' } });
    const miss = await serverSpan(receiver, 'redis-miss');
    await eventually(
      () => childrenOf(receiver, miss).find((s) => s.name === 'tagcache.store.put')?.attributes,
    ).toMatchObject({ 'tagcache.store.kind': 'redis', 'db.system.name': 'redis' });

    const res = await fetchRaw(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...TRACE_A },
      body: JSON.stringify({ tags: ['redis-tag'], soft: true }),
    });
    expect(res.status).toBe(200);
    let store: ReceivedSpan | undefined;
    await eventually(() => {
      store = receiver.spans.find((s) => s.name === 'tagcache.store.invalidate');
      return store;
    }).toMatchObject({
      traceId: A.trace,
      kind: KIND.CLIENT,
      attributes: {
        'tagcache.store.kind': 'redis',
        'tagcache.invalidation.mode': 'soft',
        'tagcache.invalidation.entries': 1,
      },
    });
    expect(names(childrenOf(receiver, store as ReceivedSpan))).toEqual([
      'tagcache.store.publish',
      'tagcache.store.purge',
    ]);
  });
});

describe('a collector that is down or hangs', () => {
  it('changes no answer; failed exports are counted and logged once per change of health', async () => {
    const origin = await startOrigin();
    const down = await closedPortUrl();
    const proxy = await startProxy({
      UPSTREAM_URL: origin.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: down,
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      ...FAST_EXPORT,
    });
    const exportLines = () => proxy.lines.filter((l) => l.msg.startsWith('trace export'));
    let receiver: OtlpReceiver | undefined;
    try {
      const p = path();
      origin.on(p, respond(200, { 'cache-control': 'max-age=60' }, 'same'));
      const first = await fetchRaw(proxy.url + p);
      expect([first.status, first.headers['x-cache'], first.text()]).toEqual([200, 'MISS', 'same #1']);
      await eventually(() => droppedSpans(proxy, 'export_failed')).toBeGreaterThan(0);
      const afterFirst = await droppedSpans(proxy, 'export_failed');
      for (let i = 0; i < 3; i++) {
        const hit = await fetchRaw(proxy.url + p);
        expect([hit.status, hit.headers['x-cache'], hit.text()]).toEqual([200, 'HIT', 'same #1']);
      }
      // A second failed batch: still one line saying so.
      await eventually(() => droppedSpans(proxy, 'export_failed')).toBeGreaterThan(afterFirst);
      expect(exportLines().map((l) => [l.level, l.msg])).toEqual([
        ['warn', expect.stringContaining('trace export failing')],
      ]);

      // The collector comes up where it was expected: one line says so, and spans flow again.
      receiver = await startOtlpReceiver(Number(new URL(down).port));
      await fetchRaw(proxy.url + p, { headers: { 'x-request-id': 'after-outage' } });
      await serverSpan(receiver, 'after-outage');
      await eventually(() => exportLines().length).toBe(2);
      expect(exportLines()[1]).toMatchObject({ level: 'info', msg: 'trace export recovered' });
    } finally {
      await proxy.close();
      await receiver?.close();
      await origin.close();
    }
  });

  it('keeps answering while a hung collector holds the export; the bounded queue drops and counts the rest', async () => {
    const origin = await startOrigin();
    const receiver = await startOtlpReceiver();
    receiver.mode = 'hang';
    const proxy = await startProxy({
      UPSTREAM_URL: origin.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TIMEOUT: '600000',
      OTEL_BSP_EXPORT_TIMEOUT: '600000',
      OTEL_BSP_MAX_QUEUE_SIZE: '8',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2',
      ...FAST_EXPORT,
    });
    try {
      const p = path();
      origin.on(p, respond(200, { 'cache-control': 'max-age=60' }, 'held'));
      const first = await fetchRaw(proxy.url + p);
      expect([first.status, first.text()]).toEqual([200, 'held #1']);
      await eventually(() => receiver.requests).toBeGreaterThan(0);
      for (let i = 0; i < 20; i++) {
        const hit = await fetchRaw(proxy.url + p);
        expect([hit.status, hit.headers['x-cache'], hit.text()]).toEqual([200, 'HIT', 'held #1']);
      }
      await eventually(() => droppedSpans(proxy, 'queue_full')).toBeGreaterThan(0);
    } finally {
      // Shutdown gives up on the hung export instead of waiting for it.
      await proxy.close();
      await receiver.close();
      await origin.close();
    }
  });
});

describe('with no OTEL endpoint set', () => {
  /** A preload that lists, at exit, every @opentelemetry module the process loaded. */
  function moduleProbe(): { nodeOptions: string; loaded(): string[] } {
    const dir = mkdtempSync(join(tmpdir(), 'tagcache-otel-probe-'));
    const out = join(dir, 'loaded.json');
    const probe = join(dir, 'probe.cjs');
    writeFileSync(
      probe,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, ` +
        `JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@opentelemetry')))));\n`,
    );
    return { nodeOptions: `--require ${probe}`, loaded: () => JSON.parse(readFileSync(out, 'utf8')) };
  }

  async function serveTwice(env: Record<string, string>): Promise<string[]> {
    const origin = await startOrigin();
    origin.on('/products/1', respond(200, { 'cache-control': 'max-age=60' }));
    const probe = moduleProbe();
    const child = await startChild({ UPSTREAM_URL: origin.url, NODE_OPTIONS: probe.nodeOptions, ...env });
    try {
      expect((await fetchRaw(`${child.url}/products/1`)).headers['x-cache']).toBe('MISS');
      expect((await fetchRaw(`${child.url}/products/1`)).headers['x-cache']).toBe('HIT');
    } finally {
      expect(await child.stop()).toBe(0);
      await origin.close();
    }
    return probe.loaded();
  }

  it('loads no OpenTelemetry module and exports nothing, whatever other OTEL_* variables say', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const loaded = await serveTwice({ OTEL_SERVICE_NAME: 'shop', OTEL_TRACES_SAMPLER: 'always_on' });
      // prom-client itself requires the API package (for exemplars); the SDK, exporter and the rest stay out.
      expect(loaded.filter((k) => !k.includes('/@opentelemetry/api/'))).toEqual([]);
      expect(receiver.requests).toBe(0);
    } finally {
      await receiver.close();
    }
  });

  it('(the same probe sees the SDK, and the receiver its spans, once the endpoint is set)', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const loaded = await serveTwice({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
      expect(loaded.some((k) => k.includes('@opentelemetry/sdk-trace'))).toBe(true);
      // Shutdown exported what was queued.
      expect(receiver.spans.filter((s) => s.kind === KIND.SERVER)).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  });
});
