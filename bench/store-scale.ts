import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { Cluster, Redis } from 'ioredis';
import { createRedisKeys } from '../src/modules/store/redis-keys.js';
import { keySlot } from '../src/modules/store/redis-slots.js';
import { createRedisStore } from '../src/modules/store/redis-store.js';
import type { StoredEntry } from '../src/modules/store/types.js';
import {
  type ProxyChild,
  rssBytes,
  send,
  spread,
  startOrigin,
  startProxy,
  steadyLoad,
  tagRoutes,
} from './support/fleet.js';
import type { PingFigures } from './support/pinger.js';
import { startRedisCluster } from './support/redis-cluster.js';
import { startRedisServer } from './support/redis-server.js';

/**
 * Sizing at scale (phase d of `npm run bench:store`, or alone with
 * `node dist/bench/store-scale.js`): SCALE_ENTRIES entries over SCALE_TAGS
 * tags, the first BIG of them also tagged "big", on a single Redis and on a
 * three-master Cluster:
 *   - Redis memory per entry and per tag membership (INFO used_memory, and
 *     MEMORY USAGE of every tag index);
 *   - purging the big tag through POST /invalidate while 4 tagcache
 *     instances serve steady traffic: end-to-end time, the worst PING another
 *     client saw, the longest command in SLOWLOG, the instances' RSS, and
 *     the clients' latency before and during.
 */
const ENTRIES = Number(process.env.BENCH_SCALE_ENTRIES ?? 1_000_000);
const TAGS = Number(process.env.BENCH_SCALE_TAGS ?? 10_000);
const BIG = Number(process.env.BENCH_SCALE_BIG ?? 100_000);
const BODY_BYTES = Number(process.env.BENCH_SCALE_BODY ?? 512);
const IN_FLIGHT = 1_000;
const PREFIX = 'scale:';

export type Record = (figure: string, value: string, note?: string) => void;

function entry(i: number, body: Buffer): StoredEntry {
  const id = `https://scale.example/e/${i}`;
  return {
    id,
    key: id,
    status: 200,
    headers: { 'content-type': 'text/html', 'cache-control': 'max-age=3600', etag: `"${i}"` },
    body,
    policy: '{"v":1}',
    tags: i < BIG ? [`t:${i % TAGS}`, 'big'] : [`t:${i % TAGS}`],
    url: id,
    route: 'bench',
    storedAt: Date.now(),
    softPurgedAt: 0,
  };
}

interface Target {
  readonly name: string;
  readonly env: NodeJS.ProcessEnv;
  readonly masters: Redis[];
  readonly store: ReturnType<typeof createRedisStore>;
  /** Runs one command where its key lives. */
  call(key: string, ...args: string[]): Promise<unknown>;
  close(): Promise<void>;
}

async function pinger(url: string) {
  const worker = new Worker(new URL('./support/pinger.js', import.meta.url), { workerData: { url } });
  const [ready] = await once(worker, 'message');
  if (ready !== 'ready') throw new Error(`pinger: unexpected first message ${String(ready)}`);
  return async (): Promise<PingFigures> => {
    const figures = once(worker, 'message');
    worker.postMessage('stop');
    const [result] = await figures;
    await worker.terminate();
    return result as PingFigures;
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n < 10 ? `${n.toFixed(2)} ms` : `${fmt(n)} ms`);
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

async function usedMemory(masters: readonly Redis[]): Promise<number> {
  const infos = await Promise.all(masters.map((m) => m.info('memory')));
  return infos.reduce((sum, info) => sum + Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0), 0);
}

async function measure(target: Target, record: Record): Promise<void> {
  const { name, masters, store } = target;
  process.stderr.write(
    `d. ${name}: ${fmt(ENTRIES)} entries over ${fmt(TAGS)} tags, ${fmt(BIG)} also tagged "big"\n`,
  );
  await Promise.all(masters.map((m) => m.flushall()));
  const before = await usedMemory(masters);
  const body = Buffer.alloc(BODY_BYTES, 'x');
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < ENTRIES) await store.put(entry(next++, body), 3_600_000);
    }),
  );
  const fillMs = performance.now() - started;
  record(`${name}: puts/s while filling`, fmt(ENTRIES / (fillMs / 1000)), `${fmt(fillMs / 1000)} s`);
  const after = await usedMemory(masters);
  const keys = createRedisKeys(PREFIX);
  let indexBytes = 0;
  const indexes = [
    ...Array.from({ length: TAGS }, (_, i) => keys.tag(`t:${i}`).index),
    keys.tag('big').index,
  ];
  for (let i = 0; i < indexes.length; i += 500) {
    const sizes = await Promise.all(
      indexes.slice(i, i + 500).map((key) => target.call(key, 'MEMORY', 'USAGE', key, 'SAMPLES', '0')),
    );
    indexBytes += sizes.reduce<number>((sum, n) => sum + Number(n ?? 0), 0);
  }
  const memberships = ENTRIES + BIG;
  const sample = keys.entry(entry(7, body).id);
  const entryUsage = Number(await target.call(sample, 'MEMORY', 'USAGE', sample, 'SAMPLES', '0'));
  record(
    `${name}: Redis memory`,
    `${mib(after - before)} for ${fmt(ENTRIES)} entries`,
    `${BODY_BYTES} B bodies; used_memory summed over masters`,
  );
  record(
    `${name}: per entry (all but the indexes)`,
    `${fmt((after - before - indexBytes) / ENTRIES)} B`,
    `MEMORY USAGE of one entry hash: ${fmt(entryUsage)} B; body ${BODY_BYTES} B`,
  );
  record(
    `${name}: per tag membership`,
    `${fmt(indexBytes / memberships)} B`,
    `${mib(indexBytes)} of tag indexes for ${fmt(memberships)} memberships`,
  );

  const origin = await startOrigin();
  const routes = tagRoutes();
  const proxies: ProxyChild[] = await Promise.all(
    Array.from({ length: 4 }, () =>
      startProxy({ ...target.env, UPSTREAM_URL: origin, ROUTES_FILE: routes, REDIS_PREFIX: PREFIX }),
    ),
  );
  const hot = Array.from({ length: 200 }, (_, i) => `/p/hot-${i}`);
  const load = steadyLoad(proxies, hot, 8);
  // The first seconds fill the hot set; the "before" figures are the steady state after them.
  await new Promise((r) => setTimeout(r, 2_000));
  load.take();
  await new Promise((r) => setTimeout(r, 2_000));
  const rssBefore = proxies.map((p) => rssBytes(p.child.pid));
  const quiet = load.take();
  for (const m of masters) {
    await m.config('SET', 'slowlog-log-slower-than', '1000');
    await m.config('SET', 'slowlog-max-len', '10000');
    await m.slowlog('RESET');
  }
  const stopPing = await pinger(`redis://127.0.0.1:${masters[0]?.options.port}`);
  let rssPeak = [...rssBefore];
  const sampler = setInterval(() => {
    rssPeak = proxies.map((p, i) => Math.max(rssPeak[i] ?? 0, rssBytes(p.child.pid)));
  }, 50);
  const t = performance.now();
  const purged = await send(`${proxies[0]?.admin}/invalidate`, {
    method: 'POST',
    body: JSON.stringify({ tags: ['big'] }),
  });
  const purgeMs = performance.now() - t;
  clearInterval(sampler);
  const pings = await stopPing();
  const during = load.take();
  const { failures } = await load.stop();
  const slow = (await Promise.all(masters.map((m) => m.slowlog('GET', '10000')))) as [
    number,
    number,
    number,
  ][][];
  const longestUs = Math.max(0, ...slow.flat().map((item) => item[2]));
  record(
    `${name}: purge of the big tag, POST /invalidate`,
    ms(purgeMs),
    `${purged.status} ${purged.body.trim()}; ${fmt(BIG / (purgeMs / 1000))} entries/s`,
  );
  record(
    `${name}: worst PING during the purge`,
    ms(pings.worstMs),
    `p99 ${ms(pings.p99Ms)}, ${fmt(pings.pings)} pings`,
  );
  record(
    `${name}: longest Redis command during the purge`,
    slow.flat().length === 0 ? '< 1 ms' : ms(longestUs / 1000),
    `${slow.flat().length} commands of 1 ms or more (SLOWLOG, all masters)`,
  );
  record(`${name}: client latency before the purge`, spread(quiet));
  record(`${name}: client latency during the purge`, spread(during), `${failures.length} failed`);
  record(
    `${name}: instance RSS before → peak during`,
    rssBefore.map((b, i) => `${mib(b)} → ${mib(rssPeak[i] ?? Number.NaN)}`).join(', '),
  );
  for (const p of proxies) p.child.kill('SIGTERM');
  await store.close();
}

export async function benchScale(record: Record): Promise<void> {
  const single = await startRedisServer();
  try {
    const master = new Redis(single.url);
    await measure(
      {
        name: 'single Redis',
        env: { REDIS_URL: single.url },
        masters: [master],
        store: createRedisStore({ url: single.url, prefix: PREFIX, commandTimeoutMs: 30_000 }),
        call: (_key, command, ...args) => master.call(command as string, ...args),
        close: async () => master.disconnect(),
      },
      record,
    );
    master.disconnect();
  } finally {
    await single.stop();
  }
  const cluster = await startRedisCluster();
  try {
    const client = new Cluster(cluster.nodes);
    await client.ping();
    const masters = cluster.nodes.map(({ port }) => new Redis(port, '127.0.0.1'));
    await measure(
      {
        name: 'Redis Cluster (3 masters)',
        env: { REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',') },
        masters,
        store: createRedisStore({ clusterNodes: cluster.nodes, prefix: PREFIX, commandTimeoutMs: 30_000 }),
        // MEMORY USAGE's key is its second argument: ioredis routes it by the first, so route it by hand.
        call: async (key, command, ...args) => {
          const owner = client.slots[keySlot(key)]?.[0];
          const node = masters.find((m) => `${m.options.host}:${m.options.port}` === owner) ?? masters[0];
          return node?.call(command as string, ...args);
        },
        close: async () => undefined,
      },
      record,
    );
    client.disconnect();
    for (const m of masters) m.disconnect();
  } finally {
    await cluster.stop();
  }
}

const entryScript = process.argv[1] ?? '';
if (entryScript.endsWith('/store-scale.js')) {
  const rows: string[] = [];
  await benchScale((figure, value, note) => {
    const line = `${figure}: ${value}${note ? ` (${note})` : ''}`;
    rows.push(line);
    process.stderr.write(`  ${line}\n`);
  });
  process.stdout.write(`\ntagcache store scale bench (node ${process.version})\n${rows.join('\n')}\n`);
  process.exit(0);
}
