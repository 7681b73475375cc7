import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRedisStore } from '../src/modules/store/redis-store.js';
import type { StoredEntry } from '../src/modules/store/types.js';
import { freePort, startRedisServer } from './support/redis-server.js';

/**
 * Purge figures (`npm run bench:purge`), through real proxy processes:
 *   a. time from an invalidation POST's 200 to the next request being a MISS,
 *      on one process (memory store) and across two processes sharing Redis
 *      (the purge sent to one, the MISS looked for on the other, whose local
 *      tier holds a copy until the pub/sub event arrives);
 *   b. one tag of 100k entries purged end to end through POST /invalidate.
 */
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const ROUNDS = Number(process.env.BENCH_PURGE_ROUNDS ?? 200);
const BIG_TAG_ENTRIES = Number(process.env.BENCH_BIG_TAG ?? 100_000);
const TOKEN = 'bench-token-0123456789';

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Plain node:http on a kept-alive agent: a round trip costs what a client's would. */
function send(url: string, init: { method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        headers:
          init.body === undefined
            ? {}
            : { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', fail);
    req.end(init.body);
  });
}

async function waitHttp(url: string): Promise<void> {
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

async function startProcess(script: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(ROOT, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

async function startProxy(env: NodeJS.ProcessEnv): Promise<{ url: string; admin: string }> {
  const port = await freePort();
  const adminPort = await freePort();
  await startProcess('dist/src/main.js', {
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    INVALIDATE_TOKEN: TOKEN,
    ACCESS_LOG: 'off',
    ...env,
  });
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitHttp(`${admin}/health/live`);
  return { url: `http://127.0.0.1:${port}`, admin };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const ms = (n: number) => `${n.toFixed(2)} ms`;

/**
 * ROUNDS times: cache /p/i on `reader`, purge its tag on `writer`, then ask
 * `reader` back to back until it answers MISS. Returns the figures and how
 * many first requests after the 200 were still served from cache.
 */
async function purgeToMiss(writer: string, reader: { url: string }, label: string): Promise<string> {
  const waits: number[] = [];
  let stillCachedFirst = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const path = `${reader.url}/p/${label}-${i}`;
    await send(path);
    for (let tries = 0; (await send(path)).headers['x-cache'] !== 'HIT'; tries++) {
      if (tries > 200) throw new Error(`${path} never became a HIT`);
    }
    const purged = await send(`${writer}/invalidate`, {
      method: 'POST',
      body: JSON.stringify({ tags: [`item:${label}-${i}`] }),
    });
    if (purged.status !== 200) throw new Error(`purge answered ${purged.status}: ${purged.body}`);
    const t0 = performance.now();
    for (let tries = 0; ; tries++) {
      const cache = (await send(path)).headers['x-cache'];
      if (cache === 'MISS') break;
      if (tries === 0) stillCachedFirst++;
      if (tries > 10_000) throw new Error(`${path} still ${String(cache)} after the purge`);
    }
    waits.push(performance.now() - t0);
  }
  waits.sort((a, b) => a - b);
  return (
    `p50 ${ms(percentile(waits, 50))}, p99 ${ms(percentile(waits, 99))}, max ${ms(waits.at(-1) ?? Number.NaN)}` +
    ` over ${ROUNDS} purges; first request after the 200 still cached: ${stillCachedFirst}`
  );
}

function bigEntry(i: number, body: Buffer): StoredEntry {
  return {
    id: `big-${i}`,
    key: `big-${i}`,
    status: 200,
    headers: { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=600' },
    body,
    policy: '{"v":1}',
    tags: ['big', `big:${i}`],
    url: `http://bench.example/big/${i}`,
    route: 'bench',
    storedAt: Date.now(),
    softPurgedAt: 0,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tagcache-purge-bench-'));
  const routesFile = join(dir, 'routes.json');
  writeFileSync(
    routesFile,
    JSON.stringify({ routes: [{ name: 'p', pattern: '^/p/(?<id>[\\w-]+)$', tags: ['item:{id}'] }] }),
  );
  const originPort = await freePort();
  await startProcess('dist/bench/origin-server.js', { PORT: String(originPort) });
  const upstream = `http://127.0.0.1:${originPort}`;
  await waitHttp(`${upstream}/warm`);
  const base = { UPSTREAM_URL: upstream, ROUTES_FILE: routesFile };
  const out: string[] = [];
  const report = (line: string) => {
    out.push(line);
    process.stderr.write(`  ${line}\n`);
  };

  const single = await startProxy(base);
  report(`purge → MISS, one process (memory store): ${await purgeToMiss(single.admin, single, 'mem')}`);

  const redis = await startRedisServer();
  const shared = { ...base, REDIS_URL: redis.url, REDIS_PREFIX: 'bench:purge:' };
  const a = await startProxy(shared);
  const b = await startProxy(shared);
  report(`purge → MISS, one process (Redis + local tier): ${await purgeToMiss(a.admin, a, 'same')}`);
  report(`purge → MISS, sent to A, read on B (shared Redis): ${await purgeToMiss(a.admin, b, 'cross')}`);

  const store = createRedisStore({ url: redis.url, prefix: 'bench:purge:', commandTimeoutMs: 10_000 });
  const body = Buffer.alloc(256, 7);
  const fillStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 500 }, async () => {
      while (next < BIG_TAG_ENTRIES) await store.put(bigEntry(next++, body), 600_000);
    }),
  );
  report(
    `filled ${BIG_TAG_ENTRIES} entries tagged "big" in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`,
  );
  await store.close();
  const started = performance.now();
  const big = await send(`${a.admin}/invalidate`, {
    method: 'POST',
    body: JSON.stringify({ tags: ['big'] }),
  });
  const took = performance.now() - started;
  report(`POST /invalidate {"tags":["big"]}: ${big.status} in ${ms(took)}, answer ${big.body.trim()}`);

  await redis.stop();
  process.stdout.write(`\n${out.join('\n')}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `purge bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
