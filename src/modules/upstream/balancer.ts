import type { BalanceMode } from '../../utils/config.js';
import { originKey } from './origin-key.js';

export interface BalancerOptions {
  readonly mode: BalanceMode;
  /** How long a failed origin is passed over; 0 never passes one over. */
  readonly ejectMs: number;
  /** Called when an origin is ejected (for the metric). */
  readonly onEject?: (origin: URL) => void;
}

export interface Balancer {
  /**
   * The origin to send to among `origins`, skipping those already tried and
   * those whose circuit refuses. Ejected origins are used only when every
   * other one is out too ("if all are out, try anyway"); undefined when no
   * origin is left at all.
   */
  pick(
    origins: readonly URL[],
    admits: (origin: URL) => boolean,
    tried: ReadonlySet<string>,
  ): URL | undefined;
  /** Counts a request in flight to the origin; call the returned function once when it is over. */
  begin(origin: URL): () => void;
  /** Passes the origin over for ejectMs (passive health). */
  eject(origin: URL): void;
  /** Requests in flight per origin, for tests and reports. */
  inFlight(origin: URL): number;
}

/**
 * Passive-health load balancing over a route's origins: least-in-flight
 * (fewest open requests, ties taken in turn) or round-robin. Origins that
 * failed recently are left out for a while; nothing probes them actively —
 * the circuit breaker's half-open probe and the end of the ejection bring
 * them back.
 */
export function createBalancer(opts: BalancerOptions): Balancer {
  const inFlight = new Map<string, number>();
  const ejectedUntil = new Map<string, number>();
  // One turn counter per origin list: a route table is rebuilt on reload, so old lists are dropped with it.
  const turns = new WeakMap<readonly URL[], number>();

  const isEjected = (origin: URL, now: number): boolean => {
    const until = ejectedUntil.get(originKey(origin));
    if (until === undefined) return false;
    if (now < until) return true;
    ejectedUntil.delete(originKey(origin));
    return false;
  };

  return {
    pick(origins, admits, tried) {
      // Most routes have one backend: no lists to build for it.
      if (origins.length === 1) {
        const only = origins[0] as URL;
        return !tried.has(originKey(only)) && admits(only) ? only : undefined;
      }
      const now = Date.now();
      const open = origins.filter((o) => !tried.has(originKey(o)) && admits(o));
      if (open.length <= 1) return open[0];
      const healthy = open.filter((o) => !isEjected(o, now));
      const pool = healthy.length > 0 ? healthy : open;
      const turn = turns.get(origins) ?? 0;
      turns.set(origins, (turn + 1) % 1_000_000_007);
      const start = turn % pool.length;
      if (opts.mode === 'round-robin') return pool[start];
      // Least in flight, scanning from this turn's start so idle origins take turns rather than the first winning.
      let best: URL | undefined;
      let fewest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < pool.length; i++) {
        const origin = pool[(start + i) % pool.length];
        if (origin === undefined) continue;
        const n = inFlight.get(originKey(origin)) ?? 0;
        if (n < fewest) {
          best = origin;
          fewest = n;
        }
      }
      return best;
    },
    begin(origin) {
      const key = originKey(origin);
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        const n = (inFlight.get(key) ?? 1) - 1;
        if (n <= 0) inFlight.delete(key);
        else inFlight.set(key, n);
      };
    },
    eject(origin) {
      if (opts.ejectMs <= 0) return;
      const now = Date.now();
      // An origin already out stays out until its first ejection ends; a new failure does not extend it silently.
      if (isEjected(origin, now)) return;
      ejectedUntil.set(originKey(origin), now + opts.ejectMs);
      opts.onEject?.(origin);
    },
    inFlight: (origin) => inFlight.get(originKey(origin)) ?? 0,
  };
}
