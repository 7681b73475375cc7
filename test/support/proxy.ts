import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type App, type AppOptions, createApp } from '../../src/app.js';
import { loadConfig } from '../../src/utils/config.js';
import { captureLog, type LogLine } from './log.js';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface RunningProxy {
  readonly app: App;
  /** http://127.0.0.1:<port> of the proxy listener. */
  readonly url: string;
  /** http://127.0.0.1:<port> of the admin listener. */
  readonly adminUrl: string;
  readonly lines: LogLine[];
  close(): Promise<void>;
}

/** A routes.json written to a temp file, for tests that need their own table. */
export function writeRoutes(table: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'tagcache-routes-'));
  const file = join(dir, 'routes.json');
  writeFileSync(file, JSON.stringify(table));
  return file;
}

/**
 * FAST_PATHS from the environment the suite runs in, so any suite can be run
 * on the library path (`FAST_PATHS=off npx vitest run test/core`); a test's
 * own env still wins.
 */
export function suiteFastPaths(): Record<string, string> {
  const value = process.env.FAST_PATHS;
  return value === undefined ? {} : { FAST_PATHS: value };
}

/** The default table for cache tests: everything on one cacheable route. */
export const CACHE_ALL = { routes: [], default: { name: 'all' } };

/**
 * tagcache in this process on free loopback ports, built by the same
 * createApp as `npm start`, logging into an array.
 */
export async function startProxy(
  env: Record<string, string>,
  routes: unknown = CACHE_ALL,
  options: AppOptions = {},
): Promise<RunningProxy> {
  const config = loadConfig({
    PORT: '0',
    ADMIN_PORT: '0',
    HOST: '127.0.0.1',
    ROUTES_FILE: typeof routes === 'string' ? routes : writeRoutes(routes),
    INVALIDATE_TOKEN: 'test-token-0123456789',
    SHUTDOWN_GRACE_MS: '2000',
    ...suiteFastPaths(),
    ...env,
  });
  const { log, lines } = captureLog();
  const app = await createApp(config, log, { watchRoutes: false, ...options });
  const { port, adminPort } = await app.listen();
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    lines,
    close: () => app.close(),
  };
}

export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminUrl: string;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

/** `node dist/src/main.js` as a child process (needs `npm run build`), for signals and WORKERS. */
export async function spawnProxy(
  env: Record<string, string>,
  { port, adminPort }: { port: number; adminPort: number },
): Promise<ProxyProcess> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      HOST: '127.0.0.1',
      ROUTES_FILE: join(ROOT, 'routes.json'),
      ...suiteFastPaths(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => stdout.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    stdout,
    stderr,
    exited,
  };
}

/** Polls a URL until it answers (any status). */
export async function waitForHttp(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${url} did not answer within ${timeoutMs} ms`, { cause: err });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
