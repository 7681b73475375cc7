import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { createAdminRouter } from './app.js';
import { askWorker } from './cluster-ipc.js';
import type { ReadyReport } from './handlers/health.js';
import { createTokenSource, type TokenSource } from './modules/access/index.js';
import type {
  InvalidationOrigin,
  InvalidationRecord,
  InvalidationReport,
  InvalidationRequest,
} from './modules/invalidation/index.js';
import { loadRouteTable } from './modules/router/index.js';
import { createHttpServer, drain, listen } from './server.js';
import { type Config, usesRedis } from './utils/config.js';
import { errorMessage } from './utils/errors.js';
import { flushLogger, type Logger } from './utils/logger.js';

const OP_TIMEOUT_MS = 30_000;

/**
 * The primary of WORKERS>1: forks the workers (they share PORT through
 * node:cluster) and runs the admin listener itself, so /metrics aggregates
 * every worker and an invalidation reaches every worker's cache.
 */
export async function runPrimary(config: Config, log: Logger): Promise<void> {
  let tokens: TokenSource;
  try {
    // Fail once, here, with one line, rather than in every worker.
    loadRouteTable(config.routesFile);
    tokens = createTokenSource({ token: config.invalidateToken, file: config.invalidateTokensFile, log });
  } catch (err) {
    process.stderr.write(`tagcache: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  const aggregator = new AggregatorRegistry();
  const workers = new Set<Worker>();
  let stopping = false;
  let live = true;

  const fork = () => {
    const worker = cluster.fork();
    workers.add(worker);
    let listening = false;
    worker.once('listening', () => {
      listening = true;
    });
    worker.once('exit', (code, signal) => {
      workers.delete(worker);
      if (stopping) return;
      if (!listening) {
        // A worker that cannot even start will not start next time either.
        log.fatal({ worker: worker.id, code, signal }, 'worker failed to start; stopping');
        void stop(1);
        return;
      }
      log.error({ worker: worker.id, code, signal }, 'worker died; starting a new one');
      fork();
    });
  };
  for (let i = 0; i < config.workers; i++) fork();

  const anyWorker = (): Worker => {
    const first = workers.values().next().value;
    if (first === undefined) throw new Error('no worker is running');
    return first;
  };

  const ready = async (): Promise<ReadyReport> => {
    try {
      return (await askWorker(anyWorker(), 'ready', null, OP_TIMEOUT_MS)) as ReadyReport;
    } catch (err) {
      return { status: 'unready', checks: { workers: { ok: false, ms: 0, error: errorMessage(err) } } };
    }
  };

  // With memory stores every worker purges; the others first, then one that logs and records the
  // whole purge (their entries included), so the history holds it once. A shared Redis needs one.
  const invalidate = async (
    request: InvalidationRequest,
    origin: InvalidationOrigin,
  ): Promise<InvalidationReport> => {
    const shared = usesRedis(config);
    const recorder = anyWorker();
    const others = shared ? [] : [...workers].filter((w) => w !== recorder);
    const quiet = { ...origin, record: false };
    const reports = (await Promise.all(
      others.map((w) => askWorker(w, 'invalidate', { request, origin: quiet }, OP_TIMEOUT_MS)),
    )) as InvalidationReport[];
    const otherEntries = reports.reduce((sum, r) => sum + r.entries, 0);
    const report = (await askWorker(
      recorder,
      'invalidate',
      { request, origin: { ...origin, otherEntries } },
      OP_TIMEOUT_MS,
    )) as InvalidationReport;
    return { ...report, durationMs: Math.max(report.durationMs, ...reports.map((r) => r.durationMs)) };
  };

  const admin = createHttpServer(
    createAdminRouter({
      log,
      live: () => live,
      ops: {
        ready,
        invalidate,
        entries: (query) => askWorker(anyWorker(), 'entries', query, OP_TIMEOUT_MS),
        history: async (limit) =>
          (await askWorker(anyWorker(), 'history', limit, OP_TIMEOUT_MS)) as InvalidationRecord[],
        metrics: async () => ({
          contentType: aggregator.contentType,
          body: await aggregator.clusterMetrics(),
        }),
      },
      config,
      tokens,
    }),
    config,
  );
  try {
    const adminPort = await listen(admin, config.adminPort, config.adminHost);
    log.info({ adminPort, workers: config.workers }, 'tagcache primary listening');
  } catch (err) {
    process.stderr.write(`tagcache: cannot listen on the admin port: ${errorMessage(err)}\n`);
    await stop(1);
  }

  async function stop(code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    live = false;
    tokens.close();
    log.info({ graceMs: config.shutdownGraceMs }, 'shutting down workers');
    await drain(admin, 1_000);
    const exits = [...workers].map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
    for (const w of workers) w.disconnect();
    const killer = setTimeout(() => {
      for (const w of workers) w.kill('SIGKILL');
    }, config.shutdownGraceMs + 2_000);
    await Promise.all(exits);
    clearTimeout(killer);
    log.info('stopped');
    flushLogger(log);
    process.exit(code);
  }

  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('SIGHUP', () => {
    for (const w of workers) {
      askWorker(w, 'reloadRoutes', null, OP_TIMEOUT_MS).catch((err: unknown) =>
        log.warn({ err: errorMessage(err) }, 'route reload in a worker failed'),
      );
    }
  });
}
