import { LRUCache } from 'lru-cache';
import type { StoredEntry } from '../store/types.js';
import type { Tracing } from '../tracing/index.js';
import type { FleetWait } from './fleet-wait.js';

export interface CollapseOptions {
  /** How long a follower waits for the leader before going upstream itself. */
  readonly timeoutMs: number;
  /** Followers beyond this go upstream without waiting. */
  readonly maxWaiters: number;
  /** After an uncacheable answer, requests for the key skip waiting this long ("hit-for-miss"). */
  readonly hitForMissMs: number;
  /** Shows each follower's wait as a span. */
  readonly tracing?: Pick<Tracing, 'wait'>;
  /** With a store shared by several instances: collapsing between them too (fleet-wait.ts). */
  readonly fleet?: FleetWait;
}

export type Role =
  | {
      readonly role: 'leader';
      settle(entry: StoredEntry | undefined): void;
      /**
       * With a shared store, before going upstream: resolves true when another
       * instance stored the key meanwhile (read it from the store), false when
       * this one should fetch it. Not asked, the leader fetches as before.
       */
      fleet?(): Promise<boolean>;
    }
  | { readonly role: 'follower'; readonly result: Promise<StoredEntry | undefined> }
  | { readonly role: 'alone' };

/** A leader's fetch. Its promise is made when the first follower joins: most misses have none. */
interface Flight {
  promise: Promise<StoredEntry | undefined> | undefined;
  resolve: ((entry: StoredEntry | undefined) => void) | undefined;
  waiters: number;
}

function awaited(flight: Flight): Promise<StoredEntry | undefined> {
  if (flight.promise === undefined) {
    flight.promise = new Promise<StoredEntry | undefined>((r) => {
      flight.resolve = r;
    });
  }
  return flight.promise;
}

const ALONE: Role = { role: 'alone' };

/**
 * Request collapsing within one process: the first miss for a key goes
 * upstream, later ones wait for its entry. When the leader's answer cannot be
 * stored, followers are released at once to go upstream in parallel, and the
 * key is remembered as uncacheable for a while so nobody queues behind it.
 */
export function createCollapser(opts: CollapseOptions) {
  const flights = new Map<string, Flight>();
  // A count bound through maxSize: lru-cache's `max` would allocate all 100k slots up front (~3.5 MiB).
  const uncacheable = new LRUCache<string, true>({
    maxSize: 100_000,
    sizeCalculation: () => 1,
    ttl: Math.max(1, opts.hitForMissMs),
  });

  return {
    join(key: string): Role {
      if (opts.hitForMissMs > 0 && uncacheable.has(key)) return ALONE;
      const flight = flights.get(key);
      if (flight !== undefined) {
        if (flight.waiters >= opts.maxWaiters) return ALONE;
        flight.waiters++;
        const result = withTimeout(awaited(flight), opts.timeoutMs);
        return {
          role: 'follower',
          result: opts.tracing === undefined ? result : opts.tracing.wait('tagcache.collapsed_wait', result),
        };
      }
      const created: Flight = { promise: undefined, resolve: undefined, waiters: 0 };
      flights.set(key, created);
      let settled = false;
      let leased = false;
      const { fleet } = opts;
      return {
        role: 'leader',
        settle(entry) {
          if (settled) return;
          settled = true;
          if (flights.get(key) === created) flights.delete(key);
          created.resolve?.(entry);
          if (!leased || fleet === undefined) return;
          // A turn later: the cache marks an uncacheable answer right after settling it.
          queueMicrotask(() => {
            const outcome =
              entry !== undefined ? 'stored' : uncacheable.has(key) ? 'not-storable' : 'abandoned';
            void fleet.release(key, outcome, opts.hitForMissMs);
          });
        },
        fleet:
          fleet === undefined
            ? undefined
            : async () => {
                const turn = await fleet.turn(key);
                if (turn === 'fetch') leased = true;
                if (turn === 'uncacheable' && opts.hitForMissMs > 0) uncacheable.set(key, true);
                return turn === 'filled';
              },
      };
    },
    /** The key's answer was uncacheable: skip collapsing for it for a while. */
    markUncacheable(key: string): void {
      if (opts.hitForMissMs > 0) uncacheable.set(key, true);
    },
    /** Stored again (or invalidated): collapsing may resume. */
    forget(key: string): void {
      uncacheable.delete(key);
    },
    get inFlight(): number {
      return flights.size;
    },
  };
}

export type Collapser = ReturnType<typeof createCollapser>;

function withTimeout<T>(promise: Promise<T | undefined>, ms: number): Promise<T | undefined> {
  if (ms <= 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}
