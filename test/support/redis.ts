import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import {
  hasRedisServerBinary,
  type RedisServerProcess,
  startRedisServer,
} from '../../bench/support/redis-server.js';

/**
 * Finding a real Redis for tests, in this order: REDIS_URL when set (shared:
 * tests only write under a random prefix and never flush), a redis:7
 * container when a Docker engine answers, a redis-server binary on a free
 * loopback port. The machine's own Redis on 6379 is never used unless
 * REDIS_URL names it.
 */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly source: 'REDIS_URL' | 'testcontainers' | 'redis-server';
  /** True when kill() and restart() work: the server is a process these helpers started. */
  readonly canKill: boolean;
  stop(): Promise<void>;
  /** SIGKILL the server, as if it crashed mid-traffic. */
  kill(): Promise<void>;
  /** Start it again on the same port. */
  restart(): Promise<void>;
}

export interface TestRedisCluster {
  readonly nodes: { host: string; port: number }[];
  stop(): Promise<void>;
  /** SIGKILL one master (by index in nodes), as if it crashed. */
  kill(node: number): Promise<void>;
  /** Start a killed master again, same port and cluster config: it takes its slots back. */
  restart(node: number): Promise<void>;
}

const HOW_TO_GET_REDIS =
  'no Redis for the store tests: install redis-server (Debian/Ubuntu: sudo apt-get install redis-server), ' +
  'start a Docker engine (testcontainers runs redis:7), or set REDIS_URL=redis://host:port ' +
  '(tests write under a random key prefix there and never flush it)';

/** A key prefix no other run shares: tests may meet a Redis that other runs use too. */
export function uniquePrefix(label = 'test'): string {
  return `tctest:${label}:${randomBytes(6).toString('hex')}:`;
}

/** `own: true` skips REDIS_URL and containers: tests that kill Redis need a process of their own. */
export async function startRedis(options: { own?: boolean } = {}): Promise<TestRedis> {
  const fromEnv = process.env.REDIS_URL;
  if (!options.own && fromEnv !== undefined && fromEnv !== '') return external(fromEnv);
  if (!options.own && (await dockerAnswers())) return container();
  if (await hasRedisServerBinary()) return binary(await startRedisServer());
  throw new Error(HOW_TO_GET_REDIS);
}

function external(url: string): TestRedis {
  const notOurs = async () => {
    throw new Error(`REDIS_URL (${url}) is not a server these tests started; they cannot kill or restart it`);
  };
  return {
    url,
    port: Number(new URL(url).port || 6379),
    source: 'REDIS_URL',
    canKill: false,
    stop: async () => {},
    kill: notOurs,
    restart: notOurs,
  };
}

async function dockerAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      delay(5_000).then(() => Promise.reject(new Error('Docker did not answer within 5 s'))),
    ]);
    return true;
  } catch (err) {
    process.stderr.write(`store tests: Docker is not usable (${String(err)}); trying redis-server\n`);
    return false;
  }
}

async function container(): Promise<TestRedis> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const started = await new GenericContainer('redis:7')
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  const port = started.getMappedPort(6379);
  const notAProcess = async () => {
    throw new Error('Redis runs in a container here; kill() and restart() need startRedis({ own: true })');
  };
  return {
    url: `redis://${started.getHost()}:${port}`,
    port,
    source: 'testcontainers',
    canKill: false,
    stop: async () => {
      await started.stop();
    },
    kill: notAProcess,
    restart: notAProcess,
  };
}

function binary(server: RedisServerProcess): TestRedis {
  return {
    url: server.url,
    port: server.port,
    source: 'redis-server',
    canKill: true,
    stop: () => server.stop(),
    kill: () => server.kill(),
    restart: () => server.restart(),
  };
}

export { startRedisCluster } from '../../bench/support/redis-cluster.js';

export {
  type RedisSentinelProcesses as TestRedisSentinel,
  startRedisSentinel,
} from '../../bench/support/redis-sentinel.js';
