import { Cluster, type ClusterOptions, Command, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../utils/logger.js';
import { LEASE_SCRIPTS } from './redis-lease-scripts.js';
import { STORE_SCRIPTS } from './redis-scripts.js';
import { groupByOwner, groupBySlot } from './redis-slots.js';

export type RedisClient = Redis | Cluster;

export interface RedisSentinels {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** The master name they monitor. */
  readonly name: string;
}

export interface RedisConnectionOptions {
  /** redis:// or rediss:// URL of a single node (or a primary). */
  readonly url?: string;
  /** Seed nodes of a Redis Cluster; wins over url. */
  readonly clusterNodes?: readonly { readonly host: string; readonly port: number }[];
  /** Sentinels naming the current master; wins over url (not over clusterNodes). */
  readonly sentinels?: RedisSentinels;
  /** Deadline of every command, and of the first connection. */
  readonly commandTimeoutMs: number;
  /** Where connection trouble is logged, at warn, once per change of state. */
  readonly log?: Logger;
  /**
   * The `redis` fast path (FAST_PATHS): the hit's HMGET built without ioredis's copy of its
   * arguments (see hmgetBuffer); off, client.hmgetBuffer. Default on.
   */
  readonly fastCommands?: boolean;
}

export interface RedisConnection {
  readonly kind: 'redis' | 'redis-cluster';
  readonly client: RedisClient;
  /** Keys bucketed so each bucket may share one command or transaction: per slot on a Cluster, all together otherwise. */
  group(keys: readonly string[]): string[][];
  /** Keys bucketed per master by the client's slot map on a Cluster (per slot where it knows none), as group() otherwise. */
  groupByNode(keys: readonly string[]): string[][];
  /**
   * Commands sent from now until the event loop's check phase leave in one
   * write: call before sending. Concurrent requests' commands then share a
   * syscall without ioredis's auto-pipelining, whose Pipeline, extra promise
   * and nextTick per command cost a single-node hit more than the writes they
   * save (a Cluster keeps auto-pipelining: it groups commands per node).
   */
  batch(): void;
  /** HMGET with Buffer values: the hit's one command, built for less than ioredis's own way costs (see hmgetBuffer). */
  hmgetBuffer(key: string, fields: readonly string[]): Promise<(Buffer | null)[]>;
  /** One connection per master, for SCAN. */
  masters(): Redis[];
  /** False until the first connection settles; until then commands wait for it (at most commandTimeoutMs). */
  readonly started: boolean;
  waitForStart(): Promise<void>;
  /** A second connection for SUBSCRIBE, with an offline queue so subscriptions wait out reconnects. */
  createSubscriber(): RedisClient;
  close(): Promise<void>;
}

const MAX_RECONNECT_DELAY_MS = 2_000;
const SCRIPTS = { ...STORE_SCRIPTS, ...LEASE_SCRIPTS };

/** Capped exponential backoff with jitter, so instances sharing a Redis do not reconnect in lockstep. */
export function reconnectDelayMs(attempt: number): number {
  const ceiling = Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  const { url, clusterNodes, sentinels, commandTimeoutMs, log, fastCommands = true } = options;
  const nodeOptions = {
    commandTimeout: commandTimeoutMs,
    // In-flight commands are retried once after a reconnect; the command timeout bounds the wait anyway.
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(1_000, commandTimeoutMs * 4),
  } satisfies RedisOptions;
  const clients: RedisClient[] = [];
  const cluster = clusterNodes !== undefined && clusterNodes.length > 0;
  let client: RedisClient;
  if (cluster) {
    const clusterOptions: ClusterOptions = {
      // A down Redis fails fast: the proxy serves from upstream rather than queueing requests.
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelayMs,
      // Plain commands from concurrent requests leave in one write per node and tick. Not the scripts:
      // ioredis would route an auto-pipelined EVALSHA by its first argument (numkeys), not its first key.
      enableAutoPipelining: true,
      autoPipeliningIgnoredCommands: Object.keys(SCRIPTS),
      scaleReads: 'master',
      slotsRefreshTimeout: Math.max(1_000, commandTimeoutMs * 4),
      scripts: SCRIPTS,
      redisOptions: nodeOptions,
    };
    client = new Cluster(
      clusterNodes.map(({ host, port }) => ({ host, port })),
      clusterOptions,
    );
  } else {
    const single = {
      ...nodeOptions,
      enableOfflineQueue: false,
      retryStrategy: reconnectDelayMs,
      // Concurrent requests' commands share writes through batch() instead.
      enableAutoPipelining: false,
      scripts: SCRIPTS,
    } satisfies RedisOptions;
    if (sentinels !== undefined) {
      client = new Redis({ ...single, ...sentinelOptions(sentinels) });
    } else {
      if (url === undefined) throw new TypeError('redis store: give url, sentinels or clusterNodes');
      client = new Redis(url, single);
    }
  }
  clients.push(watchConnection(client, 'commands', log));

  let started = false;
  const start = new Promise<void>((resolve) => {
    const settle = () => {
      clearTimeout(timer);
      started = true;
      resolve();
    };
    // Past the deadline commands go out and fail fast: the proxy fails open rather than wait for a dead Redis.
    const timer = setTimeout(settle, commandTimeoutMs);
    timer.unref();
    client.once('ready', () => {
      if (!(client instanceof Cluster)) return settle();
      // A Cluster is ready before its per-node connections are; without an offline queue, a command to a
      // node still connecting would fail. One PING per master opens them all.
      void Promise.allSettled(client.nodes('master').map((node) => node.ping())).then(settle);
    });
  });

  return {
    kind: cluster ? 'redis-cluster' : 'redis',
    client,
    group: cluster ? groupBySlot : together,
    batch: client instanceof Cluster ? () => {} : writeBatcher(client),
    hmgetBuffer:
      client instanceof Cluster || !fastCommands
        ? (key, fields) => client.hmgetBuffer(key, ...fields)
        : hmgetBuffer(client),
    groupByNode:
      client instanceof Cluster ? (keys) => groupByOwner(keys, (slot) => client.slots[slot]?.[0]) : together,
    masters: () => (client instanceof Cluster ? client.nodes('master') : [client]),
    get started() {
      return started;
    },
    waitForStart: () => start,
    createSubscriber() {
      const subscriberNodeOptions = { ...nodeOptions, commandTimeout: undefined, maxRetriesPerRequest: null };
      const subscriber =
        client instanceof Cluster
          ? client.duplicate(undefined, { enableOfflineQueue: true, redisOptions: subscriberNodeOptions })
          : // redis-pubsub.ts subscribes again itself: ioredis's own resubscribe leaves its promise
            // unhandled, an unhandled rejection whenever the connection drops again before the reply.
            client.duplicate({ ...subscriberNodeOptions, enableOfflineQueue: true, autoResubscribe: false });
      clients.push(watchConnection(subscriber, 'subscriber', log));
      return subscriber;
    },
    async close() {
      await Promise.all(clients.map(quit));
    },
  };
}

/** RedisConnection.batch for one node: its socket corked until setImmediate, so one writev carries the lot. */
function writeBatcher(client: Redis): () => void {
  let corked: Redis['stream'] | undefined;
  const flush = () => {
    const stream = corked;
    corked = undefined;
    stream?.uncork();
  };
  return () => {
    if (corked !== undefined) return;
    const { stream } = client;
    // No socket yet, or a closing one: commands are refused or queued by ioredis, nothing to batch.
    if (stream === undefined || !stream.writable) return;
    corked = stream;
    stream.cork();
    setImmediate(flush);
  };
}

const BUFFER_REPLY = { replyEncoding: null } as const;

/**
 * HMGET on one node as client.hmgetBuffer sends it, less the copy of its arguments: a Command copies
 * them with Array.prototype.flat, which on Node 20 costs more than the rest of building the command
 * (about 0.6 µs for three strings). These are flat strings already, and HMGET has no argument
 * transformer, so they are handed over as they are. (A Cluster keeps hmgetBuffer: it pipelines it.)
 */
function hmgetBuffer(client: Redis) {
  return (key: string, fields: readonly string[]): Promise<(Buffer | null)[]> => {
    const command = new Command('hmget', [], BUFFER_REPLY);
    command.args = [key, ...fields];
    void client.sendCommand(command);
    return command.promise as Promise<(Buffer | null)[]>;
  };
}

function together(keys: readonly string[]): string[][] {
  return keys.length === 0 ? [] : [[...keys]];
}

/**
 * ioredis asks the sentinels for the master on every (re)connect (the
 * subscriber's too: duplicate() keeps these options), and checks with INFO
 * that it reached a master. A master that is demoted rather than killed drops
 * its clients itself: Sentinel's reconfiguration ends with CLIENT KILL, so
 * they reconnect to the promoted one. (ioredis's failoverDetector would also
 * catch that, at the cost of a connection per sentinel that logs unhandled
 * errors whenever a sentinel is down.)
 */
function sentinelOptions(sentinels: RedisSentinels): RedisOptions {
  return {
    sentinels: sentinels.nodes.map(({ host, port }) => ({ host, port })),
    name: sentinels.name,
    role: 'master',
    sentinelRetryStrategy: reconnectDelayMs,
    // A sentinel that does not answer quickly is skipped for the next one in the list.
    sentinelCommandTimeout: 1_000,
  };
}

/**
 * ioredis emits 'error' on every failed reconnect; an unhandled 'error' event
 * would crash the process. Trouble is logged once when it starts and once
 * when the connection is back, not on every retry.
 */
function watchConnection<C extends RedisClient>(client: C, role: string, log: Logger | undefined): C {
  let healthy = true;
  const down = (err?: Error) => {
    if (!healthy) return;
    healthy = false;
    log?.warn({ err, role }, 'redis store unavailable; the proxy fails open until it is back');
  };
  client.on('error', down);
  client.on('node error', down);
  client.on('ready', () => {
    if (healthy) return;
    healthy = true;
    log?.warn({ role }, 'redis store available again');
  });
  return client;
}

async function quit(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  // QUIT needs a live connection; without one (and with an offline queue, as the subscriber has) it
  // would wait for a reconnect that may never come. Dropping the socket is then the whole of closing.
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
