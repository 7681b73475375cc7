import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis-server.js';

/**
 * tagcache processes and a client for the fleet and sizing benches: built
 * dist/src/main.js children on loopback, killed when the bench exits.
 */
export const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
export const TOKEN = 'bench-token-0123456789';

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** Plain node:http on a kept-alive agent; a POST with a body carries the admin token. */
export function send(
  url: string,
  init: { method?: string; body?: string; host?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((done, fail) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.host !== undefined) headers.host = init.host;
    if (init.body !== undefined) {
      headers.authorization = `Bearer ${TOKEN}`;
      headers['content-type'] = 'application/json';
    }
    const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', fail);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${url}: no answer in 30 s`)));
    req.on('error', fail);
    req.end(init.body);
  });
}

export async function waitHttp(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await send(url);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function startProcess(script: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

export interface ProxyChild {
  readonly url: string;
  readonly admin: string;
  readonly child: ChildProcess;
}

export async function startProxy(env: NodeJS.ProcessEnv): Promise<ProxyChild> {
  const port = await freePort();
  const adminPort = await freePort();
  const child = startProcess('dist/src/main.js', {
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    INVALIDATE_TOKEN: TOKEN,
    ACCESS_LOG: 'off',
    LOG_LEVEL: 'warn',
    ...env,
  });
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitHttp(`${admin}/health/live`);
  return { url: `http://127.0.0.1:${port}`, admin, child };
}

/** The bench backend (dist/bench/origin-server.js): 1 KiB bodies, cacheable unless the path starts /nostore. */
export async function startOrigin(): Promise<string> {
  const port = await freePort();
  startProcess('dist/bench/origin-server.js', { PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/warm`);
  return url;
}

/** A routes.json tagging /p/<id> with item:<id>, everything else on the default route. */
export function tagRoutes(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tagcache-fleet-bench-')), 'routes.json');
  writeFileSync(
    file,
    JSON.stringify({ routes: [{ name: 'p', pattern: '^/p/(?<id>[\\w-]+)$', tags: ['item:{id}', 'all-p'] }] }),
  );
  return file;
}

/** Resident memory of a child, in bytes (Linux /proc). */
export function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

export const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

/** p50 / p99 / worst of a list of durations. */
export function spread(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, worst ${ms(sorted.at(-1) ?? Number.NaN)} (n=${sorted.length})`;
}

/**
 * `connections` clients requesting paths from `paths` round robin on the
 * proxies until stopped: the steady traffic the measurements run under.
 */
export function steadyLoad(proxies: readonly ProxyChild[], paths: readonly string[], connections: number) {
  let running = true;
  let requests = 0;
  const failures: string[] = [];
  const latencies: number[] = [];
  let n = 0;
  const worker = async (w: number) => {
    while (running) {
      const proxy = proxies[w % proxies.length] as ProxyChild;
      const path = paths[n++ % paths.length] as string;
      const started = performance.now();
      try {
        const answer = await send(`${proxy.url}${path}`, { host: 'fleet.bench' });
        if (answer.status !== 200) failures.push(`${answer.status} ${path}`);
      } catch (err) {
        failures.push(String(err));
      }
      latencies.push(performance.now() - started);
      requests++;
    }
  };
  const done = Promise.all(Array.from({ length: connections }, (_, w) => worker(w)));
  return {
    /** Latencies since the last call, emptied. */
    take(): number[] {
      return latencies.splice(0);
    },
    async stop() {
      running = false;
      await done;
      return { requests, failures };
    },
  };
}
