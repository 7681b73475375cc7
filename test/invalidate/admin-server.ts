import { Registry } from 'prom-client';
import { createAdminHandler } from '../../src/handlers/admin.js';
import { createInvalidateHandler, type InvalidateHandlerOptions } from '../../src/handlers/invalidate.js';
import { createTokenSource } from '../../src/modules/access/index.js';
import { cacheKey } from '../../src/modules/cache/cache-key.js';
import { createInvalidator } from '../../src/modules/invalidation/index.js';
import { createMetrics, type Metrics } from '../../src/modules/metrics/registry.js';
import { parseRoutes, type RouteTable } from '../../src/modules/router/index.js';
import type { Store, StoredEntry } from '../../src/modules/store/types.js';
import type { Logger } from '../../src/utils/logger.js';
import { fetchRaw, type Listening, listen, type SimpleResponse } from '../support/http.js';
import { captureLog, type LogLine } from '../support/log.js';

export const TOKEN = 'test-token-0123456789abcdef';

/** The route table the tests purge URLs under: products keep only `page` in their key. */
export const routeTable: RouteTable = parseRoutes(
  {
    routes: [
      {
        name: 'product',
        pattern: '^/products/(?<id>\\d+)$',
        tags: ['product:{id}'],
        cacheKeyQuery: ['page'],
      },
      { name: 'search', pattern: '^/search', cacheKeyQuery: 'none' },
    ],
    default: { name: 'other' },
  },
  'routes.json',
);

export interface AdminServer extends Listening {
  readonly metrics: Metrics;
  readonly lines: LogLine[];
  readonly log: Logger;
  post(body?: string | Buffer, headers?: Record<string, string>): Promise<SimpleResponse>;
}

/** A real admin listener serving POST /invalidate over the given store. */
export async function startAdmin(
  store: Store,
  options: Partial<Omit<InvalidateHandlerOptions, 'invalidate' | 'log'>> = {},
): Promise<AdminServer> {
  const metrics = createMetrics(new Registry(), { defaults: false });
  const { log, lines } = captureLog();
  const invalidate = createInvalidator({ store, routes: { current: () => routeTable }, metrics, log });
  const tokens = createTokenSource({ token: TOKEN, file: undefined, log });
  const handler = createInvalidateHandler({ tokens, maxTagBytes: 64, ...options, invalidate, log });
  const server = await listen(createAdminHandler({ '/invalidate': handler }, log));
  return {
    ...server,
    metrics,
    lines,
    log,
    post: (body, headers = {}) =>
      fetchRaw(`${server.url}/invalidate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body,
      }),
  };
}

/** A stored response for `url` as the cache would key it on `scheme`, under the route its path matches. */
export function entryFor(
  url: string,
  tags: readonly string[],
  scheme: 'http' | 'https' = 'http',
): StoredEntry {
  const u = new URL(url);
  const rule = routeTable.match(u.pathname).route.cacheKeyQuery;
  const key = cacheKey(scheme, u.host, `${u.pathname}${u.search}`, rule);
  return {
    id: key,
    key,
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: Buffer.from(url),
    policy: '{}',
    tags,
    url,
    route: routeTable.match(u.pathname).route.name,
    storedAt: Date.now(),
    softPurgedAt: 0,
  };
}

export function json(res: SimpleResponse): Record<string, unknown> {
  return JSON.parse(res.text()) as Record<string, unknown>;
}
