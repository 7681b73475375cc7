import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { createDemoOrigin } from './demo-origin.js';
import { loadConfig } from './utils/config.js';
import { errorMessage } from './utils/errors.js';
import { createLogger, flushLogger } from './utils/logger.js';

/**
 * `npm run demo`: the demo backend and tagcache in front of it on the embedded
 * memory store, then the curl commands to try. Settings from the environment
 * still apply (UPSTREAM_URL, when given, replaces the demo backend).
 */
async function demo(): Promise<void> {
  const env = { ...process.env };
  let origin: ReturnType<typeof createDemoOrigin> | undefined;
  if (env.UPSTREAM_URL === undefined || env.UPSTREAM_URL === '') {
    origin = createDemoOrigin();
    origin.listen(Number(env.DEMO_ORIGIN_PORT ?? 0), '127.0.0.1');
    await once(origin, 'listening');
    env.UPSTREAM_URL = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  }
  env.INVALIDATE_TOKEN ??= 'demo-token-change-me-please';
  env.HOST ??= '127.0.0.1';
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (err) {
    process.stderr.write(`tagcache: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  const log = createLogger({ level: config.logLevel });
  const app = await createApp(config, log).catch((err: unknown) => {
    process.stderr.write(`tagcache: ${errorMessage(err)}\n`);
    process.exit(1);
  });
  const { port, adminPort } = await app.listen();
  const p = `http://127.0.0.1:${port}`;
  const a = `http://127.0.0.1:${adminPort}`;
  process.stderr.write(`
tagcache demo — proxy ${p} → backend ${config.upstreamUrl?.origin} (embedded memory store)
admin ${a}   (open it in a browser for the console; token ${env.INVALIDATE_TOKEN})

Try:
  curl -i ${p}/products/1                  # X-Cache: MISS, then HIT on the second try
  curl -i ${p}/products/1                  # HIT, with Age and Cache-Status
  curl -s -X POST ${p}/bump                # the backend changes every product...
  curl -i ${p}/products/1                  # ...but the cache still answers the old one (HIT)
  curl -s -X POST ${a}/invalidate -H 'authorization: Bearer ${env.INVALIDATE_TOKEN}' \\
       -H 'content-type: application/json' -d '{"tags":["product:1"]}'
  curl -i ${p}/products/1                  # MISS: the purge by tag reached it; new version
  curl -i ${p}/api/news                    # tags from Cache-Tag; stale-while-revalidate after 10 s
  curl -i ${p}/search?q=x                  # BYPASS: the route says cache false
  curl -i ${p}/slow?ms=1500                # slow once, instant after
  curl -i ${p}/error?status=503            # backend errors pass through
  curl -s ${a}/health/ready ; curl -s ${a}/metrics | grep tagcache_requests_total

Logs below are JSON, one line per request. Ctrl-C stops (gracefully).
`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    app
      .close()
      .then(() => origin?.close())
      .finally(() => {
        flushLogger(log);
        process.exit(0);
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void demo();
