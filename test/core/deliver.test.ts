import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyHandler } from '../../src/handlers/proxy.js';
import { createMetrics } from '../../src/modules/metrics/registry.js';
import { createRequestRecorder } from '../../src/modules/metrics/request-recorder.js';
import type { RequestContext } from '../../src/modules/pipeline/context.js';
import { parseRoutes } from '../../src/modules/router/index.js';
import { createAccessLog } from '../../src/utils/access-log.js';
import { fetchRaw, type Listening, listen } from '../support/http.js';
import { captureLog } from '../support/log.js';

/** A body whose reading throws in the handler itself: a fault of ours, not of a backend or a client. */
function faultyBody(): Readable {
  const body = Readable.from(['never sent']);
  body.on = () => {
    throw new Error('a fault of our own');
  };
  return body;
}

describe('an answer whose writing throws', () => {
  const { log, lines } = captureLog();
  const metrics = createMetrics(undefined, { defaults: false });
  const accessLog = createAccessLog(log);
  let server: Listening;

  beforeAll(async () => {
    const handler = createProxyHandler({
      run: (ctx: RequestContext) => {
        ctx.response = { status: 200, headers: {}, upstreamHeaders: undefined, body: faultyBody() };
      },
      routes: { current: () => parseRoutes({ routes: [] }, 'routes.json') },
      log,
      accessLog,
      metrics,
      record: createRequestRecorder(metrics),
      accessLogEnabled: true,
      limits: { maxUrlBytes: 8192, maxBodyBytes: 1024, maxHeaderBytes: 16384, allowedHosts: [] },
    });
    server = await listen(handler);
  });
  afterAll(async () => {
    await server.close();
  });

  it('still counts and logs the request, and the in-flight gauge comes back to 0', async () => {
    await expect(fetchRaw(`${server.url}/boom`)).rejects.toThrow();
    await expect.poll(() => lines.some((l) => l.msg === 'writing an answer failed')).toBe(true);
    accessLog.flush();
    const line = lines.find((l) => l.msg === 'request' && l.path === '/boom');
    expect(line?.level).toBe('error');
    expect(line?.err).toBe('TC_PIPELINE: writing the answer failed: a fault of our own');
    const gauge = await metrics.registry.getSingleMetric('tagcache_requests_in_flight')?.get();
    expect(gauge?.values[0]?.value).toBe(0);
    const requests = await metrics.registry.getSingleMetric('tagcache_requests_total')?.get();
    expect(requests?.values.reduce((sum, v) => sum + v.value, 0)).toBe(1);
  });
});
