import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  hasRedisServerBinary,
  isPortFree,
  type RedisServerProcess,
  redisCommand,
  startRedisServer,
} from './redis-server.js';

export interface RedisClusterProcesses {
  readonly nodes: { host: string; port: number }[];
  stop(): Promise<void>;
  /** SIGKILL one master (by index in nodes), as if it crashed. */
  kill(node: number): Promise<void>;
  /** Start a killed master again, same port and cluster config: it takes its slots back. */
  restart(node: number): Promise<void>;
}

const run = promisify(execFile);

/** Three masters from the redis-server binary, slots spread by redis-cli, ready when every node says so. */
export async function startRedisCluster(): Promise<RedisClusterProcesses> {
  if (!(await hasRedisServerBinary())) {
    throw new Error(
      'a Redis Cluster needs the redis-server binary (Debian/Ubuntu: apt-get install redis-server)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'tagcache-cluster-'));
  const servers: RedisServerProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await clusterPort();
      const extraArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`)];
      servers.push(
        await startRedisServer({ port, dir, extraArgs: [...extraArgs, '--cluster-node-timeout', '5000'] }),
      );
    }
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    await Promise.all(servers.map((server) => waitForClusterOk(server.port)));
  } catch (err) {
    await stop();
    throw err;
  }
  const server = (node: number) => {
    const found = servers[node];
    if (found === undefined) throw new Error(`no cluster node ${node}; there are ${servers.length}`);
    return found;
  };
  return {
    nodes: servers.map(({ port }) => ({ host: '127.0.0.1', port })),
    stop,
    kill: (node) => server(node).kill(),
    async restart(node) {
      await server(node).restart();
      await Promise.all(servers.map(({ port }) => waitForClusterOk(port)));
    },
  };
}

/** The cluster bus listens on port + 10000, so both must be free (and below 65536). */
async function clusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if ((await isPortFree(port)) && (await isPortFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair (port, port + 10000) for a Redis Cluster node');
}

async function waitForClusterOk(port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      last = await redisCommand(port, ['CLUSTER', 'INFO']);
      if (last.includes('cluster_state:ok')) return;
    } catch (err) {
      last = String(err); // a node still starting: ask again
    }
    await delay(100);
  }
  throw new Error(`Redis Cluster node ${port} is not ready:\n${last}`);
}
