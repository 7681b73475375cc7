import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fetchRaw } from '../support/http.js';
import { freePorts } from '../support/ports.js';
import { type ProxyProcess, ROOT, spawnProxy } from '../support/proxy.js';

export interface ChildProxy extends ProxyProcess {
  readonly pid: number;
  /** SIGTERM (SIGKILL after killAfterMs) and the exit code; at once if it already exited. */
  stop(killAfterMs?: number): Promise<number | null>;
}

/** The built entrypoint the child runs; `npm test` builds it first. */
export function requireBuild(): void {
  const main = join(ROOT, 'dist/src/main.js');
  if (!existsSync(main)) {
    throw new Error(
      `${main} is missing: run \`npm run build\` first (\`npm test\` builds before it runs vitest)`,
    );
  }
}

/**
 * `node dist/src/main.js` on free ports, resolved once its admin listener
 * answers /health/live and its proxy listener accepts connections. A child
 * that exits while starting rejects with its stderr.
 */
export async function startChild(env: Record<string, string>): Promise<ChildProxy> {
  requireBuild();
  // A free port can be taken by another suite between the look-up and the child's listen: pick again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startChildOnce(env);
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startChildOnce(env: Record<string, string>): Promise<ChildProxy> {
  const ports = await freePorts();
  const proc = await spawnProxy({ LOG_LEVEL: 'info', ...env }, ports);
  let exitCode: number | null | undefined;
  let exitSignal: NodeJS.Signals | null = null;
  proc.child.once('exit', (code, signal) => {
    exitCode = code;
    exitSignal = signal;
  });
  const pid = proc.child.pid;
  if (pid === undefined) throw new Error('the proxy child has no pid');
  const stop = async (killAfterMs = 15_000): Promise<number | null> => {
    if (exitCode === undefined) {
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), killAfterMs);
      try {
        return await proc.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return exitCode;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(
        `the proxy exited (code ${exitCode}, signal ${exitSignal}) while starting:\n${proc.stderr.join('')}`,
      );
    }
    const up = await Promise.all([
      fetchRaw(`${proc.adminUrl}/health/live`).then(
        (r) => r.status === 200,
        () => false,
      ),
      // A bare TCP connect: a request would reach the backend and show in the counters.
      accepts(proc.url),
    ]);
    if (up.every(Boolean)) return { ...proc, pid, stop };
    if (Date.now() > deadline) {
      await stop(1_000);
      throw new Error(`the proxy did not start within 20 s:\n${proc.stderr.join('')}${proc.stdout.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True when something accepts TCP connections at the URL's host and port. */
export function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resident memory of a live process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples a process's RSS every intervalMs until stopped; peak and first sample in bytes. */
export function sampleRss(
  pid: number,
  intervalMs = 20,
): { stop(): { first: number; peak: number; samples: number } } {
  const first = rssBytes(pid);
  let peak = first;
  let samples = 1;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
      samples++;
    } catch {
      // The process exited between samples; the peak so far stands and the test sees the exit itself.
    }
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rssBytes(pid));
      } catch {
        // Exited: as above.
      }
      return { first, peak, samples };
    },
  };
}

/** JSON lines a child wrote to stdout (pino), skipping anything that is not JSON. */
export function jsonLines(proc: ProxyProcess): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of proc.stdout.join('').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line cut at a chunk boundary: the rest arrives with the next chunk.
    }
  }
  return out;
}

export const MiB = 1024 * 1024;

/**
 * Runs a test body against a child; when it fails, the error carries the
 * child's stderr and last stdout lines, so a failure in CI explains itself.
 */
export async function explained<T>(proc: ProxyProcess, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof Error) {
      const tail = proc.stdout.join('').split('\n').slice(-30).join('\n');
      err.message += `\n--- proxy stderr ---\n${proc.stderr.join('')}\n--- proxy stdout (last lines) ---\n${tail}`;
    }
    throw err;
  }
}
