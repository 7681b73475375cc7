import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { type App, createApp } from '../../src/app.js';
import { loadConfig } from '../../src/utils/config.js';
import { createLogger } from '../../src/utils/logger.js';
import { suiteFastPaths, writeRoutes } from '../support/proxy.js';

export interface LoggedLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface LoggingProxy {
  readonly app: App;
  readonly url: string;
  readonly adminUrl: string;
  /** Every byte the process logged, as written: what a secret must never be part of. */
  readonly raw: string[];
  readonly lines: LoggedLine[];
  close(): Promise<void>;
}

/**
 * tagcache in this process, as startProxy builds it, but logging at the level
 * LOG_LEVEL names (startProxy's capture is fixed at debug) into memory, raw
 * text and parsed lines both.
 */
export async function startLoggingProxy(env: Record<string, string>, routes: unknown): Promise<LoggingProxy> {
  const routesFile = writeRoutes(routes);
  const config = loadConfig({
    PORT: '0',
    ADMIN_PORT: '0',
    HOST: '127.0.0.1',
    ROUTES_FILE: routesFile,
    SHUTDOWN_GRACE_MS: '2000',
    ...suiteFastPaths(),
    ...env,
  });
  const raw: string[] = [];
  const lines: LoggedLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString('utf8');
      raw.push(text);
      for (const line of text.split('\n')) if (line !== '') lines.push(JSON.parse(line) as LoggedLine);
      done();
    },
  });
  const log = createLogger({ level: config.logLevel, destination });
  const app = await createApp(config, log, { watchRoutes: false });
  const { port, adminPort } = await app.listen();
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    raw,
    lines,
    async close() {
      await app.close();
      rmSync(dirname(routesFile), { recursive: true, force: true });
    },
  };
}
