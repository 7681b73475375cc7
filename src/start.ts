import cluster from 'node:cluster';
import { createApp } from './app.js';
import { type Config, loadConfig, redactUrl } from './utils/config.js';
import { fail } from './utils/env.js';
import { errorMessage, isTagcacheError } from './utils/errors.js';
import { createLogger, flushLogger, type Logger } from './utils/logger.js';

/**
 * `npm start` (through main.ts): one process, or with WORKERS>1 a primary
 * that runs the admin listener and forks workers sharing the proxy port. The
 * cluster modules are loaded only in a cluster, and there at start.
 */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
    if (config.upstreamUrl === undefined)
      fail('UPSTREAM_URL', '', 'the backend origin, such as http://127.0.0.1:3000');
  } catch (err) {
    // One line that names the setting; no stack for a user's typo.
    process.stderr.write(`tagcache: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  const log = createLogger({ level: config.logLevel });
  if (config.workers > 1 && cluster.isPrimary) {
    const { runPrimary } = await import('./cluster-primary.js');
    await runPrimary(config, log);
    return;
  }
  await runServer(config, log, cluster.isWorker);
}

async function runServer(config: Config, log: Logger, isWorker: boolean): Promise<void> {
  const worker = isWorker ? await import('./cluster-worker.js') : undefined;
  let app: Awaited<ReturnType<typeof createApp>>;
  try {
    app = await createApp(config, log, { admin: !isWorker });
  } catch (err) {
    process.stderr.write(`tagcache: ${errorMessage(err)}\n`);
    flushLogger(log);
    process.exit(1);
  }
  const started = app;
  try {
    const { port, adminPort } = await started.listen();
    log.info(
      {
        port,
        adminPort,
        upstream: config.upstreamUrl?.origin,
        store:
          config.redisUrl !== undefined
            ? redactUrl(config.redisUrl)
            : config.redisClusterNodes
              ? 'redis-cluster'
              : config.redisSentinels
                ? `redis-sentinel:${config.redisSentinelName}`
                : 'memory',
        workers: config.workers,
      },
      'tagcache listening',
    );
  } catch (err) {
    process.stderr.write(`tagcache: cannot listen: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  worker?.serveWorkerOps(started.ops, log);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight requests');
    started
      .close()
      .then(() => {
        log.info('stopped');
        flushLogger(log);
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        flushLogger(log);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A cluster primary tells workers to stop by disconnecting them.
  if (isWorker) process.on('disconnect', () => stop('disconnect'));
  process.on('SIGHUP', () => {
    started.ops.reloadRoutes();
  });
  process.on('unhandledRejection', (err) => {
    log.error(
      { err: errorMessage(err), code: isTagcacheError(err) ? err.code : undefined },
      'unhandled rejection',
    );
  });
}
