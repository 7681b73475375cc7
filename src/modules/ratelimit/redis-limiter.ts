import { createHash } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { errorMessage } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import { type Circuit, createCircuit, createTripBreaker } from '../circuit/index.js';
import type { RateLimit } from '../router/types.js';
import type { MemoryLimiter } from './memory-limiter.js';
import { refillMs, type Verdict } from './token-bucket.js';

/**
 * The token bucket of token-bucket.ts, run inside Redis so every instance
 * sharing it draws from one bucket per route and client. Redis's clock
 * (TIME), not each instance's, measures the refill. Returns {allowed, waitMs}.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local perMs = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * perMs)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / perMs)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {allowed, wait}
`;
const TAKE_SHA = createHash('sha1').update(TAKE).digest('hex');

export interface RedisLimiterOptions {
  readonly url?: string;
  readonly clusterNodes?: readonly { readonly host: string; readonly port: number }[];
  /** Sentinels naming the current master; wins over url. */
  readonly sentinels?: { readonly nodes: readonly { host: string; port: number }[]; readonly name: string };
  readonly prefix: string;
  readonly timeoutMs: number;
  /** Consecutive Redis failures before the limiter stops asking Redis for a while. */
  readonly failures: number;
  readonly openMs: number;
  /** Where decisions go while Redis cannot be asked. */
  readonly fallback: MemoryLimiter;
  readonly log: Logger;
}

export interface RedisLimiter {
  take(route: string, client: string, rule: RateLimit): Promise<Verdict>;
  close(): Promise<void>;
}

type Reply = [number, number];

/**
 * The shared limiter. Its own connection, created on first use, with no
 * offline queue and the store's command timeout: a limit must never hold a
 * request longer than a store lookup would. Any Redis failure answers from
 * the in-memory limiter instead (fail open to a per-instance limit, never to
 * no limit and never to an error), and repeated failures open a circuit so
 * requests stop paying the timeout.
 */
export function createRedisLimiter(opts: RedisLimiterOptions): RedisLimiter {
  let client: Redis | Cluster | undefined;
  // Settles when the first connection is ready, or after timeoutMs: without an offline queue, commands
  // sent before that would fail, and the first requests would fall back for no reason.
  let started: Promise<void> | undefined;
  let healthy = true;
  const circuit: Circuit<unknown> = createCircuit<unknown>({
    breaker: createTripBreaker({ consecutiveFailures: Math.max(1, opts.failures) }),
    openMs: opts.openMs,
    isFailure: () => true,
    refused: () => new Error('rate limit store circuit open'),
  });

  const connect = (): Redis | Cluster => {
    const nodeOptions = {
      commandTimeout: opts.timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    };
    const c =
      opts.clusterNodes !== undefined && opts.clusterNodes.length > 0
        ? new Cluster(
            opts.clusterNodes.map(({ host, port }) => ({ host, port })),
            { enableOfflineQueue: false, redisOptions: nodeOptions },
          )
        : opts.sentinels !== undefined
          ? new Redis({
              ...nodeOptions,
              sentinels: opts.sentinels.nodes.map(({ host, port }) => ({ host, port })),
              name: opts.sentinels.name,
            })
          : new Redis(opts.url ?? '', nodeOptions);
    // ioredis reports every failed reconnect as 'error'; the failed commands already tell us, and are logged.
    c.on('error', () => undefined);
    started = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.timeoutMs);
      timer.unref();
      c.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return c;
  };

  async function ask(key: string, rule: RateLimit): Promise<Reply> {
    client ??= connect();
    await started;
    const args = [String(rule.requestsPerSecond), String(rule.burst), String(refillMs(rule) + 1000)];
    try {
      return (await client.evalsha(TAKE_SHA, 1, key, ...args)) as Reply;
    } catch (err) {
      if (!errorMessage(err).startsWith('NOSCRIPT')) throw err;
      return (await client.eval(TAKE, 1, key, ...args)) as Reply;
    }
  }

  return {
    async take(route, address, rule) {
      const key = `${opts.prefix}rl:${route}:${address}`;
      try {
        const [allowed, waitMs] = await circuit.execute(() => ask(key, rule));
        if (!healthy) {
          healthy = true;
          opts.log.info('rate limits shared through Redis again');
        }
        return { allowed: allowed === 1, retryAfterMs: waitMs };
      } catch (err) {
        if (healthy) {
          healthy = false;
          opts.log.warn(
            { err: errorMessage(err) },
            'rate limit store failing; limiting per instance meanwhile',
          );
        }
        return opts.fallback.take(`${route}\0${address}`, rule);
      }
    },
    async close() {
      const c = client;
      client = undefined;
      if (c === undefined) return;
      await c.quit().catch(() => c.disconnect());
    },
  };
}
