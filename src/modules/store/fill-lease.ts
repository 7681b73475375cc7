import { LRUCache } from 'lru-cache';
import { createListeners, type Listeners } from './listeners.js';

/**
 * Fill leases let instances sharing a store collapse misses between them: the
 * first to miss a key takes a short lease and fetches it; the others wait for
 * its fill notice (or poll), then read the store. A lease is an entry of its
 * own in the store, never part of a cached response.
 *
 *   granted      this caller fills the key; it must release() the lease
 *   held         another caller is filling it: wait for onFilled, or poll lease() again
 *   filled       a fill was stored within the last FILLED_MARK_MS: read the store (if the entry
 *                is gone already, a purge came after it: take the lease again with retake)
 *   uncacheable  a recent fill could not be stored (hit-for-miss): go upstream without waiting
 */
export type LeaseState = 'granted' | 'held' | 'filled' | 'uncacheable';

/**
 * How long a stored fill is remembered on its lease: an instance whose miss
 * came before the fill landed but whose lease() comes after it reads the
 * entry instead of fetching it again.
 */
export const FILLED_MARK_MS = 1_000;

export interface LeaseOptions {
  /** Take the lease even over a "filled" mark (the caller found the entry gone since). */
  readonly retake?: boolean;
}

/**
 * How a fill ended. stored: read the store. not-storable: go upstream, and the
 * key skips collapsing for the hit-for-miss window. abandoned: go upstream.
 */
export type FillOutcome = 'stored' | 'not-storable' | 'abandoned';

export interface FillLeases {
  /** Takes the key's lease for ms (kept alive while held, where the store can die under it), or says who has it. */
  lease(key: string, ms: number, options?: LeaseOptions): Promise<LeaseState>;
  /**
   * Ends a lease this store granted, and tells whoever waits on the key. `stored` waits
   * for this instance's puts of the key to land first, so a waiter woken by it finds the
   * entry. `not-storable` leaves the key marked uncacheable for hitForMissMs (0: not at all).
   * Releasing a lease this store does not hold does nothing.
   */
  release(key: string, outcome: FillOutcome, hitForMissMs: number): Promise<void>;
  /** Hears how the key's current fill ends, on any instance sharing the store. */
  onFilled(key: string, listener: (outcome: FillOutcome) => void): () => void;
}

/** Waiters of one key, by key, for the stores' notice fan-out. */
export function createFillListeners(onError?: (err: unknown) => void) {
  const byKey = new Map<string, Listeners<FillOutcome>>();
  return {
    add(key: string, listener: (outcome: FillOutcome) => void): () => void {
      let set = byKey.get(key);
      if (set === undefined) {
        set = createListeners<FillOutcome>(onError);
        byKey.set(key, set);
      }
      const remove = set.add(listener);
      const mine = set;
      return () => {
        remove();
        if (mine.size === 0 && byKey.get(key) === mine) byKey.delete(key);
      };
    },
    emit(key: string, outcome: FillOutcome): void {
      byKey.get(key)?.emit(outcome);
    },
    has: (key: string) => byKey.has(key),
    clear: () => byKey.clear(),
  };
}

interface MemoryLease {
  readonly state: 'held' | 'filled' | 'uncacheable';
}

/**
 * Fill leases of one process, for the memory store: the same contract as
 * Redis's, though a process already collapses its own misses (collapse.ts),
 * so the cache does not ask the memory store for them.
 */
export function createMemoryLeases(): FillLeases & { clear(): void } {
  // A count bound through maxSize, as in collapse.ts; a lease's TTL is set per entry.
  const leases = new LRUCache<string, MemoryLease>({ maxSize: 100_000, sizeCalculation: () => 1 });
  const listeners = createFillListeners();
  return {
    async lease(key, ms, options) {
      const current = leases.get(key);
      if (current !== undefined && !(current.state === 'filled' && options?.retake === true)) {
        return current.state;
      }
      leases.set(key, { state: 'held' }, { ttl: Math.max(1, ms) });
      return 'granted';
    },
    async release(key, outcome, hitForMissMs) {
      if (leases.get(key)?.state !== 'held') return;
      if (outcome === 'not-storable' && hitForMissMs > 0) {
        leases.set(key, { state: 'uncacheable' }, { ttl: hitForMissMs });
      } else if (outcome === 'stored') {
        leases.set(key, { state: 'filled' }, { ttl: FILLED_MARK_MS });
      } else leases.delete(key);
      listeners.emit(key, outcome);
    },
    onFilled: (key, listener) => listeners.add(key, listener),
    clear() {
      leases.clear();
      listeners.clear();
    },
  };
}
