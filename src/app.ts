import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { createAdminHandler } from './handlers/admin.js';
import { createConsoleRoutes } from './handlers/console.js';
import { createEntriesHandler, type EntriesQuery } from './handlers/entries.js';
import { createHealthHandlers, type ReadyReport, runChecks } from './handlers/health.js';
import { createHistoryHandler } from './handlers/history.js';
import { createInvalidateHandler } from './handlers/invalidate.js';
import { createMetricsHandler, type Exposition } from './handlers/metrics.js';
import { createProxyHandler } from './handlers/proxy.js';
import { withPurgeMethod } from './handlers/purge-method.js';
import { createTokenSource, type TokenSource } from './modules/access/index.js';
import { cacheStage } from './modules/cache/index.js';
import { createEntryLookup } from './modules/cache/inspect.js';
import { createRefusalLog } from './modules/cache/refusals.js';
import {
  createHistory,
  createInvalidator,
  type InvalidationOrigin,
  type InvalidationRecord,
  type InvalidationReport,
  type InvalidationRequest,
} from './modules/invalidation/index.js';
import { createMetrics, createRequestRecorder, metricsStage } from './modules/metrics/index.js';
import type { RequestContext } from './modules/pipeline/context.js';
import { createLimiter, rateLimitStage } from './modules/ratelimit/index.js';
import { createRouteSource, type RouteTable } from './modules/router/index.js';
import { withStoreBreaker } from './modules/store/breaker-store.js';
import { createMemoryStore, createStore } from './modules/store/index.js';
import { createTieredStore } from './modules/store/tiered-store.js';
import { surrogateStage } from './modules/surrogate/index.js';
import { loadTracing, NO_TRACING, type Tracing } from './modules/tracing/index.js';
import {
  createBalancer,
  createDispatch,
  createOriginBreakers,
  createOriginProbe,
  createUpstreamClient,
  originName,
  probeAny,
  upstreamStage,
} from './modules/upstream/index.js';
import { createHttpServer, drain, listen } from './server.js';
import { createAccessLog } from './utils/access-log.js';
import { createTrustedProxies } from './utils/client-address.js';
import { compose, type Done } from './utils/compose.js';
import type { Config } from './utils/config.js';
import { errorMessage } from './utils/errors.js';
import type { Logger } from './utils/logger.js';

export interface App {
  readonly config: Config;
  readonly proxyServer: Server;
  /** Absent in a cluster worker: the primary runs the admin listener for all workers. */
  readonly adminServer: Server | undefined;
  /** Listens on PORT (and ADMIN_PORT); resolves with the bound ports (0 in config picks free ones). */
  listen(): Promise<{ port: number; adminPort: number | undefined }>;
  /** What the admin endpoints run; a cluster primary reaches them over IPC. */
  readonly ops: AppOps;
  /** Graceful stop: stop accepting, drain in-flight requests for up to SHUTDOWN_GRACE_MS, release resources. */
  close(): Promise<void>;
}

export interface AppOps {
  ready(): Promise<ReadyReport>;
  invalidate(req: InvalidationRequest, origin: InvalidationOrigin): Promise<InvalidationReport>;
  /** The fleet's last invalidations, newest first. */
  history(limit: number): Promise<InvalidationRecord[]>;
  /** What is stored for a URL or under a tag (GET /entries). */
  entries(query: EntriesQuery): Promise<unknown>;
  metrics(): Promise<Exposition>;
  /** Re-reads routes.json; false when the new file was rejected (the old table stays). */
  reloadRoutes(): boolean;
}

export interface AppOptions {
  /** Run the admin listener in this process (false in cluster workers). */
  readonly admin?: boolean;
  /** Watch routes.json for changes (tests of other things turn it off). */
  readonly watchRoutes?: boolean;
  /** Names this instance in the invalidation history; host name and process id by default. */
  readonly instanceId?: string;
}

/**
 * The composition root: builds the store, the route table, the pipeline and
 * both listeners from one Config. Dependencies point down from here.
 */
export async function createApp(config: Config, log: Logger, opts: AppOptions = {}): Promise<App> {
  const metrics = createMetrics(undefined, { fast: config.fastPaths.metrics });
  // A clustered worker answers the primary's aggregation requests from this registry.
  AggregatorRegistry.setRegistries([metrics.registry]);
  const routes = createRouteSource({
    file: config.routesFile,
    log,
    metrics,
    watch: opts.watchRoutes ?? true,
  });
  // Off unless OTEL_* variables name a collector; then the SDK is imported, and only then.
  const tracing = await loadTracing(config.tracing, { metrics, log });
  const rawStore = await createStore(config, log, undefined, tracing.enabled ? tracing.work : undefined);
  // The memory store cannot fail the way Redis does; it keeps its synchronous hits unwrapped.
  const guardedStore =
    rawStore.kind === 'memory' || config.storeBreakerFailures === 0
      ? undefined
      : withStoreBreaker(rawStore, {
          failures: config.storeBreakerFailures,
          openMs: config.storeBreakerOpenMs,
          metrics,
          log,
        });
  const shared = guardedStore ?? rawStore;
  // With Redis, a memory tier answers repeat hits without a round trip; pub/sub keeps it honest.
  const store =
    rawStore.kind !== 'memory' && config.localTierTtlMs > 0
      ? createTieredStore({
          local: createMemoryStore({
            maxBytes: config.cacheMaxBytes,
            maxObjectBytes: config.maxObjectBytes,
            log,
          }),
          remote: shared,
          localTtlMs: config.localTierTtlMs,
          onEventGap: (listener) => rawStore.onEventGap(listener),
          log,
        })
      : shared;
  const upstream = tracing.upstream(
    createUpstreamClient({
      connectTimeoutMs: config.upstreamConnectTimeoutMs,
      headersTimeoutMs: config.upstreamHeadersTimeoutMs,
      bodyTimeoutMs: config.upstreamBodyTimeoutMs,
      connections: config.upstreamConnections,
      fast: config.fastPaths.undici,
    }),
  );

  const breakers = createOriginBreakers(config, metrics, log);
  const balancer = createBalancer({
    mode: config.upstreamBalance,
    ejectMs: config.upstreamEjectMs,
    onEject: (origin) => metrics.upstreamEjections.labels(originName(origin)).inc(),
  });
  breakers.onOpen((origin) => balancer.eject(origin));
  // Known origins show as closed circuits from the start, not from their first request.
  for (const origin of knownOrigins(config.upstreamUrls, routes.current())) breakers.of(origin);
  const dispatch = createDispatch({
    client: upstream,
    breakers,
    balancer,
    retries: config.upstreamRetries,
    metrics,
  });
  const trustedProxies = createTrustedProxies(config.trustedProxies);
  const limiter = createLimiter(config, log);
  const rateLimit = (placement: 'before-cache' | 'after-cache') =>
    rateLimitStage({ limiter, trustedProxies, metrics, placement });

  // What the cache and purges do to the store is traced; readiness pings, gauges and look-ups are not.
  const tracedStore = tracing.store(store);
  const refusals = createRefusalLog();
  const cache = cacheStage({
    store: tracedStore,
    routes,
    metrics,
    config,
    log,
    // Revalidations take the same chain as clients; the cache and the limits let them through.
    send: (ctx) => run(ctx),
    tracing,
    refusals,
  });
  const lookup = createEntryLookup({ store, routes, refusals });
  const run: (ctx: RequestContext) => Done = compose<RequestContext>([
    // Routes whose hits count are limited before the cache can answer.
    rateLimit('before-cache'),
    cache,
    // Only what the cache could not answer gets here: the limit of routes with exemptHits.
    rateLimit('after-cache'),
    surrogateStage(config),
    metricsStage(metrics),
    upstreamStage({
      dispatch,
      defaultOrigins: config.upstreamUrls,
      trustedProxies,
      preserveHost: config.preserveHost,
    }),
  ]);

  const accessLog = createAccessLog(log, { fast: config.fastPaths['access-log'] });
  const tokens = createTokenSource({
    token: config.invalidateToken,
    file: config.invalidateTokensFile,
    log,
    watch: opts.watchRoutes ?? true,
  });
  const proxyHandler = createProxyHandler({
    run,
    routes,
    log,
    accessLog,
    metrics,
    record: createRequestRecorder(metrics),
    accessLogEnabled: config.accessLog,
    limits: config,
    tracing,
  });

  const probe = createOriginProbe();
  let live = true;
  // Read at every collection, so cluster workers (which have no admin listener) report them too.
  metrics.watchMemoryStore(() => store.stats());
  const history = createHistory(store, opts.instanceId ?? `${hostname()}:${process.pid}`);
  const invalidateInStore = createInvalidator({ store: tracedStore, routes, metrics, log, history });
  const invalidate = (req: InvalidationRequest, origin: InvalidationOrigin) =>
    tracing
      .invalidation(req, () => invalidateInStore(req, origin))
      .catch((err: unknown) => {
        // A failed purge is a store failure like any other: counted where operators look for them.
        metrics.storeErrors.labels('invalidate').inc();
        throw err;
      });
  const ops: AppOps = {
    ready: () =>
      runChecks({
        // Neither fails readiness: the proxy fails open without Redis and serves stale without the
        // backend, and both are shared, so failing here would drain every instance at once.
        store: {
          critical: false,
          run: () => store.ping(),
          detail: () => (guardedStore === undefined ? {} : { circuit: guardedStore.circuit().state }),
        },
        upstream: {
          critical: false,
          run: () => probeAny(probe, config.upstreamUrls),
          detail: () => ({ circuits: breakers.report() }),
        },
      }),
    invalidate,
    history: (limit) => history.recent(limit),
    entries: (query) => ('url' in query ? lookup.byUrl(query.url) : lookup.byTag(query.tag, query.limit)),
    metrics: async () => ({
      contentType: metrics.registry.contentType,
      body: await metrics.registry.metrics(),
    }),
    reloadRoutes: () => routes.reload(),
  };

  // PURGE is taken off before the proxy handler sees it: it must never reach the pipeline (and a backend).
  const proxyServer = createHttpServer(
    withPurgeMethod(proxyHandler, {
      enabled: config.purgeMethod,
      allow: createTrustedProxies(config.purgeAllow),
      trustedProxies,
      tokens,
      invalidate,
      limits: { maxItems: 1000, maxTagBytes: config.maxTagBytes },
      log,
    }),
    config,
  );
  const adminServer =
    opts.admin === false
      ? undefined
      : createHttpServer(
          createAdminRouter({
            log,
            live: () => live,
            ops,
            config,
            tracing,
            tokens,
          }),
          config,
        );

  return {
    config,
    proxyServer,
    adminServer,
    ops,
    async listen() {
      const port = await listen(proxyServer, config.port, config.host);
      const adminPort =
        adminServer === undefined ? undefined : await listen(adminServer, config.adminPort, config.adminHost);
      return { port, adminPort };
    },
    async close() {
      live = false;
      await Promise.all([
        drain(proxyServer, config.shutdownGraceMs),
        adminServer === undefined ? undefined : drain(adminServer, Math.min(config.shutdownGraceMs, 1_000)),
      ]);
      // The last batch of access lines (up to 256, or 200 ms' worth) would otherwise die with the process.
      accessLog.flush();
      routes.close();
      tokens.close();
      await cache.close();
      await Promise.allSettled([store.close(), upstream.close(), limiter.close()]).then((results) => {
        for (const r of results)
          if (r.status === 'rejected') log.warn({ err: errorMessage(r.reason) }, 'closing failed');
      });
      // Last, so the spans of the requests drained above go out too.
      await tracing.shutdown();
    },
  };
}

/** Every backend origin the settings and the route table name. */
function knownOrigins(defaults: readonly URL[], table: RouteTable): URL[] {
  const routeOrigins = [...table.routes, table.fallback].flatMap((route) => route.upstreams ?? []);
  return [...defaults, ...routeOrigins];
}

/** The admin listener's table, shared by a single process and a cluster primary. */
export function createAdminRouter(deps: {
  log: Logger;
  live: () => boolean;
  ops: Pick<AppOps, 'ready' | 'invalidate' | 'history' | 'entries' | 'metrics'>;
  config: Pick<Config, 'maxTagBytes'>;
  tokens: TokenSource;
  tracing?: Tracing;
}) {
  const tracing = deps.tracing ?? NO_TRACING;
  const health = createHealthHandlers({ live: deps.live, ready: deps.ops.ready });
  return createAdminHandler(
    {
      ...createConsoleRoutes(),
      '/health/live': health.live,
      '/health/ready': health.ready,
      '/metrics': createMetricsHandler(deps.ops.metrics, deps.log),
      '/invalidate': tracing.handler(
        '/invalidate',
        createInvalidateHandler({
          tokens: deps.tokens,
          invalidate: deps.ops.invalidate,
          log: deps.log,
          maxTagBytes: deps.config.maxTagBytes,
        }),
      ),
      '/invalidations': createHistoryHandler({
        tokens: deps.tokens,
        history: deps.ops.history,
        log: deps.log,
      }),
      '/entries': createEntriesHandler({
        tokens: deps.tokens,
        entries: deps.ops.entries,
        maxTagBytes: deps.config.maxTagBytes,
        log: deps.log,
      }),
    },
    deps.log,
  );
}
