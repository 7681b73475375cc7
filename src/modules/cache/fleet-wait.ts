import type { FillLeases, FillOutcome } from '../store/types.js';

/**
 * What a process's first miss for a key does when the store is shared:
 *   fetch        it holds the key's lease: go upstream, then release it
 *   filled       another instance stored the key meanwhile: read it from the store
 *   alone        go upstream without the lease (the store failed, the wait timed out, the fill was abandoned)
 *   uncacheable  the key's last fill could not be stored (hit-for-miss, fleet-wide): go upstream
 */
export type FleetTurn = 'fetch' | 'filled' | 'alone' | 'uncacheable';

export interface FleetWaitOptions {
  readonly leases: FillLeases;
  /** Whether the store holds an entry for the key now; false when it cannot say. */
  readonly present: (key: string) => Promise<boolean>;
  /** How long one lease lasts without renewal: how long waiters wait on a holder that died. */
  readonly leaseMs: number;
  /** How often a waiter looks for itself, should a fill notice be lost. */
  readonly pollMs: number;
  /** The longest wait (COLLAPSE_TIMEOUT_MS); past it the waiter goes upstream. */
  readonly timeoutMs: number;
}

export type FleetWait = ReturnType<typeof createFleetWait>;

export const FILL_LEASE_MS = 2_000;
export const FILL_POLL_MS = 200;

/**
 * Collapsing between instances sharing a store, one lease per key: the first
 * to miss fetches, the others wait to be told the entry is stored (or poll)
 * and read it. A holder that dies loses its lease within leaseMs, and the
 * first waiter to poll after that takes it over. Every store failure answers
 * "alone": per-process collapsing still stands, never an error.
 */
export function createFleetWait(opts: FleetWaitOptions) {
  const { leases, present, leaseMs, pollMs, timeoutMs } = opts;
  const take = (key: string, retake = false) =>
    leases.lease(key, leaseMs, { retake }).then(
      (state) => state,
      () => 'failed' as const,
    );

  function release(key: string, outcome: FillOutcome, hitForMissMs: number): Promise<void> {
    return leases.release(key, outcome, hitForMissMs).catch(() => undefined);
  }

  return {
    async turn(key: string): Promise<FleetTurn> {
      let state = await take(key);
      if (state === 'filled') {
        // Stored since this process missed it: read it, unless a purge has removed it already.
        if (await present(key)) return 'filled';
        state = await take(key, true);
        if (state === 'filled') return 'alone';
      }
      if (state === 'failed') return 'alone';
      if (state === 'uncacheable') return 'uncacheable';
      // No second look at the store first: a fill that landed between this miss and its lease is
      // rare (the lease outlives the fetch), and the look would cost every miss a round trip.
      if (state === 'granted') return 'fetch';
      return new Promise<FleetTurn>((resolve) => {
        const deadline = Date.now() + timeoutMs;
        let done = false;
        let timer: NodeJS.Timeout | undefined;
        const finish = (turn: FleetTurn) => {
          if (done) return;
          done = true;
          stop();
          clearTimeout(timer);
          resolve(turn);
        };
        const stop = leases.onFilled(key, (outcome) =>
          finish(outcome === 'stored' ? 'filled' : outcome === 'not-storable' ? 'uncacheable' : 'alone'),
        );
        const poll = async () => {
          if (done) return;
          if (Date.now() >= deadline) return finish('alone');
          if (await present(key)) return finish('filled');
          const now = await take(key);
          if (done) {
            // A notice settled the wait while this poll took the lease: give it back.
            if (now === 'granted') await release(key, 'abandoned', 0);
            return;
          }
          if (now === 'granted') return finish('fetch');
          if (now === 'filled') return finish('filled');
          if (now === 'failed') return finish('alone');
          if (now === 'uncacheable') return finish('uncacheable');
          timer = setTimeout(poll, Math.max(1, Math.min(pollMs, deadline - Date.now())));
        };
        timer = setTimeout(poll, Math.min(pollMs, timeoutMs));
      });
    },
    release,
  };
}
