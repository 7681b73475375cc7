import { randomBytes } from 'node:crypto';
import type { Logger } from '../../utils/logger.js';
import { createFillListeners, FILLED_MARK_MS, type FillLeases, type FillOutcome } from './fill-lease.js';
import type { RedisClient, RedisConnection } from './redis-connection.js';
import { hashName } from './redis-keys.js';

/* The lease's one key and its Lua scripts: redis-lease-scripts.ts. */

const OUTCOMES: readonly FillOutcome[] = ['stored', 'not-storable', 'abandoned'];

/**
 * Renewal stops this long after the lease was taken, released or not: a fill
 * that never settles (a bug, a body that never ends) must not hold a key for
 * the whole fleet forever. Longer than any backend is given by default
 * (headers and body timeouts of 30 s each).
 */
const MAX_HOLD_MS = 90_000;

export interface RedisLeases extends FillLeases {
  /** Registers a put of the key's entries, for release('stored') to wait on. Returns the same promise. */
  track<T>(key: string, put: Promise<T>): Promise<T>;
  close(): void;
}

interface Held {
  readonly token: string;
  readonly renew: NodeJS.Timeout;
}

/**
 * Fill leases in Redis. A lease lives ms and is renewed every ms/3 while its
 * holder fetches, so a slow backend keeps it and a dead holder loses it within
 * ms. Fill notices go over pub/sub, `<h(key)>|<outcome>` on <prefix>fills,
 * heard through a subscriber opened on the first onFilled(). Calls reject with
 * the client's error; the caller falls back to collapsing per process.
 */
export function createRedisLeases(
  conn: RedisConnection,
  prefix: string,
  run: <T>(operation: string, work: () => Promise<T>) => Promise<T>,
  log: Logger | undefined,
): RedisLeases {
  const { client } = conn;
  const channel = `${prefix}fills`;
  const leaseKey = (key: string) => `${prefix}l:${hashName(key)}`;
  const instance = randomBytes(6).toString('base64url');
  let sequence = 0;
  const held = new Map<string, Held>();
  const pending = new Map<string, Set<Promise<unknown>>>();
  const listeners = createFillListeners((err) => log?.error({ err }, 'a fill listener threw'));
  /** Listeners by hashed key: notices carry the hash, never the URL. */
  const hashes = new Map<string, string>();
  let subscriber: RedisClient | undefined;
  let closed = false;

  function subscribe(): void {
    const sub = conn.createSubscriber();
    sub.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const bar = message.lastIndexOf('|');
      const key = hashes.get(message.slice(0, bar));
      const outcome = message.slice(bar + 1) as FillOutcome;
      if (key !== undefined && OUTCOMES.includes(outcome)) listeners.emit(key, outcome);
    });
    const join = () =>
      sub
        .subscribe(channel)
        .catch((err: unknown) => log?.debug({ err, channel }, 'subscribing to fill notices failed'));
    void join();
    // Waiters poll too, so a notice lost while reconnecting costs a poll interval, not a wrong answer.
    let lost = false;
    sub.on('close', () => {
      lost = true;
    });
    sub.on('ready', () => {
      if (!lost || closed) return;
      lost = false;
      void join();
    });
    subscriber = sub;
  }

  const stopRenewing = (key: string) => {
    const mine = held.get(key);
    if (mine === undefined) return undefined;
    clearInterval(mine.renew);
    held.delete(key);
    return mine;
  };

  return {
    lease: (key, ms, options) =>
      run('lease', async () => {
        const token = `${instance}.${++sequence}`;
        const name = leaseKey(key);
        const state = await client.tcLeaseTake(1, name, token, ms, options?.retake === true ? 1 : 0);
        if (state === 'uncacheable' || state === 'filled') return state;
        if (state !== 'granted') return 'held';
        stopRenewing(key);
        const until = Date.now() + MAX_HOLD_MS;
        const renew = setInterval(
          () => {
            if (Date.now() > until) {
              if (held.get(key)?.token === token) stopRenewing(key);
              return;
            }
            client.tcLeaseRenew(1, name, token, ms).then(
              (kept) => {
                if (kept === 0 && held.get(key)?.token === token) stopRenewing(key);
              },
              // A failed renewal is tried again next time; past ms the lease ends, as for a dead holder.
              () => undefined,
            );
          },
          Math.max(10, Math.floor(ms / 3)),
        );
        renew.unref();
        held.set(key, { token, renew });
        return 'granted';
      }),
    release: (key, outcome, hitForMissMs) =>
      run('release', async () => {
        const mine = held.get(key);
        if (mine === undefined) return;
        let ended = outcome;
        if (outcome === 'stored') {
          // Puts start in the same turn as the settle that called this; a turn later every one is registered.
          await new Promise((resolve) => setImmediate(resolve));
          const results = await Promise.allSettled([...(pending.get(key) ?? [])]);
          if (results.some((r) => r.status === 'rejected')) ended = 'abandoned';
        }
        if (held.get(key) !== mine) return;
        stopRenewing(key);
        const waited = await client.tcLeaseEnd(
          1,
          leaseKey(key),
          mine.token,
          ended,
          Math.max(0, hitForMissMs),
          FILLED_MARK_MS,
        );
        if (waited === 1) await client.publish(channel, `${hashName(key)}|${ended}`);
      }),
    onFilled(key, listener) {
      if (closed) return () => {};
      hashes.set(hashName(key), key);
      const remove = listeners.add(key, listener);
      if (subscriber === undefined) subscribe();
      return () => {
        remove();
        if (!listeners.has(key)) hashes.delete(hashName(key));
      };
    },
    track(key, put) {
      if (!held.has(key)) return put;
      let set = pending.get(key);
      if (set === undefined) {
        set = new Set();
        pending.set(key, set);
      }
      const mine = set;
      mine.add(put);
      const done = () => {
        mine.delete(put);
        if (mine.size === 0 && pending.get(key) === mine) pending.delete(key);
      };
      put.then(done, done);
      return put;
    },
    close() {
      closed = true;
      for (const key of [...held.keys()]) stopRenewing(key);
      listeners.clear();
      hashes.clear();
    },
  };
}
