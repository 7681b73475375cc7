import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../support/ports.js';

const INSTALL =
  'install it with `sudo apt-get install prometheus` (Debian/Ubuntu; the package ships both ' +
  '/usr/bin/prometheus and /usr/bin/promtool) or run `bash scripts/setup.sh`, which `npm test` runs first';

/** The path of a Prometheus binary; throws, saying how to install it, when it is missing. */
export function requireTool(name: 'promtool' | 'prometheus'): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not in this directory; the next one may have it.
    }
  }
  throw new Error(`${name} is not installed (not on PATH), so this test cannot run: ${INSTALL}`);
}

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `promtool check metrics` on an exposition (read from stdin): lint problems land in stdout/stderr. */
export function promtoolCheckMetrics(exposition: string): ToolResult {
  const r = spawnSync(requireTool('promtool'), ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `promtool check rules` on a rules file holding one recording rule per
 * expression: promtool parses each with the server's own PromQL parser, so a
 * typo in a dashboard query fails here, without a running server.
 */
export async function promtoolCheckExpressions(exprs: readonly string[]): Promise<ToolResult> {
  const promtool = requireTool('promtool');
  const dir = await mkdtemp(join(tmpdir(), 'tagcache-rules-'));
  try {
    const rules = exprs.map(
      (e, i) => `      - record: tagcache:dashboard_expr_${i}\n        expr: ${JSON.stringify(e)}`,
    );
    const file = join(dir, 'rules.yml');
    await writeFile(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const r = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
    if (r.error !== undefined) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export { freePort };

export interface PrometheusServer {
  readonly url: string;
  /** Lines the server wrote, for failure messages. */
  readonly output: string[];
  /** Runs an instant query; resolves with the result vector, throws on a query error. */
  query(expr: string): Promise<VectorSample[]>;
  /** SIGTERM (SIGKILL after 10 s), then removes the config and the TSDB directory. */
  stop(): Promise<void>;
}

export interface VectorSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

/**
 * A real Prometheus server (the Debian package's /usr/bin/prometheus) on a
 * free loopback port, scraping `target` (host:port) every second, with its
 * config and TSDB in a temp directory. Resolves once /-/ready answers 200.
 */
export async function startPrometheus(target: string, job = 'tagcache'): Promise<PrometheusServer> {
  const binary = requireTool('prometheus');
  const dir = await mkdtemp(join(tmpdir(), 'tagcache-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      `  - job_name: ${job}`,
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const output: string[] = [];
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // The Debian package points these at /usr/share; the API needs neither.
      `--web.console.templates=${dir}`,
      `--web.console.libraries=${dir}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
  let exitCode: number | null | undefined;
  const exited = once(child, 'exit').then(([code]) => {
    exitCode = code as number | null;
  });
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (exitCode === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exitCode !== undefined) {
      await stop();
      throw new Error(`prometheus exited with ${exitCode} while starting:\n${output.join('')}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within 20 s:\n${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    output,
    stop,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success' || body.data === undefined) {
        throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
      }
      if (body.data.resultType !== 'vector') throw new Error(`query ${expr} gave a ${body.data.resultType}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}
