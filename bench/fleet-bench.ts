import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ProxyChild,
  send,
  spread,
  startOrigin,
  startProxy,
  steadyLoad,
  tagRoutes,
} from './support/fleet.js';
import { startRedisSentinel } from './support/redis-sentinel.js';
import { startRedisServer } from './support/redis-server.js';

/**
 * Fleet figures (`npm run bench:fleet`), through real tagcache processes:
 *   a. purge propagation: 4 instances sharing Redis under steady load, each
 *      purge sent to one; the time from its 200 to the first MISS on each of
 *      the other three (probed back to back, so the figure is an upper bound
 *      by one round trip);
 *   b. the same across a Sentinel failover (master SIGKILLed mid-run);
 *   c. fills per second of one instance: unique URLs, every request a miss
 *      that stores (wrk, 32 connections), memory store against Redis with and
 *      without fleet collapsing, and pass-through for scale.
 * On a 2-core machine the load, the four instances and Redis share the cores:
 * read the figures as an upper bound of what a quiet deployment sees.
 */
const ROUNDS = Number(process.env.BENCH_FLEET_ROUNDS ?? 100);
const FILL_SECONDS = Number(process.env.BENCH_FILL_SECONDS ?? 5);
const HOST = 'fleet.bench';
const HOT = Array.from({ length: 500 }, (_, i) => `/hot/${i}`);

const out: string[] = [];
const report = (line: string) => {
  out.push(line);
  process.stderr.write(`  ${line}\n`);
};

async function warm(proxies: readonly ProxyChild[], path: string): Promise<void> {
  for (const proxy of proxies) {
    for (
      let tries = 0;
      (await send(`${proxy.url}${path}`, { host: HOST })).headers['x-cache'] !== 'HIT';
      tries++
    ) {
      if (tries > 500) throw new Error(`${proxy.url}${path} never became a HIT`);
    }
  }
}

async function purge(on: ProxyChild, tag: string): Promise<number> {
  const answer = await send(`${on.admin}/invalidate`, {
    method: 'POST',
    body: JSON.stringify({ tags: [tag] }),
  });
  return answer.status;
}

/**
 * Probes `path` on `proxy` back to back with only-if-cached (a probe that
 * misses answers 504 and fetches nothing, so it cannot refill the entry the
 * other probes look for) until it misses. The figure is when the probe that
 * missed was sent: the purge had reached the instance by then, give or take
 * one probe's round trip. Also whether the first probe still hit.
 */
async function untilMiss(
  proxy: ProxyChild,
  path: string,
  t0: number,
): Promise<{ ms: number; firstHit: boolean }> {
  for (let tries = 0; ; tries++) {
    const sent = performance.now();
    const answer = await send(`${proxy.url}${path}`, {
      host: HOST,
      headers: { 'cache-control': 'only-if-cached' },
    });
    if (answer.status === 504) return { ms: sent - t0, firstHit: tries > 0 };
    if (tries > 20_000) {
      throw new Error(
        `${proxy.url}${path} still ${answer.status} (${String(answer.headers['cache-status'])}) long after the purge`,
      );
    }
  }
}

interface RoundFigures {
  readonly waits: number[];
  firstHits: number;
  refused: number;
}

/** One round: path cached on every instance, purged on the first, MISS looked for on the others. */
async function round(proxies: readonly ProxyChild[], label: string, figures: RoundFigures): Promise<void> {
  const [writer, ...readers] = proxies as [ProxyChild, ...ProxyChild[]];
  const path = `/p/${label}`;
  await warm(proxies, path);
  let status = await purge(writer, `item:${label}`);
  // During a failover purges answer 503 until the store is back: a publisher retries.
  while (status !== 200) {
    figures.refused++;
    await new Promise((r) => setTimeout(r, 50));
    status = await purge(writer, `item:${label}`);
  }
  const t0 = performance.now();
  const results = await Promise.all(readers.map((reader) => untilMiss(reader, path, t0)));
  for (const r of results) {
    figures.waits.push(r.ms);
    if (r.firstHit) figures.firstHits++;
  }
}

async function propagation(origin: string, routes: string): Promise<void> {
  process.stderr.write(`a. purge propagation, 4 instances on one Redis, ${ROUNDS} purges\n`);
  const redis = await startRedisServer();
  const env = {
    UPSTREAM_URL: origin,
    ROUTES_FILE: routes,
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'bench:fleet:',
  };
  const proxies = await Promise.all(Array.from({ length: 4 }, () => startProxy(env)));
  const load = steadyLoad(proxies, HOT, 8);
  const figures: RoundFigures = { waits: [], firstHits: 0, refused: 0 };
  for (let i = 0; i < ROUNDS; i++) await round(proxies, `a-${i}`, figures);
  const { requests, failures } = await load.stop();
  report(
    `purge 200 → MISS on each other instance (steady load, ${requests} requests, ${failures.length} failed): ` +
      `${spread(figures.waits)}; first request after the 200 still a HIT: ${figures.firstHits} of ${figures.waits.length}`,
  );
  for (const p of proxies) p.child.kill('SIGTERM');
  await redis.stop();
}

async function acrossFailover(origin: string, routes: string): Promise<void> {
  process.stderr.write(`b. purge propagation across a Sentinel failover, ${ROUNDS} purges\n`);
  const sentinel = await startRedisSentinel();
  const env = {
    UPSTREAM_URL: origin,
    ROUTES_FILE: routes,
    REDIS_SENTINELS: sentinel.sentinels.map(({ host, port }) => `${host}:${port}`).join(','),
    REDIS_SENTINEL_NAME: sentinel.name,
    REDIS_PREFIX: 'bench:fleet:',
  };
  const proxies = await Promise.all(Array.from({ length: 4 }, () => startProxy(env)));
  const load = steadyLoad(proxies, HOT, 8);
  const before: RoundFigures = { waits: [], firstHits: 0, refused: 0 };
  const after: RoundFigures = { waits: [], firstHits: 0, refused: 0 };
  const quarter = Math.max(1, Math.floor(ROUNDS / 4));
  for (let i = 0; i < quarter; i++) await round(proxies, `b-${i}`, before);
  const killedAt = performance.now();
  const failover = sentinel
    .killMaster()
    .then((ports) => ({ ...ports, promotedMs: performance.now() - killedAt }));
  for (let i = quarter; i < ROUNDS; i++) await round(proxies, `b-${i}`, after);
  const { promotedMs } = await failover;
  const { requests, failures } = await load.stop();
  report(`Sentinel named the promoted replica ${Math.round(promotedMs)} ms after the kill`);
  report(`before the failover: ${spread(before.waits)}`);
  report(
    `from the kill on (purges retried while refused: ${after.refused} × 503): ${spread(after.waits)}; ` +
      `first request after the 200 still a HIT: ${after.firstHits} of ${after.waits.length}`,
  );
  report(
    `client requests during the run: ${requests}, failed ${failures.length}${failures.length ? ` (${failures.slice(0, 3).join('; ')})` : ''}`,
  );
  for (const p of proxies) p.child.kill('SIGTERM');
  await sentinel.stop();
}

function wrk(url: string, seconds: number, script?: string): number {
  const args = ['-t1', '-c32', `-d${seconds}s`, ...(script ? ['-s', script] : []), url];
  const text = execFileSync('wrk', args, { encoding: 'utf8' });
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? Number.NaN);
}

async function fills(origin: string, routes: string): Promise<void> {
  process.stderr.write(`c. fills per second of one instance (wrk -c32, ${FILL_SECONDS} s, unique URLs)\n`);
  const dir = mkdtempSync(join(tmpdir(), 'tagcache-fill-'));
  const unique = (prefix: string) => {
    const file = join(dir, `${prefix.replaceAll('/', '')}.lua`);
    writeFileSync(
      file,
      `local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, "${prefix}" .. n)\nend\n`,
    );
    return file;
  };
  const redis = await startRedisServer();
  const cases: [string, NodeJS.ProcessEnv, string][] = [
    ['memory store', {}, '/f/'],
    ['Redis, fleet collapsing (default)', { REDIS_URL: redis.url, REDIS_PREFIX: 'bench:fill:a:' }, '/f/'],
    [
      'Redis, no collapsing (COLLAPSE_TIMEOUT_MS=0)',
      { REDIS_URL: redis.url, REDIS_PREFIX: 'bench:fill:b:', COLLAPSE_TIMEOUT_MS: '0' },
      '/f/',
    ],
    ['pass-through (no-store answers)', {}, '/nostore/'],
  ];
  for (const [name, extra, prefix] of cases) {
    const proxy = await startProxy({ UPSTREAM_URL: origin, ROUTES_FILE: routes, ...extra });
    wrk(`${proxy.url}/`, 1, unique(`/w${prefix}`));
    const rate = wrk(`${proxy.url}/`, FILL_SECONDS, unique(prefix));
    report(`fills/s, ${name}: ${Math.round(rate).toLocaleString('en-US')}`);
    proxy.child.kill('SIGTERM');
  }
  await redis.stop();
}

const started = performance.now();
const origin = await startOrigin();
const routes = tagRoutes();
const only = process.env.BENCH_FLEET_ONLY;
if (only === undefined || only.includes('a')) await propagation(origin, routes);
if (only === undefined || only.includes('b')) await acrossFailover(origin, routes);
if (only === undefined || only.includes('c')) await fills(origin, routes);
process.stdout.write(
  `\ntagcache fleet bench (node ${process.version}, ${Math.round((performance.now() - started) / 1000)} s)\n${out.join('\n')}\n`,
);
process.exit(0);
