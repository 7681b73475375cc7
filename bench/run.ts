import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench`: every figure is a ratio to a bare node:http server measured
 * in the same run. Servers run on core 0, the load generator on core 1
 * (taskset), so the two never compete for a core.
 */
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const SERVER_CORE = process.env.BENCH_SERVER_CORE ?? '0';
const LOAD_CORE = process.env.BENCH_LOAD_CORE ?? '1';
/** Another build's dist/src/main.js (say, the commit before a change), measured beside this one. */
const BASELINE_MAIN = process.env.BENCH_BASELINE_MAIN;

interface Result {
  name: string;
  rps: number;
  p50ms: number;
  p99ms: number;
}

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const TASKSET = has('taskset');
const WRK = has('wrk');

function pinned(core: string, cmd: string, args: string[]): [string, string[]] {
  return TASKSET ? ['taskset', ['-c', core, cmd, ...args]] : [cmd, args];
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const address = srv.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  srv.close();
  return port;
}

function start(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  stdout: 'pipe' | number = 'pipe',
): ChildProcess {
  const [c, a] = pinned(SERVER_CORE, cmd, args);
  const child = spawn(c, a, { env: { ...process.env, ...env }, stdio: ['ignore', stdout, 'inherit'] });
  children.push(child);
  return child;
}

async function waitHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value.trim());
  if (m === null) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

async function load(name: string, url: string, rate?: number): Promise<Result> {
  if (WRK) {
    // A rate is approached by pausing each connection between requests (wrk's Lua delay(), whole
    // milliseconds): wrk reports latency in microseconds, where autocannon rounds to whole ms.
    const script =
      rate === undefined ? [] : ['-s', delayScript(Math.max(1, Math.round((CONNECTIONS * 1000) / rate)))];
    if (rate === undefined) warm(url);
    const [c, a] = pinned(LOAD_CORE, 'wrk', [
      '-t1',
      `-c${CONNECTIONS}`,
      `-d${DURATION_S}s`,
      '--latency',
      ...script,
      url,
    ]);
    const out = execFileSync(c, a, { encoding: 'utf8' });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
    const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
    const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
    const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
    if (errors !== undefined) process.stderr.write(`  ${name}: ${errors} non-2xx answers\n`);
    return { name, rps, p50ms: p50, p99ms: p99 };
  }
  const cannon = join(ROOT, 'node_modules/autocannon/autocannon.js');
  const args = [cannon, '-c', String(CONNECTIONS), '-d', String(DURATION_S), '-j'];
  if (rate !== undefined) args.push('-R', String(Math.round(rate)));
  const [c, a] = pinned(LOAD_CORE, process.execPath, [...args, url]);
  const out = execFileSync(c, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const json = JSON.parse(out) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
  };
  if (json.non2xx > 0) process.stderr.write(`  ${name}: ${json.non2xx} non-2xx answers\n`);
  return { name, rps: json.requests.average, p50ms: json.latency.p50, p99ms: json.latency.p99 };
}

function delayScript(ms: number): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tagcache-wrk-')), 'delay.lua');
  // Uniform in [0, 2·ms], seeded per connection thread: a fixed pause keeps all connections in step,
  // so requests arrive in bursts of CONNECTIONS and p99 measures how long a burst takes to drain.
  writeFileSync(
    file,
    `function init(args)\n  math.randomseed(os.time() + math.floor(os.clock() * 1000000))\nend\nfunction delay()\n  return math.random(0, ${2 * ms})\nend\n`,
  );
  return file;
}

/** JIT and heap settle before a case is measured: the first seconds of a fresh process are not its steady state. */
function warm(url: string): void {
  if (!WRK) return;
  const [c, a] = pinned(LOAD_CORE, 'wrk', ['-t1', `-c${CONNECTIONS}`, '-d2s', url]);
  execFileSync(c, a, { stdio: 'ignore' });
}

/** CPU seconds (user + system, every thread) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // utime and stime are fields 14 and 15 of /proc/PID/stat, 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function wrkAsync(url: string, seconds: number): Promise<number> {
  const [c, a] = pinned(LOAD_CORE, 'wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, url]);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return once(child, 'exit').then(() => Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN));
}

/**
 * CPU per request of two servers loaded at the same time: both on the server
 * core, two wrk on the load core. Whatever else the host runs meanwhile slows
 * both alike, so their ratio holds still where back-to-back req/s figures
 * swing by a third between runs.
 */
async function sideBySide(
  a: { url: string; pid: number },
  b: { url: string; pid: number },
): Promise<{ aUs: number; bUs: number }> {
  await Promise.all([wrkAsync(a.url, 2), wrkAsync(b.url, 2)]);
  const a0 = cpuSeconds(a.pid);
  const b0 = cpuSeconds(b.pid);
  const [na, nb] = await Promise.all([wrkAsync(a.url, DURATION_S), wrkAsync(b.url, DURATION_S)]);
  const aUs = ((cpuSeconds(a.pid) - a0) * 1e6) / na;
  const bUs = ((cpuSeconds(b.pid) - b0) * 1e6) / nb;
  return { aUs, bUs };
}

async function startProxy(
  originUrl: string,
  extraEnv: NodeJS.ProcessEnv,
  routesFile: string,
  main = join(ROOT, 'dist/src/main.js'),
): Promise<{ url: string; adminUrl: string; child: ChildProcess }> {
  const port = await freePort();
  const adminPort = await freePort();
  // Access logs go to a file: a pipe this process cannot drain while it waits for wrk would fill
  // and stall the proxy, as no log collector would.
  const logFile = openSync(join(dirname(routesFile), `proxy-${port}.log`), 'w');
  const child = start(
    process.execPath,
    [main],
    {
      UPSTREAM_URL: originUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      ROUTES_FILE: routesFile,
      LOG_LEVEL: 'info',
      ...extraEnv,
    },
    logFile,
  );
  closeSync(logFile);
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM')
      process.stderr.write(`  proxy exited early (code ${code}, signal ${signal})\n`);
  });
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitHttp(`${adminUrl}/health/live`);
  return { url, adminUrl, child };
}

function rssBytes(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** A fresh connection each time: the bench blocks in execFileSync long enough for kept-alive sockets to die. */
function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function gauge(adminUrl: string, name: string): Promise<number> {
  const text = await getText(`${adminUrl}/metrics`);
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/**
 * Memory: the idle RSS of a fresh proxy, then the RSS once CACHE_MAX_BYTES is
 * full of 1 KiB responses (the worst case per byte: many small entries).
 */
async function memory(originUrl: string, routesFile: string): Promise<string> {
  const bound = 32 * 1024 * 1024;
  const proxy = await startProxy(
    originUrl,
    { CACHE_MAX_BYTES: String(bound), ACCESS_LOG: 'off' },
    routesFile,
  );
  await new Promise((r) => setTimeout(r, 1_000));
  const idle = rssBytes(proxy.child);
  const script = join(mkdtempSync(join(tmpdir(), 'tagcache-wrk-')), 'unique.lua');
  writeFileSync(
    script,
    'local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, "/m/" .. n)\nend\n',
  );
  const [c, a] = pinned(LOAD_CORE, 'wrk', [
    '-t1',
    '-c16',
    `-d${Math.max(DURATION_S, 10)}s`,
    '-s',
    script,
    `${proxy.url}/`,
  ]);
  if (WRK) execFileSync(c, a, { encoding: 'utf8' });
  const stored = await gauge(proxy.adminUrl, 'tagcache_memory_store_bytes');
  const entries = await gauge(proxy.adminUrl, 'tagcache_memory_store_entries');
  const full = rssBytes(proxy.child);
  await stop(proxy.child);
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  return (
    `memory: idle RSS ${mib(idle)} MiB; with ${entries} entries of 1 KiB (${mib(stored)} MiB accounted, ` +
    `CACHE_MAX_BYTES ${mib(bound)} MiB) RSS ${mib(full)} MiB: ${((full - idle) / stored).toFixed(2)}x the accounted bytes`
  );
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tagcache-bench-'));
  const routesFile = join(dir, 'routes.json');
  writeFileSync(routesFile, JSON.stringify({ routes: [], default: { name: 'bench' } }));
  process.stderr.write(
    `tagcache bench: ${DURATION_S}s per case, ${CONNECTIONS} connections, servers on core ${SERVER_CORE}, load on core ${LOAD_CORE}` +
      ` (${WRK ? 'wrk' : 'autocannon'}${TASKSET ? ', taskset' : ', no taskset: figures are noisier'})\n`,
  );

  const originPort = await freePort();
  const origin = start(process.execPath, [join(ROOT, 'dist/bench/origin-server.js')], {
    PORT: String(originPort),
  });
  origin.stdout?.resume();
  // taskset execs the server, so the child's pid is the server's own.
  const originChildPid = origin.pid;
  const originUrl = `http://127.0.0.1:${originPort}`;
  await waitHttp(`${originUrl}/warm`);
  results.push(await load('bare node:http (baseline)', `${originUrl}/item`));

  const mem = await startProxy(originUrl, {}, routesFile);
  await waitHttp(`${mem.url}/item`);
  const sideLines: string[] = [];
  const side = async (
    name: string,
    proxy: { url: string; child: ChildProcess },
    against: { name: string; url: string; pid: number | undefined } = {
      name: 'bare',
      url: originUrl,
      pid: originChildPid,
    },
  ) => {
    if (!WRK || against.pid === undefined || proxy.child.pid === undefined) return;
    const r = await sideBySide(
      { url: `${against.url}/item`, pid: against.pid },
      { url: `${proxy.url}/item`, pid: proxy.child.pid },
    );
    sideLines.push(
      `${name}: ${r.bUs.toFixed(1)} µs of CPU per hit, ${against.name} ${r.aUs.toFixed(1)} µs: ${(r.aUs / r.bUs).toFixed(2)}x`,
    );
  };
  results.push(await load('proxy, memory store, hit', `${mem.url}/item`));
  // Before the pass-through and paced cases: the same state the hit case measured.
  await side('memory store', mem);
  results.push(await load('proxy, pass-through (no-store)', `${mem.url}/nostore`));
  const peak = results[1]?.rps ?? 0;
  if (peak > 0) {
    results.push(await load('proxy, memory hit, paced to ~50% of its peak', `${mem.url}/item`, peak / 2));
    // The same pacing against the bare server: what bursts of paced requests cost anyway.
    results.push(await load('bare node:http, same pacing', `${originUrl}/item`, peak / 2));
  }

  // Tracing on, one trace in ten exported (to the origin, which answers OTLP as a collector would).
  const traced = await startProxy(
    originUrl,
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: originUrl,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
    },
    routesFile,
  );
  await waitHttp(`${traced.url}/item`);
  results.push(await load('proxy, tracing on (10 % sampled), hit', `${traced.url}/item`));
  results.push(await load('proxy, tracing on (10 % sampled), pass-through', `${traced.url}/nostore`));
  await side('memory store, tracing on (10 %) vs off', traced, {
    name: 'tracing off',
    url: mem.url,
    pid: mem.child.pid,
  });
  await stop(traced.child);

  if (BASELINE_MAIN !== undefined) {
    const before = await startProxy(originUrl, {}, routesFile, BASELINE_MAIN);
    await waitHttp(`${before.url}/item`);
    results.push(await load('BENCH_BASELINE_MAIN build, memory store, hit', `${before.url}/item`));
    results.push(await load('BENCH_BASELINE_MAIN build, pass-through', `${before.url}/nostore`));
    await side('memory store, this build vs BENCH_BASELINE_MAIN', mem, {
      name: 'baseline build',
      url: before.url,
      pid: before.child.pid,
    });
    await stop(before.child);
  }
  await stop(mem.child);
  const memoryLine = WRK ? await memory(originUrl, routesFile) : 'memory: skipped (needs wrk)';

  if (has('redis-server')) {
    const redisPort = await freePort();
    const redis = start('redis-server', [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    redis.stdout?.resume();
    await new Promise((r) => setTimeout(r, 300));
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const red = await startProxy(originUrl, { REDIS_URL: redisUrl }, routesFile);
    await waitHttp(`${red.url}/item`);
    await waitHttp(`${red.url}/item`);
    results.push(await load('proxy, redis store + local tier, hit', `${red.url}/item`));
    await side('redis store + local tier', red);
    await stop(red.child);
    const far = await startProxy(originUrl, { REDIS_URL: redisUrl, LOCAL_TIER_TTL_MS: '0' }, routesFile);
    await waitHttp(`${far.url}/item`);
    results.push(await load('proxy, redis store, no local tier, hit', `${far.url}/item`));
    await side('redis store, no local tier', far);
    await stop(far.child);
    redis.kill('SIGTERM');
  } else {
    process.stderr.write('  redis-server not found: the Redis case is skipped\n');
  }
  await stop(origin);

  const base = results[0]?.rps ?? 1;
  const rows = results.map((r) => [
    r.name,
    r.rps.toFixed(0),
    r.p50ms.toFixed(3),
    r.p99ms.toFixed(3),
    `${(r.rps / base).toFixed(2)}x`,
  ]);
  const header = ['case', 'req/s', 'p50 ms', 'p99 ms', 'vs baseline'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  process.stdout.write(
    `\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n${sideText(sideLines)}\n${memoryLine}\n`,
  );
}

function sideText(lines: string[]): string {
  if (lines.length === 0) return '';
  return `\nside by side (server and bare on one core, loaded at once; bare's CPU per request / the proxy's):\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
