import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  freePort,
  hasRedisServerBinary,
  type RedisServerProcess,
  redisCommand,
  startRedisServer,
} from './redis-server.js';

/**
 * Redis Sentinel for the tests and the fleet bench: a master, a replica and a
 * sentinel, all redis-server processes on loopback.
 */
export interface RedisSentinelProcesses {
  /** The sentinels to configure (REDIS_SENTINELS); the first one listed is a dead address, to prove the rest are tried. */
  readonly sentinels: { host: string; port: number }[];
  /** The master name they monitor (REDIS_SENTINEL_NAME). */
  readonly name: string;
  /** Port of the master the sentinel names now. */
  masterPort(): Promise<number>;
  /** SIGKILL the current master; resolves once the sentinel names the promoted replica. */
  killMaster(): Promise<{ old: number; promoted: number }>;
  stop(): Promise<void>;
}

const SENTINEL_MASTER = 'tcmaster';

/**
 * A master, one replica and one sentinel (quorum 1), all redis-server
 * processes: Debian's redis-server runs as a sentinel with `--sentinel`. The
 * sentinel declares the master down after 1 s, so a failover takes about 2 s.
 */
export async function startRedisSentinel(): Promise<RedisSentinelProcesses> {
  if (!(await hasRedisServerBinary())) {
    throw new Error(
      'Redis Sentinel needs the redis-server binary (Debian/Ubuntu: apt-get install redis-server)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'tagcache-sentinel-'));
  const servers = new Map<number, RedisServerProcess>();
  let sentinel: RedisServerProcess | undefined;
  const stop = async () => {
    await Promise.all([...servers.values(), ...(sentinel ? [sentinel] : [])].map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  const ask = (args: string[]) => redisCommandArray(sentinelPort(), args);
  const sentinelPort = () => {
    if (sentinel === undefined) throw new Error('the sentinel is not running');
    return sentinel.port;
  };
  const masterPort = async () =>
    Number((await ask(['SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER]))[1]);
  try {
    const master = await startRedisServer({ dir: await mkdtemp(join(dir, 'm-')) });
    servers.set(master.port, master);
    const replica = await startRedisServer({
      dir: await mkdtemp(join(dir, 'r-')),
      extraArgs: ['--replicaof', '127.0.0.1', String(master.port)],
    });
    servers.set(replica.port, replica);
    await waitFor(`replica ${replica.port} in sync`, async () =>
      (await redisCommand(replica.port, ['INFO', 'replication'])).includes('master_link_status:up'),
    );
    const conf = join(dir, 'sentinel.conf');
    await writeFile(
      conf,
      [
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
        '',
      ].join('\n'),
    );
    sentinel = await startRedisServer({
      dir: await mkdtemp(join(dir, 's-')),
      configFile: conf,
      extraArgs: ['--sentinel'],
    });
    // The sentinel learns of the replica from the master's INFO; it cannot fail over before that.
    await waitFor('the sentinel to see the replica', async () => {
      const replicas = await ask(['SENTINEL', 'replicas', SENTINEL_MASTER]);
      return replicas.length > 0;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const deadSentinel = { host: '127.0.0.1', port: await freePort() };
  return {
    sentinels: [deadSentinel, { host: '127.0.0.1', port: sentinelPort() }],
    name: SENTINEL_MASTER,
    masterPort,
    async killMaster() {
      const old = await masterPort();
      const server = servers.get(old);
      if (server === undefined) throw new Error(`no server of ours on the master's port ${old}`);
      await server.kill();
      let promoted = old;
      await waitFor('the sentinel to promote the replica', async () => {
        promoted = await masterPort();
        if (promoted === old) return false;
        return (await redisCommand(promoted, ['INFO', 'replication'])).includes('role:master');
      });
      return { old, promoted };
    },
    stop,
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await delay(50);
  }
  throw new Error(`timed out waiting for ${what}`, { cause: last });
}

/** One command whose reply is an array (as the sentinel's are), through ioredis: flattened to strings. */
async function redisCommandArray(port: number, args: readonly string[]): Promise<string[]> {
  const { Redis } = await import('ioredis');
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    const [command, ...rest] = args;
    const reply = (await client.call(command as string, ...rest)) as unknown;
    return Array.isArray(reply)
      ? reply.map((item) => (Array.isArray(item) ? item.join(' ') : String(item)))
      : [];
  } finally {
    client.disconnect();
  }
}
