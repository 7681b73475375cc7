import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isPortFree,
  type RedisServerProcess,
  redisCommand,
  startRedisServer,
} from '../../bench/support/redis-server.js';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { readCompose, serviceEnv } from './files.js';
import { run } from './tools.js';

/**
 * The cluster profile without Docker: three cluster-enabled redis-server
 * processes stand in for redis-node-1..3, the compose init script joins them,
 * and tagcache runs on them with the tagcache-cluster service's environment.
 */

const SCRIPT = 'docker/redis-cluster/create-cluster.sh';

describe('docker/redis-cluster/create-cluster.sh', () => {
  let dir: string;
  const nodes: RedisServerProcess[] = [];
  let origin: Origin;
  let proxy: RunningProxy | undefined;
  const addresses = () => nodes.map((n) => `127.0.0.1:${n.port}`);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tagcache-cluster-init-'));
    for (let i = 0; i < 3; i++) {
      const port = await clusterPort();
      nodes.push(
        await startRedisServer({
          port,
          dir,
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`)],
        }),
      );
    }
    origin = await startOrigin();
    origin.on('/p', respond(200, { 'cache-control': 's-maxage=60', 'surrogate-key': 'p' }));
  });
  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  it('joins three empty nodes into a cluster that serves every slot', async () => {
    const created = await run('sh', [SCRIPT, ...addresses()]);
    expect(created.code, created.stdout + created.stderr).toBe(0);
    expect(created.stdout).toContain('redis-cluster-init: cluster ok');
    for (const node of nodes) {
      const info = await redisCommand(node.port, ['CLUSTER', 'INFO']);
      expect(info).toContain('cluster_state:ok');
      expect(info).toContain('cluster_known_nodes:3');
    }
  });

  it('does nothing, successfully, when the cluster already exists (compose up again)', async () => {
    const again = await run('sh', [SCRIPT, ...addresses()]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to do');
  });

  it('refuses to run without three nodes', async () => {
    const bad = await run('sh', [SCRIPT, addresses()[0] ?? '']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: create-cluster.sh');
  });

  it('gives tagcache a working store with the tagcache-cluster environment', async () => {
    const service = readCompose().services['tagcache-cluster'];
    if (service === undefined) throw new Error('no tagcache-cluster service in docker-compose.yml');
    proxy = await startProxy({
      ...serviceEnv(service),
      UPSTREAM_URL: origin.url,
      REDIS_CLUSTER_NODES: addresses().join(','),
      LOG_LEVEL: 'warn',
    });
    expect((await fetchRaw(`${proxy.url}/p`)).headers['x-cache']).toBe('MISS');
    // The entry is written to Redis after the client's answer.
    await expect.poll(async () => (await fetchRaw(`${proxy?.url}/p`)).headers['x-cache']).toBe('HIT');
    expect(origin.count('/p')).toBe(1);
  });
});

/** A cluster node also listens on port + 10000 (the bus): both must be free. */
async function clusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if ((await isPortFree(port)) && (await isPortFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair (port, port + 10000) for a Redis Cluster node');
}
