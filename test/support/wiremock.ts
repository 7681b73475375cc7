import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { WireMock } from 'wiremock-captain';
import { ROOT } from './proxy.js';

export interface RunningWireMock {
  /** http://127.0.0.1:<port> — stubs answer here, the admin API under /__admin. */
  readonly url: string;
  readonly port: number;
  /** wiremock-captain bound to this server: register stubs, read the request journal. */
  readonly captain: WireMock;
  stop(): Promise<void>;
}

const HOW_TO_GET_JAVA =
  'WireMock needs Java 17+, but `java` is not on PATH; install it ' +
  '(Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless) or run `bash scripts/setup.sh`';

/** The standalone jar the npm package `wiremock` ships. */
export function wireMockJar(): string {
  const dir = join(ROOT, 'node_modules/wiremock/build');
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch (err) {
    throw new Error(
      `no WireMock jar: ${dir} is missing; run npm ci (the devDependency "wiremock" ships it)`,
      {
        cause: err,
      },
    );
  }
  const jar = files.find((f) => /^wiremock-standalone-.*\.jar$/.test(f));
  if (jar === undefined) throw new Error(`no wiremock-standalone-*.jar in ${dir}; run npm ci`);
  return join(dir, jar);
}

/**
 * A real WireMock (the standalone jar under Java) on a free loopback port,
 * with a throw-away root dir so no mappings from the working directory leak in.
 * Resolves once /__admin/health answers; rejects with a clear message when
 * `java` is missing or the server dies while starting.
 */
export async function startWireMock({ timeoutMs = 60_000 } = {}): Promise<RunningWireMock> {
  const jar = wireMockJar();
  const root = mkdtempSync(join(tmpdir(), 'tagcache-wiremock-'));
  const child = spawn(
    'java',
    [
      // A short-lived test server: start fast rather than run fast.
      '-XX:TieredStopAtLevel=1',
      '-XX:+UseSerialGC',
      '-Xmx256m',
      '-jar',
      jar,
      '--port',
      '0',
      '--bind-address',
      '127.0.0.1',
      '--root-dir',
      root,
      '--disable-banner',
      // Bodies and headers must reach the proxy as stubbed, not gzipped on Accept-Encoding.
      '--disable-gzip',
      '--disable-http2-plain',
      '--disable-extensions-scanning',
      '--disable-request-logging',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  // Not events.once: it would reject on 'error', which a failed spawn emits instead of 'exit'.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new Error(HOW_TO_GET_JAVA, { cause: err }) : err);
    });
    void exited.then(({ code, signal }) =>
      reject(
        new Error(`WireMock exited while starting (code ${code}, signal ${signal}):\n${output.slice(-2000)}`),
      ),
    );
  });
  // Both rejections may arrive (error, then exit); only the first is awaited.
  failed.catch(() => undefined);

  const stop = async (): Promise<void> => {
    await kill(child, exited);
    rmSync(root, { recursive: true, force: true });
  };

  try {
    const port = await Promise.race([waitForPort(() => output, timeoutMs), failed]);
    const url = `http://127.0.0.1:${port}`;
    await Promise.race([waitForHealth(url, timeoutMs), failed]);
    return { url, port, captain: new WireMock(url), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `--port 0` lets WireMock pick; it prints `port: N` once the listener is bound. */
async function waitForPort(output: () => string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = /^port:\s+(\d+)\s*$/m.exec(output());
    if (m) return Number(m[1]);
    if (Date.now() > deadline) {
      throw new Error(`WireMock printed no port within ${timeoutMs} ms:\n${output().slice(-2000)}`);
    }
    await delay(50);
  }
}

async function waitForHealth(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const res = await fetch(`${url}/__admin/health`);
      await res.arrayBuffer();
      if (res.ok) return;
      last = new Error(`/__admin/health answered ${res.status}`);
    } catch (err) {
      last = err; // still starting: ask again
    }
    if (Date.now() > deadline) {
      throw new Error(`WireMock at ${url} was not healthy within ${timeoutMs} ms`, { cause: last });
    }
    await delay(100);
  }
}

async function kill(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
