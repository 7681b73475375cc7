import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench`: one table, every case as req/s, latency and CPU per
 * request (µs, from /proc), plus its ratio to a yardstick loaded at the same
 * time on the same core: the bare node:http server for hits, the ten-line
 * undici proxy for requests that reach the backend. Side by side, whatever
 * else the shared host runs slows both alike, so the ratio holds still where
 * back-to-back req/s swings by a third. Servers run on core 0; wrk and the
 * backend on core 1.
 */
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
/** Stored entries the spread Redis case hits at random (ten times the Redis store's entry memo). */
const SPREAD_KEYS = 10_000;
const SERVER_CORE = process.env.BENCH_SERVER_CORE ?? '0';
const LOAD_CORE = process.env.BENCH_LOAD_CORE ?? '1';
/** Only these cases (comma-separated name fragments), for measuring one change quickly. */
const ONLY = (process.env.BENCH_ONLY ?? '').split(',').filter((s) => s !== '');
/** Another build's dist/src/main.js (say, the commit before a change), measured beside this one. */
const BASELINE_MAIN = process.env.BENCH_BASELINE_MAIN;

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
  stdout: 'pipe' | 'ignore' | number = 'ignore',
  core = SERVER_CORE,
  stderr: 'inherit' | 'ignore' = 'inherit',
): ChildProcess {
  const [c, a] = pinned(core, cmd, args);
  const child = spawn(c, a, { env: { ...process.env, ...env }, stdio: ['ignore', stdout, stderr] });
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

function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tagcache-wrk-')), name);
  writeFileSync(file, text);
  return file;
}

function delayScript(ms: number): string {
  // Uniform in [0, 2·ms], seeded per connection thread: a fixed pause keeps all connections in step,
  // so requests arrive in bursts of CONNECTIONS and p99 measures how long a burst takes to drain.
  return tempFile(
    'delay.lua',
    `function init(args)\n  math.randomseed(os.time() + math.floor(os.clock() * 1000000))\nend\nfunction delay()\n  return math.random(0, ${2 * ms})\nend\n`,
  );
}

let uniqueRun = 0;
/** Every request a path never asked before (in any run): each one a miss. */
function uniqueScript(): string {
  uniqueRun++;
  const prefix = `${process.pid}-${Date.now()}-${uniqueRun}`;
  return tempFile(
    'unique.lua',
    `local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, wrk.path .. "${prefix}/" .. n)\nend\n`,
  );
}

/** Every request one of `keys` paths (url + 0 … keys-1) at random, seeded per connection thread. */
function spreadScript(keys: number): string {
  return tempFile(
    'spread.lua',
    `function init(args)\n  math.randomseed(os.time() + math.floor(os.clock() * 1000000))\nend\nrequest = function()\n  return wrk.format(nil, wrk.path .. math.random(0, ${keys - 1}))\nend\n`,
  );
}

/** Asks url + 0 … keys-1 once each (32 at a time), so a spread case measures hits, not its first misses. */
async function fill(url: string, keys: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < keys) await waitHttp(`${url}${next++}`);
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

/** What wrk loads: a URL, for misses a fresh path per request, or one of `keys` paths. */
interface Target {
  readonly url: string;
  readonly unique?: boolean;
  readonly keys?: number;
  /** The server's processes (all of them: nginx and Varnish fork workers). */
  readonly pid: number;
}

interface WrkResult {
  requests: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

function wrkArgs(t: Target, seconds: number, extra: string[] = []): string[] {
  const script = t.unique ? ['-s', uniqueScript()] : t.keys !== undefined ? ['-s', spreadScript(t.keys)] : [];
  return ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', ...script, ...extra, t.url];
}

function parseWrk(out: string): WrkResult {
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN),
    p50ms: toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99ms: toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    errors: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

function wrk(t: Target, seconds: number, extra: string[] = []): Promise<WrkResult> {
  const [c, a] = pinned(LOAD_CORE, 'wrk', wrkArgs(t, seconds, extra));
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return once(child, 'exit').then(() => parseWrk(out));
}

/** CPU seconds (user + system, every thread) a process and its descendants have used so far. */
function cpuSeconds(pid: number): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      // utime and stime are fields 14 and 15 of /proc/PID/stat, 12 and 13 after "pid (comm) ".
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const after = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      parentOf.set(Number(name), Number(after[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift();
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

interface Row {
  name: string;
  rps: number;
  p50ms: number;
  p99ms: number;
  cpuUs: number;
  /** Yardstick's CPU per request / this case's, both loaded at once. */
  side?: { ratio: number; vs: string };
}

/** One case on its own: req/s, latency, and the CPU each request cost the server. */
async function alone(name: string, t: Target, extra: string[] = []): Promise<Row> {
  if (extra.length === 0) await wrk(t, 2);
  const before = cpuSeconds(t.pid);
  const r = await wrk(t, DURATION_S, extra);
  const cpuUs = ((cpuSeconds(t.pid) - before) * 1e6) / r.requests;
  if (r.errors > 0) process.stderr.write(`  ${name}: ${r.errors} non-2xx answers\n`);
  return { name, rps: r.rps, p50ms: r.p50ms, p99ms: r.p99ms, cpuUs };
}

/** CPU per request of two servers loaded at the same time on the same core. */
async function sideBySide(a: Target, b: Target): Promise<{ aUs: number; bUs: number }> {
  await Promise.all([wrk(a, 2), wrk(b, 2)]);
  const a0 = cpuSeconds(a.pid);
  const b0 = cpuSeconds(b.pid);
  const [ra, rb] = await Promise.all([wrk(a, DURATION_S), wrk(b, DURATION_S)]);
  return {
    aUs: ((cpuSeconds(a.pid) - a0) * 1e6) / ra.requests,
    bUs: ((cpuSeconds(b.pid) - b0) * 1e6) / rb.requests,
  };
}

async function measure(
  rows: Row[],
  name: string,
  t: Target,
  yardstick?: { name: string; target: Target },
): Promise<void> {
  if (ONLY.length > 0 && !ONLY.some((o) => name.includes(o))) return;
  const row = await alone(name, t);
  if (yardstick !== undefined) {
    const s = await sideBySide(yardstick.target, t);
    row.side = { ratio: s.aUs / s.bUs, vs: yardstick.name };
  }
  rows.push(row);
  process.stderr.write(
    `  ${name}: ${row.rps.toFixed(0)} req/s, ${row.cpuUs.toFixed(1)} µs CPU per request\n`,
  );
}

async function startProxy(
  originUrl: string,
  extraEnv: NodeJS.ProcessEnv,
  routesFile: string,
  main = join(ROOT, 'dist/src/main.js'),
): Promise<{ url: string; adminUrl: string; child: ChildProcess; pid: number }> {
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
  // taskset execs the server, so the child's pid is the server's own.
  return { url, adminUrl, child, pid: child.pid ?? 0 };
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
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
 * Memory: the idle RSS of a fresh proxy with the default configuration, then
 * the RSS once CACHE_MAX_BYTES is full of 1 KiB responses (the worst case per
 * byte: many small entries).
 */
async function memory(originUrl: string, routesFile: string): Promise<string> {
  const idleProxy = await startProxy(originUrl, {}, routesFile);
  await new Promise((r) => setTimeout(r, 1_000));
  const idle = rssBytes(idleProxy.pid);
  await stop(idleProxy.child);
  const bound = 32 * 1024 * 1024;
  const proxy = await startProxy(
    originUrl,
    { CACHE_MAX_BYTES: String(bound), ACCESS_LOG: 'off' },
    routesFile,
  );
  const before = rssBytes(proxy.pid);
  await wrk({ url: `${proxy.url}/m/`, unique: true, pid: proxy.pid }, Math.max(DURATION_S, 10));
  const stored = await gauge(proxy.adminUrl, 'tagcache_memory_store_bytes');
  const entries = await gauge(proxy.adminUrl, 'tagcache_memory_store_entries');
  const full = rssBytes(proxy.pid);
  await stop(proxy.child);
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  return (
    `memory: idle RSS ${mib(idle)} MiB (default configuration); with ${entries} entries of 1 KiB (${mib(stored)} MiB accounted, ` +
    `CACHE_MAX_BYTES ${mib(bound)} MiB) RSS ${mib(full)} MiB: ${((full - before) / stored).toFixed(2)}x the accounted bytes`
  );
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function startNode(script: string, env: NodeJS.ProcessEnv, core = SERVER_CORE): Promise<ChildProcess> {
  const port = env.PORT ?? '0';
  const child = start(process.execPath, [join(ROOT, script)], env, 'ignore', core);
  await waitHttp(`http://127.0.0.1:${port}/warm`);
  return child;
}

/** nginx (proxy_cache) and Varnish beside tagcache, when installed: the same hit and pass-through cases. */
async function peers(
  rows: Row[],
  originUrl: string,
  bare: { name: string; target: Target },
  undici: { name: string; target: Target },
): Promise<string[]> {
  const notes: string[] = [];
  const origin = new URL(originUrl);
  const nginx = ['/usr/sbin/nginx', 'nginx'].find((c) => has(c));
  if (nginx === undefined) notes.push('nginx: not installed, skipped (apt-get install nginx-light)');
  else {
    const dir = mkdtempSync(join(tmpdir(), 'tagcache-nginx-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'nginx.conf'),
      `${process.getuid?.() === 0 ? 'user root; ' : ''}worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; proxy_cache_path ${dir}/cache levels=1:2 keys_zone=c:64m max_size=1g inactive=60m use_temp_path=off;
  upstream o { server ${origin.host}; keepalive 64; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache c; }
           location /nocache/ { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`,
    );
    const child = start(
      nginx,
      ['-c', join(dir, 'nginx.conf'), '-p', dir],
      {},
      'ignore',
      SERVER_CORE,
      'ignore',
    );
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(`${url}/item`);
    const pid = child.pid ?? 0;
    await measure(rows, 'nginx proxy_cache, hit', { url: `${url}/item`, pid }, bare);
    await measure(rows, 'nginx, pass-through', { url: `${url}/nocache/item`, pid }, undici);
    await stop(child);
  }
  const varnishd = ['/usr/sbin/varnishd', 'varnishd'].find((c) => has(c));
  if (varnishd === undefined) notes.push('Varnish: not installed, skipped (apt-get install varnish)');
  else {
    const dir = mkdtempSync(join(tmpdir(), 'tagcache-varnish-'));
    // varnishd's compiler runs as an unprivileged user that must read the VCL.
    chmodSync(dir, 0o755);
    const port = await freePort();
    const vcl = join(dir, 'default.vcl');
    writeFileSync(
      vcl,
      `vcl 4.1;\nbackend o { .host = "${origin.hostname}"; .port = "${origin.port}"; }\nsub vcl_recv { if (req.url ~ "^/nocache/") { return (pass); } }\n`,
      { mode: 0o644 },
    );
    const child = start(
      varnishd,
      [
        '-F',
        '-n',
        join(dir, 'n'),
        '-a',
        `127.0.0.1:${port}`,
        '-f',
        vcl,
        '-s',
        'malloc,256m',
        '-p',
        'thread_pools=1',
        '-T',
        '127.0.0.1:0',
      ],
      {},
      'ignore',
      SERVER_CORE,
      'ignore',
    );
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitHttp(`${url}/item`);
      const pid = child.pid ?? 0;
      await measure(rows, 'Varnish, hit', { url: `${url}/item`, pid }, bare);
      await measure(rows, 'Varnish, pass', { url: `${url}/nocache/item`, pid }, undici);
    } catch (err) {
      notes.push(`Varnish: did not start (${err instanceof Error ? err.message : String(err)})`);
    }
    await stop(child);
  }
  return notes;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tagcache-bench-'));
  const routesFile = join(dir, 'routes.json');
  writeFileSync(
    routesFile,
    JSON.stringify({
      routes: [{ name: 'pass', pattern: '^/nocache/', cache: false }],
      default: { name: 'bench' },
    }),
  );
  process.stderr.write(
    `tagcache bench: ${DURATION_S}s per case, ${CONNECTIONS} connections, servers on core ${SERVER_CORE}, load and backend on core ${LOAD_CORE}` +
      ` (${TASKSET ? 'taskset' : 'no taskset: figures are noisier'})\n`,
  );
  if (!WRK) {
    process.stderr.write('bench needs wrk (apt-get install wrk)\n');
    process.exit(1);
  }

  // The bare server is the hit yardstick; a second copy on the load core is the backend every proxy talks to.
  const barePort = await freePort();
  const bareChild = await startNode('dist/bench/origin-server.js', { PORT: String(barePort) });
  const bare = {
    name: 'bare',
    target: { url: `http://127.0.0.1:${barePort}/item`, pid: bareChild.pid ?? 0 },
  };
  const originPort = await freePort();
  await startNode('dist/bench/origin-server.js', { PORT: String(originPort) }, LOAD_CORE);
  const originUrl = `http://127.0.0.1:${originPort}`;
  const undiciPort = await freePort();
  const undiciChild = await startNode('dist/bench/undici-proxy.js', {
    PORT: String(undiciPort),
    UPSTREAM_URL: originUrl,
  });
  const undici = {
    name: 'undici',
    target: { url: `http://127.0.0.1:${undiciPort}/nocache/item`, pid: undiciChild.pid ?? 0 },
  };

  await measure(rows, 'bare node:http', bare.target);
  await measure(rows, '10-line undici proxy', undici.target);

  const mem = await startProxy(originUrl, {}, routesFile);
  await waitHttp(`${mem.url}/item`);
  const t = (path: string, unique = false): Target => ({ url: `${mem.url}${path}`, pid: mem.pid, unique });
  await measure(rows, 'memory store, hit', t('/item'), bare);
  await measure(rows, 'pass-through (cache: false route)', t('/nocache/item'), undici);
  await measure(rows, 'miss, stored (memory)', t('/m/', true), undici);
  await measure(rows, 'miss, not storable (no-store)', t('/nostore'), undici);
  // One process serves both, so their CPU cannot be told apart side by side: compare each to undici's.
  const pass = rows.find((r) => r.name.startsWith('pass-through'))?.side?.ratio;
  const stored = rows.find((r) => r.name === 'miss, stored (memory)')?.side?.ratio;
  if (pass !== undefined && stored !== undefined)
    notes.push(
      `miss that stores vs pass-through (each against undici side by side): ${(stored / pass).toFixed(2)}x`,
    );
  if (ONLY.length === 0 || ONLY.some((o) => 'miss, stored vs pass-through'.includes(o))) {
    // The target itself (issue 16), measured directly: a second instance of this build beside the
    // first, one serving stored misses and the other pass-through, then the roles swapped: the two
    // instances differ (one has run longer, its heap is fuller), and the swap cancels what is theirs.
    const twin = await startProxy(originUrl, {}, routesFile);
    await waitHttp(`${twin.url}/nocache/item`);
    const other = (path: string, unique = false): Target => ({
      url: `${twin.url}${path}`,
      pid: twin.pid,
      unique,
    });
    const one = await sideBySide(other('/nocache/item'), t('/m/', true));
    const two = await sideBySide(t('/nocache/item'), other('/m/', true));
    await stop(twin.child);
    const r1 = one.aUs / one.bUs;
    const r2 = two.aUs / two.bUs;
    const line = `miss that stores vs pass-through, two instances side by side, roles swapped: ${Math.sqrt(r1 * r2).toFixed(2)}x (${r1.toFixed(2)}x, ${r2.toFixed(2)}x)`;
    process.stderr.write(`  ${line}\n`);
    notes.push(line);
  }
  const peak = rows.find((r) => r.name === 'memory store, hit')?.rps ?? 0;
  if (peak > 0) {
    const pause = ['-s', delayScript(Math.max(1, Math.round((CONNECTIONS * 1000) / (peak / 2))))];
    rows.push(await alone('memory hit, paced to ~50% of its peak', t('/item'), pause));
    // The same pacing against the bare server: what bursts of paced requests cost anyway.
    rows.push(await alone('bare node:http, same pacing', bare.target, pause));
    if (BASELINE_MAIN !== undefined) {
      // Warmed as this build was by the cases before it, then paced the same.
      const before = await startProxy(originUrl, {}, routesFile, BASELINE_MAIN);
      const hit = { url: `${before.url}/item`, pid: before.pid };
      await waitHttp(hit.url);
      await wrk(hit, DURATION_S);
      rows.push(await alone('BENCH_BASELINE_MAIN build, hit, same pacing', hit, pause));
      await stop(before.child);
    }
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
  const tracingOff = { name: 'tracing off', target: t('/item') };
  await measure(
    rows,
    'tracing on (10 % sampled), hit',
    { url: `${traced.url}/item`, pid: traced.pid },
    tracingOff,
  );
  await measure(
    rows,
    'tracing on (10 % sampled), pass-through',
    { url: `${traced.url}/nocache/item`, pid: traced.pid },
    undici,
  );
  await stop(traced.child);

  if (ONLY.includes('fast')) notes.push(...(await fastPaths(originUrl, routesFile)));

  if (BASELINE_MAIN !== undefined) {
    const before = await startProxy(originUrl, {}, routesFile, BASELINE_MAIN);
    await waitHttp(`${before.url}/item`);
    const thisBuild = { name: 'this build', target: t('/item') };
    await measure(
      rows,
      'BENCH_BASELINE_MAIN build, hit',
      { url: `${before.url}/item`, pid: before.pid },
      thisBuild,
    );
    await measure(
      rows,
      'BENCH_BASELINE_MAIN build, pass-through',
      { url: `${before.url}/nocache/item`, pid: before.pid },
      undici,
    );
    // Against this build's own miss, side by side: below 1, this build's miss costs less than the baseline's.
    await measure(
      rows,
      'BENCH_BASELINE_MAIN build, miss, stored',
      { url: `${before.url}/m/`, pid: before.pid, unique: true },
      { name: 'this build', target: t('/m/', true) },
    );
    await stop(before.child);
  }
  await stop(mem.child);

  if (has('redis-server')) {
    const redisPort = await freePort();
    const redis = start(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {},
      'ignore',
      LOAD_CORE,
    );
    await new Promise((r) => setTimeout(r, 300));
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const red = await startProxy(originUrl, { REDIS_URL: redisUrl }, routesFile);
    await waitHttp(`${red.url}/item`);
    await waitHttp(`${red.url}/item`);
    await measure(rows, 'Redis + local tier, hit', { url: `${red.url}/item`, pid: red.pid }, bare);
    await stop(red.child);
    const far = await startProxy(originUrl, { REDIS_URL: redisUrl, LOCAL_TIER_TTL_MS: '0' }, routesFile);
    await waitHttp(`${far.url}/item`);
    await measure(rows, 'Redis, no local tier, hit', { url: `${far.url}/item`, pid: far.pid }, bare);
    // A fleet's instance rarely asks one key twice in a row: hits spread over many stored entries.
    const spread = { url: `${far.url}/m/spread-`, pid: far.pid, keys: SPREAD_KEYS };
    if (ONLY.length === 0 || ONLY.some((o) => 'Redis, no local tier, hit, 10k keys'.includes(o))) {
      await fill(spread.url, SPREAD_KEYS);
      await measure(rows, 'Redis, no local tier, hit, 10k keys', spread, bare);
    }
    await measure(rows, 'miss, stored (Redis)', { url: `${far.url}/m/`, pid: far.pid, unique: true }, undici);
    if (BASELINE_MAIN !== undefined) {
      // Its own prefix: a build with another entry format would take this one's entries for misses and rewrite them.
      const before = await startProxy(
        originUrl,
        { REDIS_URL: redisUrl, LOCAL_TIER_TTL_MS: '0', REDIS_PREFIX: 'tcbase:' },
        routesFile,
        BASELINE_MAIN,
      );
      await waitHttp(`${before.url}/item`);
      await measure(
        rows,
        'BENCH_BASELINE_MAIN build, Redis, no local tier, hit',
        { url: `${before.url}/item`, pid: before.pid },
        { name: 'this build', target: { url: `${far.url}/item`, pid: far.pid } },
      );
      const name = 'BENCH_BASELINE_MAIN build, Redis, no local tier, hit, 10k keys';
      if (ONLY.length === 0 || ONLY.some((o) => name.includes(o))) {
        const beforeSpread = { url: `${before.url}/m/spread-`, pid: before.pid, keys: SPREAD_KEYS };
        await fill(beforeSpread.url, SPREAD_KEYS);
        await fill(spread.url, SPREAD_KEYS);
        await measure(rows, name, beforeSpread, { name: 'this build', target: spread });
      }
      await stop(before.child);
    }
    await stop(far.child);
    redis.kill('SIGTERM');
  } else {
    notes.push('Redis: redis-server not found, the Redis cases are skipped');
  }

  notes.push(...(await peers(rows, originUrl, bare, undici)));
  if (ONLY.length === 0 || ONLY.includes('memory')) notes.push(await memory(originUrl, routesFile));
  process.stdout.write(`\n${table(rows)}\n${notes.map((n) => `${n}\n`).join('')}`);
  // The servers still running (bare, backend, undici proxy) are killed on exit.
  process.exit(0);
}

/** Each shortcut FAST_PATHS names, and all of them at once. */
const FAST_PATH_CASES = ['access-log', 'metrics', 'undici', 'lean-start'];

/**
 * What each fast path buys (BENCH_ONLY=fast): the default build, every
 * shortcut on, side by side with one that has every shortcut but one (and one
 * with none), on the same core under the same load; the gain is the CPU per
 * request without the shortcut over the CPU per request with it, for a hit
 * and for a pass-through (above 1: the shortcut saves CPU).
 */
async function fastPaths(originUrl: string, routesFile: string): Promise<string[]> {
  const notes: string[] = [];
  for (const without of [...FAST_PATH_CASES, 'all']) {
    const keep = without === 'all' ? 'off' : FAST_PATH_CASES.filter((n) => n !== without).join(',');
    // Both started together, so neither has had longer to warm up or grow its heap.
    const [allOn, other] = await Promise.all([
      startProxy(originUrl, { FAST_PATHS: 'on' }, routesFile),
      startProxy(originUrl, { FAST_PATHS: keep }, routesFile),
    ]);
    await waitHttp(`${allOn.url}/item`);
    await waitHttp(`${other.url}/item`);
    const gains: string[] = [];
    for (const path of ['/item', '/nocache/item']) {
      const s = await sideBySide(
        { url: `${allOn.url}${path}`, pid: allOn.pid },
        { url: `${other.url}${path}`, pid: other.pid },
      );
      gains.push(`${path === '/item' ? 'hit' : 'pass-through'} ${(s.bUs / s.aUs).toFixed(2)}x`);
    }
    await Promise.all([stop(allOn.child), stop(other.child)]);
    const line = `fast path ${without}: gain ${gains.join(', ')}`;
    process.stderr.write(`  ${line}\n`);
    notes.push(line);
  }
  return notes;
}

function table(rows: Row[]): string {
  const header = ['case', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'side by side'];
  const cells = rows.map((r) => [
    r.name,
    r.rps.toFixed(0),
    r.p50ms.toFixed(2),
    r.p99ms.toFixed(2),
    r.cpuUs.toFixed(1),
    r.side === undefined ? '' : `${r.side.ratio.toFixed(2)}x ${r.side.vs}`,
  ]);
  const line = (c: string[]) => `| ${c.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...cells.map(line)].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
