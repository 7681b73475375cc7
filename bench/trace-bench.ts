import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { startRedisServer } from './support/redis-server.js';

/**
 * `npm run bench:trace`: a seeded replay of realistic traffic against one
 * tagcache (memory store, then Redis), and Varnish's default configuration
 * on the same trace when varnishd is installed.
 *
 * 10,000 URLs drawn with a Zipf distribution (s = 1). Half are JSON under
 * /api/ (two query parameters, their order shuffled), half HTML under
 * /pages/, bodies 1–100 KiB (log-uniform) that compress like real pages. The
 * origin gzips /api/ when asked (nginx with gzip_proxied any) and never
 * /pages/ (nginx's default, gzip_proxied off, in front of a proxy that sends
 * Via); both say Vary: Accept-Encoding. Clients are drawn from real browsers'
 * and bots' Accept-Encoding strings; 10 % of requests carry tracking
 * parameters. Reported: hit ratio against the ideal (one object per URL),
 * origin requests, bytes to clients against identity, CPU per compressed hit
 * against an identity hit, memory per entry.
 */
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const SEED = Number(process.env.TRACE_SEED ?? 20_261_204);
const REQUESTS = Number(process.env.TRACE_REQUESTS ?? 30_000);
const URLS = 10_000;
const CONCURRENCY = 16;
const CPU_REQUESTS = Number(process.env.TRACE_CPU_REQUESTS ?? 10_000);
const TASKSET = has('taskset');

/** Real Accept-Encoding strings and a rough share of traffic (browsers, then bots, libraries and tools). */
const CLIENTS: readonly [string | undefined, number][] = [
  ['gzip, deflate, br, zstd', 0.58], // Chrome, Edge, Opera (2024+), Firefox 126+
  ['gzip, deflate, br', 0.17], // Safari, older Chromium, Googlebot
  ['gzip, deflate', 0.06], // Bingbot, python-requests, older libraries
  ['gzip', 0.05], // Go's net/http, many API clients
  ['br;q=1.0, gzip;q=0.8, *;q=0.1', 0.03], // Node's fetch (undici)
  ['deflate, gzip, br, zstd', 0.02], // curl --compressed
  [undefined, 0.05], // curl, wget, uptime checks, many crawlers
  ['identity', 0.02], // wget, some feed readers
  ['x-gzip, gzip, deflate', 0.02], // older bots
];
const TRACKING = [
  'utm_source=newsletter&utm_medium=email',
  'fbclid=IwAR2x9',
  'gclid=Cj0KCQ',
  'utm_campaign=spring',
];

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the site ------------------------------------------------------------------------------

const WORDS =
  'the of and to in a is that for it as was with be by on not this are or from at which have an they you were their has would when if so no will can more about said shoe sale blue brand size order price ship review star'.split(
    ' ',
  );

function isApi(id: number): boolean {
  return prng(id * 7919)() < 0.5;
}

/** Deterministic per URL: the same id always gets the same bytes, 1–100 KiB. */
function bodyOf(id: number): Buffer {
  const r = prng(id * 104_729 + 1);
  const size = Math.floor(1024 * 100 ** r());
  const words = (n: number) =>
    Array.from({ length: n }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' ');
  if (isApi(id)) {
    const items: string[] = [];
    let length = 40;
    while (length < size) {
      const item = JSON.stringify({
        id: Math.floor(r() * 1e6),
        sku: `SKU-${Math.floor(r() * 1e9).toString(36)}`,
        name: words(3),
        price: Math.round(r() * 10_000) / 100,
        inStock: r() > 0.3,
        tags: [words(1), words(1)],
        updatedAt: new Date(1.7e12 + r() * 1e10).toISOString(),
        description: words(10),
      });
      items.push(item);
      length += item.length + 1;
    }
    return Buffer.from(`{"page":${id},"items":[${items.join(',')}]}`);
  }
  let html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${words(5)}</title><link rel="stylesheet" href="/s.css"></head><body><header class="site-header"><nav>${words(6)}</nav></header><main>`;
  while (html.length < size) {
    html += `<article class="card product-card" data-id="${Math.floor(r() * 1e6)}"><a href="/pages/${Math.floor(r() * URLS)}"><h2 class="card-title">${words(4)}</h2></a><p class="card-text">${words(25)}</p><span class="price">$${(r() * 100).toFixed(2)}</span></article>\n`;
  }
  return Buffer.from(`${html}</main></body></html>`);
}

interface Origin {
  readonly url: string;
  requests: number;
  /** Identity size of each URL id, learnt as the origin serves it. */
  readonly sizes: Map<number, number>;
  close(): Promise<void>;
}

async function startOrigin(): Promise<Origin> {
  const sizes = new Map<number, number>();
  const state = { requests: 0 };
  const server = createServer((req, res) => {
    state.requests++;
    const m = /^\/(api\/products|pages)\/(\d+)/.exec(req.url ?? '');
    if (m === null) {
      res.writeHead(404, { 'cache-control': 'no-store' }).end();
      return;
    }
    const id = Number(m[2]);
    const identity = bodyOf(id);
    sizes.set(id, identity.length);
    const api = m[1] === 'api/products';
    const headers: Record<string, string> = {
      'content-type': api ? 'application/json' : 'text/html; charset=utf-8',
      'cache-control': 'public, max-age=86400',
      vary: 'Accept-Encoding',
      etag: `"${id}-1"`,
    };
    let body = identity;
    if (api && /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''))) {
      body = gzipSync(identity, { level: 6 });
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(body.length);
    res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body);
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    set requests(n: number) {
      state.requests = n;
    },
    sizes,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// ---- the trace ------------------------------------------------------------------------------

interface Step {
  readonly id: number;
  readonly path: string;
  readonly acceptEncoding: string | undefined;
}

function makeTrace(): Step[] {
  const r = prng(SEED);
  // Zipf, s = 1: rank k drawn with weight 1/k.
  const cdf = new Float64Array(URLS);
  let sum = 0;
  for (let k = 1; k <= URLS; k++) {
    sum += 1 / k;
    cdf[k - 1] = sum;
  }
  const rank = () => {
    const x = r() * sum;
    let lo = 0;
    let hi = URLS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] ?? 0) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // Popularity is not the id order: ranks are mapped to ids by a fixed shuffle.
  const ids = Array.from({ length: URLS }, (_, i) => i);
  for (let i = URLS - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ids[i], ids[j]] = [ids[j] as number, ids[i] as number];
  }
  const client = () => {
    let x = r();
    for (const [ae, share] of CLIENTS) {
      x -= share;
      if (x < 0) return ae;
    }
    return CLIENTS[0]?.[0];
  };
  const steps: Step[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const id = ids[rank()] as number;
    const params = isApi(id) ? ['fields=full', 'lang=en'] : [];
    if (params.length > 1 && r() < 0.5) params.reverse();
    if (r() < 0.1) params.push(TRACKING[Math.floor(r() * TRACKING.length)] as string);
    const base = isApi(id) ? `/api/products/${id}` : `/pages/${id}`;
    steps.push({
      id,
      path: params.length === 0 ? base : `${base}?${params.join('&')}`,
      acceptEncoding: client(),
    });
  }
  return steps;
}

// ---- the client -----------------------------------------------------------------------------

interface Tally {
  hits: number;
  bytes: { json: number; html: number };
  identity: { json: number; html: number };
  wrong: number;
}

function fetchOne(
  agent: Agent,
  base: string,
  path: string,
  acceptEncoding: string | undefined,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolvePromise, reject) => {
    const headers: Record<string, string> = { host: 'shop.example' };
    if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding;
    const req = request(`${base}${path}`, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function decodedLength(body: Buffer, coding: string | string[] | undefined): number {
  if (coding === 'br') return brotliDecompressSync(body).length;
  if (coding === 'gzip') return gunzipSync(body).length;
  return body.length;
}

async function replay(base: string, origin: Origin, steps: readonly Step[]): Promise<Tally> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const tally: Tally = { hits: 0, bytes: { json: 0, html: 0 }, identity: { json: 0, html: 0 }, wrong: 0 };
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      const step = steps[i];
      if (step === undefined) return;
      const res = await fetchOne(agent, base, step.path, step.acceptEncoding);
      const kind = isApi(step.id) ? 'json' : 'html';
      const identity = origin.sizes.get(step.id) ?? Number.NaN;
      tally.bytes[kind] += res.body.length;
      tally.identity[kind] += identity;
      if (res.headers['x-cache'] === 'HIT') tally.hits++;
      // Every 20th answer is decoded: the client must get the page, whatever coding it came in.
      const coding = res.headers['content-encoding'];
      const acceptable =
        coding === undefined || new RegExp(`\\b${coding}\\b`, 'i').test(step.acceptEncoding ?? '');
      if (res.status !== 200 || !acceptable || (i % 20 === 0 && decodedLength(res.body, coding) !== identity))
        tally.wrong++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  return tally;
}

/** CPU seconds (user + system, every thread) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/**
 * CPU per hit of the most popular URLs, once as br and once as identity,
 * alternating rounds so drift on the host falls on both alike.
 */
async function cpuPerHit(
  base: string,
  pid: number,
  steps: readonly Step[],
): Promise<{ br: number; id: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const popular = [...new Set(steps.slice(0, 2000).map((s) => s.path.split('?')[0] as string))].slice(0, 100);
  const run = async (ae: string | undefined) => {
    let next = 0;
    const before = cpuSeconds(pid);
    const worker = async () => {
      while (next < CPU_REQUESTS) {
        const i = next++;
        await fetchOne(agent, base, popular[i % popular.length] as string, ae);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return cpuSeconds(pid) - before;
  };
  await run('br');
  await run(undefined); // warm both paths
  let br = 0;
  let id = 0;
  for (let round = 0; round < 3; round++) {
    br += await run('gzip, deflate, br, zstd');
    id += await run(undefined);
  }
  agent.destroy();
  return { br: (br * 1e6) / (3 * CPU_REQUESTS), id: (id * 1e6) / (3 * CPU_REQUESTS) };
}

// ---- the servers ----------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitHttp(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function pinned(cmd: string, args: string[]): [string, string[]] {
  return TASKSET ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args];
}

async function startTagcache(
  originUrl: string,
  routesFile: string,
  env: Record<string, string>,
): Promise<{ url: string; adminUrl: string; child: ChildProcess }> {
  const port = await freePort();
  const adminPort = await freePort();
  const [cmd, args] = pinned(process.execPath, [join(ROOT, 'dist/src/main.js')]);
  const child = spawn(cmd, args, {
    env: {
      ...process.env,
      UPSTREAM_URL: originUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      ROUTES_FILE: routesFile,
      ACCESS_LOG: 'off',
      LOG_LEVEL: 'warn',
      CACHE_MAX_BYTES: '2GiB',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitHttp(`${adminUrl}/health/live`);
  return { url: `http://127.0.0.1:${port}`, adminUrl, child };
}

async function metric(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/** The route table: with the key normalisation (sorted query, tracking parameters ignored) when this build has it. */
function writeRoutes(dir: string): { file: string; normalised: boolean } {
  const file = join(dir, 'routes.json');
  const rule = { sort: true, ignore: ['utm_*', 'fbclid', 'gclid'] };
  writeFileSync(
    file,
    JSON.stringify({
      routes: [
        { name: 'api', pattern: '^/api/', cacheKeyQuery: rule },
        { name: 'pages', pattern: '^/pages/', cacheKeyQuery: rule },
      ],
      default: { name: 'other' },
    }),
  );
  const check = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'check-routes', file]);
  if (check.status === 0) return { file, normalised: true };
  writeFileSync(
    file,
    JSON.stringify({
      routes: [
        { name: 'api', pattern: '^/api/' },
        { name: 'pages', pattern: '^/pages/' },
      ],
      default: { name: 'other' },
    }),
  );
  return { file, normalised: false };
}

// ---- the report -----------------------------------------------------------------------------

interface Row {
  name: string;
  hitRatio: number;
  originRequests: number;
  json: number;
  html: number;
  wrong: number;
  cpu?: { br: number; id: number };
  memory?: string;
}

async function tagcacheCase(
  name: string,
  origin: Origin,
  routesFile: string,
  steps: readonly Step[],
  env: Record<string, string>,
  memory: (adminUrl: string, pid: number, rss0: number, redis?: Redis) => Promise<string>,
): Promise<Row> {
  origin.requests = 0;
  const proxy = await startTagcache(origin.url, routesFile, env);
  const pid = proxy.child.pid as number;
  try {
    const rss0 = rssBytes(pid);
    const t = await replay(proxy.url, origin, steps);
    const originRequests = origin.requests;
    const mem = await memory(proxy.adminUrl, pid, rss0);
    const cpu = await cpuPerHit(proxy.url, pid, steps);
    return {
      name,
      hitRatio: t.hits / steps.length,
      originRequests,
      json: t.bytes.json / t.identity.json,
      html: t.bytes.html / t.identity.html,
      wrong: t.wrong,
      cpu,
      memory: mem,
    };
  } finally {
    proxy.child.kill('SIGTERM');
    await once(proxy.child, 'exit');
  }
}

async function varnishCase(origin: Origin, steps: readonly Step[]): Promise<Row | undefined> {
  if (!has('varnishd')) return undefined;
  origin.requests = 0;
  const dir = mkdtempSync(join('/dev/shm', 'trace-varnish-'));
  execFileSync('chmod', ['755', dir]);
  const port = await freePort();
  const { port: originPort } = new URL(origin.url);
  writeFileSync(
    join(dir, 'default.vcl'),
    `vcl 4.1;\nbackend o { .host = "127.0.0.1"; .port = "${originPort}"; }\n`,
  );
  const [cmd, args] = pinned('varnishd', [
    '-F',
    '-n',
    join(dir, 'n'),
    '-a',
    `127.0.0.1:${port}`,
    '-f',
    join(dir, 'default.vcl'),
    '-s',
    'malloc,2g',
    '-p',
    'thread_pools=1',
    '-T',
    '127.0.0.1:0',
  ]);
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
  try {
    await waitHttp(`http://127.0.0.1:${port}/__warm`);
    origin.requests = 0;
    const t = await replay(`http://127.0.0.1:${port}`, origin, steps);
    return {
      name: 'Varnish, default VCL',
      // Varnish sends no X-Cache: its hits are the requests the origin did not see.
      hitRatio: 1 - origin.requests / steps.length,
      originRequests: origin.requests,
      json: t.bytes.json / t.identity.json,
      html: t.bytes.html / t.identity.html,
      wrong: t.wrong,
    };
  } finally {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    await once(child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const steps = makeTrace();
  const distinct = new Set(steps.map((s) => s.id)).size;
  const ideal = 1 - distinct / steps.length;
  // What a cache that keys on the query exactly as sent could reach at best.
  const exact = new Set(steps.map((s) => s.path)).size;
  const origin = await startOrigin();
  const dir = mkdtempSync(join(tmpdir(), 'tagcache-trace-'));
  const routes = writeRoutes(dir);
  process.stderr.write(
    `trace: ${steps.length} requests, ${distinct} distinct URLs, seed ${SEED}; query normalisation ${routes.normalised ? 'on' : 'not in this build'}\n`,
  );
  const rows: Row[] = [];
  try {
    rows.push(
      await tagcacheCase(
        'tagcache, memory store',
        origin,
        routes.file,
        steps,
        {},
        async (adminUrl, pid, rss0) => {
          const bytes = await metric(adminUrl, 'tagcache_memory_store_bytes');
          const entries = await metric(adminUrl, 'tagcache_memory_store_entries');
          const rss = rssBytes(pid) - rss0;
          return `${kib(bytes / entries)} KiB weighed, ${kib(rss / entries)} KiB RSS`;
        },
      ),
    );
    if (has('redis-server')) {
      const redis = await startRedisServer();
      const client = new Redis(redis.url, { lazyConnect: false });
      try {
        rows.push(
          await tagcacheCase(
            'tagcache, Redis, no local tier',
            origin,
            routes.file,
            steps,
            { REDIS_URL: redis.url, LOCAL_TIER_TTL_MS: '0' },
            async (adminUrl) => {
              const info = await client.info('memory');
              const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
              const entries = await metric(adminUrl, 'tagcache_stored_bytes_count');
              return `${kib(used / entries)} KiB in Redis`;
            },
          ),
        );
      } finally {
        client.disconnect();
        await redis.stop();
      }
    }
    if (has('redis-server')) {
      const redis = await startRedisServer();
      try {
        rows.push(
          await tagcacheCase(
            'tagcache, Redis + local tier',
            origin,
            routes.file,
            steps,
            { REDIS_URL: redis.url },
            async () => '—',
          ),
        );
      } finally {
        await redis.stop();
      }
    }
    const varnish = await varnishCase(origin, steps);
    if (varnish !== undefined) rows.push(varnish);
  } finally {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = [
    `| case | hit ratio (ideal ${pct(ideal)}) | origin requests (ideal ${distinct}) | JSON bytes / identity | HTML bytes / identity | CPU per hit, br / identity | memory per entry | wrong answers |`,
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${pct(r.hitRatio)} | ${r.originRequests} | ${r.json.toFixed(2)}× | ${r.html.toFixed(2)}× | ${
          r.cpu === undefined
            ? '—'
            : `${r.cpu.br.toFixed(0)} µs / ${r.cpu.id.toFixed(0)} µs (${(r.cpu.br / r.cpu.id).toFixed(2)}×)`
        } | ${r.memory ?? '—'} | ${r.wrong} |`,
    ),
  ];
  const sizes = [...origin.sizes.values()];
  const meanIdentity = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  lines.push(
    '',
    `Identity body per stored URL: ${kib(meanIdentity)} KiB on average.`,
    `Ideal: one origin request per URL (${distinct} of ${steps.length} requests); keyed on the query exactly as sent (no sorting, tracking parameters kept) the best reachable is ${exact} origin requests, a hit ratio of ${pct(1 - exact / steps.length)}. Query normalisation: ${routes.normalised ? 'on (sort, utm_*/fbclid/gclid ignored)' : 'not in this build'}.`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

await main();
process.exit(0);
