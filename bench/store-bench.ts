import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { createMemoryStore, createRedisKeys, type Store } from '../src/modules/store/index.js';
import { createRedisStore } from '../src/modules/store/redis-store.js';
import type { StoredEntry } from '../src/modules/store/types.js';
import { benchScale } from './store-scale.js';
import type { PingFigures } from './support/pinger.js';
import { type RedisServerProcess, startRedisServer } from './support/redis-server.js';

/**
 * The store's figures (`npm run build && node dist/bench/store-bench.js`):
 *   a. invalidating one tag of 100k entries on a local Redis, and the worst
 *      PING latency another client saw meanwhile (against its worst when idle),
 *      the longest command (SLOWLOG) and the CPU Redis spent on it;
 *   b. Redis memory held by tag indexes after 1M short-lived entries across
 *      100 tags have come and gone;
 *   c. memory store get/put of 1 KiB bodies, against a bare Map;
 *   d. 1M entries over 10k tags on a single Redis and a three-master Cluster,
 *      with a 100k-entry tag purged while 4 instances serve (store-scale.ts).
 * Starts its own redis-servers on free ports; a–c about two minutes, d about five more.
 */
const BIG_TAG_ENTRIES = Number(process.env.BENCH_BIG_TAG ?? 100_000);
const CHURN_ENTRIES = Number(process.env.BENCH_CHURN ?? 1_000_000);
const CHURN_TAGS = 100;
const IN_FLIGHT = 1_000;

interface Row {
  readonly figure: string;
  readonly value: string;
  readonly note?: string;
}

const rows: Row[] = [];
const record = (figure: string, value: string, note?: string) => {
  rows.push({ figure, value, note });
  process.stderr.write(`  ${figure}: ${value}${note ? ` (${note})` : ''}\n`);
};

function entry(id: string, tags: string[], body: Buffer): StoredEntry {
  return {
    id,
    key: id,
    status: 200,
    headers: { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=60' },
    body,
    policy: '{"v":1}',
    tags,
    url: `https://bench.example/${id}`,
    route: 'bench',
    storedAt: Date.now(),
    softPurgedAt: 0,
  };
}

/** put() calls with at most IN_FLIGHT awaiting Redis at once. */
async function putMany(
  store: Store,
  count: number,
  make: (i: number) => [StoredEntry, number],
): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const [item, ttlMs] = make(next++);
      await store.put(item, ttlMs);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return performance.now() - started;
}

/** A second client, in a worker thread, pinging back to back: the latency any other client would see. */
async function startPinger(url: string) {
  const worker = new Worker(new URL('./support/pinger.js', import.meta.url), { workerData: { url } });
  const [ready] = await once(worker, 'message');
  if (ready !== 'ready') throw new Error(`pinger: unexpected first message ${String(ready)}`);
  return {
    async stop(): Promise<PingFigures> {
      const figures = once(worker, 'message');
      worker.postMessage('stop');
      const [result] = await figures;
      await worker.terminate();
      return result as PingFigures;
    },
  };
}

/** Redis's CPU time so far (user + system, main thread and all), in seconds. */
async function cpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function benchBigTag(server: RedisServerProcess): Promise<void> {
  process.stderr.write(`a. one tag of ${BIG_TAG_ENTRIES} entries\n`);
  // BENCH_PURGE_BATCH and BENCH_PURGE_IN_FLIGHT try other purge batch sizes and windows.
  const store = createRedisStore({
    url: server.url,
    prefix: 'bench:a:',
    commandTimeoutMs: 10_000,
    batchSize: optionalNumber(process.env.BENCH_PURGE_BATCH),
    purgeInFlight: optionalNumber(process.env.BENCH_PURGE_IN_FLIGHT),
  });
  await store.ping();
  const body = Buffer.alloc(256, 7);
  const putMs = await putMany(store, BIG_TAG_ENTRIES, (i) => [
    entry(`big-${i}`, ['big', `item:${i}`], body),
    600_000,
  ]);
  record('puts/s (2 tags, 256 B body)', fmt(BIG_TAG_ENTRIES / (putMs / 1000)));

  const idle = await startPinger(server.url);
  await delay(1_000);
  const baseline = await idle.stop();
  record(
    'worst PING, idle 1 s',
    ms(baseline.worstMs),
    `p99 ${ms(baseline.p99Ms)}, ${fmt(baseline.pings)} pings`,
  );

  const admin = new Redis(server.url);
  // Redis's own account of blocking: every command that ran 1 ms or longer.
  await admin.config('SET', 'slowlog-log-slower-than', '1000');
  await admin.config('SET', 'slowlog-max-len', '10000');
  for (const mode of ['soft', 'hard'] as const) {
    await admin.slowlog('RESET');
    const pinger = await startPinger(server.url);
    const redisCpu = await cpuSeconds(admin);
    const ownCpu = process.cpuUsage();
    const t = performance.now();
    const { entries } = await store.invalidate({ kind: 'tags', tags: ['big'] }, mode);
    const took = performance.now() - t;
    const clientCpu = process.cpuUsage(ownCpu);
    const serverCpu = (await cpuSeconds(admin)) - redisCpu;
    const seen = await pinger.stop();
    record(
      `${mode} invalidation of the tag`,
      ms(took),
      `${fmt(entries)} entries, ${fmt(entries / (took / 1000))}/s`,
    );
    // CPU rather than wall time: what the purge costs, however loaded the machine is.
    record(
      `CPU of the ${mode} invalidation: Redis / this process`,
      `${ms(serverCpu * 1000)} / ${ms((clientCpu.user + clientCpu.system) / 1000)}`,
      'INFO used_cpu_* (the pings count in), process.cpuUsage() (so does the pinger thread)',
    );
    record(
      `worst PING during ${mode} invalidation`,
      ms(seen.worstMs),
      `${(seen.worstMs / baseline.worstMs).toFixed(1)}x idle worst; p99 ${ms(seen.p99Ms)}, ${fmt(seen.pings)} pings`,
    );
    const slow = (await admin.slowlog('GET', '10000')) as [number, number, number, string[]][];
    const longest = slow.reduce<(typeof slow)[number] | undefined>(
      (worst, item) => (worst === undefined || item[2] > worst[2] ? item : worst),
      undefined,
    );
    record(
      `longest Redis command during ${mode} invalidation`,
      longest === undefined ? '< 1 ms' : ms(longest[2] / 1000),
      `${longest?.[3]?.[0] ?? '-'}; ${slow.length} commands took 1 ms or more (SLOWLOG)`,
    );
  }
  admin.disconnect();
  await store.close();
}

async function benchChurn(server: RedisServerProcess): Promise<void> {
  process.stderr.write(`b. ${CHURN_ENTRIES} short-lived entries across ${CHURN_TAGS} tags\n`);
  const prefix = 'bench:b:';
  const admin = new Redis(server.url);
  const keys = createRedisKeys(prefix);
  const tagIndexes = Array.from({ length: CHURN_TAGS }, (_, i) => keys.tag(`tag-${i}`).index);
  const usedMemory = async () =>
    Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1] ?? Number.NaN);
  const indexStats = async () => {
    let members = 0;
    let bytes = 0;
    for (const key of tagIndexes) {
      members += await admin.zcard(key);
      bytes += Number((await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
    }
    return { members, bytes };
  };
  await admin.flushall(); // our own server: phase a's leftovers must not count
  const before = await usedMemory();
  const store = createRedisStore({ url: server.url, prefix, commandTimeoutMs: 10_000 });
  await store.ping();
  const body = Buffer.alloc(32, 1);
  let largest = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      largest = Math.max(largest, (await indexStats()).members);
      await delay(1_000);
    }
  })();
  const took = await putMany(store, CHURN_ENTRIES, (i) => [
    entry(`churn-${i}`, [`tag-${i % CHURN_TAGS}`], body),
    2_000 + Math.floor(Math.random() * 3_000),
  ]);
  sampling = false;
  await sampler;
  const peak = await usedMemory();
  record('puts/s (1 tag, 32 B body, ttl 2-5 s)', fmt(CHURN_ENTRIES / (took / 1000)), `${fmt(took / 1000)} s`);
  record('largest sum of tag ZCARDs while writing', fmt(largest), `of ${fmt(CHURN_ENTRIES)} written`);
  // Every entry is useless 5 s after its write, every index member 1 s (grace) later.
  await delay(6_500);
  await putMany(store, CHURN_TAGS * 5, (i) => [entry(`late-${i}`, [`tag-${i % CHURN_TAGS}`], body), 60_000]);
  const unreclaimed = await admin.dbsize();
  const swept = performance.now();
  // Redis frees expired keys lazily on access and in a background cycle; one SCAN over the keyspace
  // touches every key, so what remains is what is alive.
  let cursor = '0';
  do {
    [cursor] = await admin.scan(cursor, 'COUNT', 10_000);
  } while (cursor !== '0');
  const after = await indexStats();
  const usedAfter = await usedMemory();
  record(
    'tag indexes after churn (100 tags)',
    `${fmt(after.bytes)} B`,
    `MEMORY USAGE summed; ${after.members} live members`,
  );
  record('INFO used_memory before / peak / after', `${mb(before)} / ${mb(peak)} / ${mb(usedAfter)} MB`);
  record(
    'DBSIZE after churn',
    fmt(await admin.dbsize()),
    `${fmt(unreclaimed)} before a SCAN swept expired keys (${ms(performance.now() - swept)})`,
  );
  await store.close();
  admin.disconnect();
}

function benchMemoryStore(): Promise<void> {
  process.stderr.write('c. memory store, 1 KiB bodies\n');
  const count = 100_000;
  const gets = 2_000_000;
  const body = Buffer.alloc(1024, 3);
  const items = Array.from({ length: count }, (_, i) =>
    entry(`https://bench.example/p/${i}`, [`p:${i}`, 'all'], body),
  );
  const ids = items.map((item) => item.id);
  const order = Array.from({ length: gets }, () => Math.floor(Math.random() * count));

  const map = new Map<string, StoredEntry>();
  let t = performance.now();
  for (const item of items) map.set(item.id, item);
  const mapPutMs = performance.now() - t;
  t = performance.now();
  let found = 0;
  for (const i of order) if (map.get(ids[i] ?? '') !== undefined) found++;
  const mapGetMs = performance.now() - t;

  return (async () => {
    const store = createMemoryStore({ maxBytes: 1024 * 1024 * 1024 });
    t = performance.now();
    for (const item of items) await store.put(item, 600_000);
    const putMs = performance.now() - t;
    t = performance.now();
    for (const i of order) if (store.get(ids[i] ?? '') !== undefined) found++;
    const getMs = performance.now() - t;
    if (found !== gets * 2) throw new Error(`memory store bench: ${gets * 2 - found} misses`);
    record('memory store put/s', fmt(count / (putMs / 1000)), `Map.set ${fmt(count / (mapPutMs / 1000))}/s`);
    record('memory store get/s', fmt(gets / (getMs / 1000)), `Map.get ${fmt(gets / (mapGetMs / 1000))}/s`);
    record('memory store get, ratio to Map.get', `${(getMs / mapGetMs).toFixed(1)}x the time`);
    await store.close();
  })();
}

function optionalNumber(text: string | undefined): number | undefined {
  return text === undefined || text === '' ? undefined : Number(text);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(2)} ms` : `${fmt(value)} ms`;
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function printTable(): void {
  const width = Math.max(...rows.map((row) => row.figure.length));
  const valueWidth = Math.max(...rows.map((row) => row.value.length));
  const lines = rows.map(
    (row) => `${row.figure.padEnd(width)}  ${row.value.padStart(valueWidth)}  ${row.note ?? ''}`,
  );
  process.stdout.write(`\ntagcache store bench (node ${process.version})\n${lines.join('\n')}\n`);
}

const server = await startRedisServer();
try {
  const started = performance.now();
  await benchBigTag(server);
  await benchChurn(server);
  await benchMemoryStore();
  // d. sizing at scale, single Redis and Cluster (store-scale.ts); BENCH_SCALE=0 skips it.
  if (process.env.BENCH_SCALE !== '0') await benchScale(record);
  record('bench wall time', `${fmt((performance.now() - started) / 1000)} s`);
  printTable();
} finally {
  await server.stop();
}
