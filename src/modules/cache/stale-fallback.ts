import { type RequestDirectives, staleAt, staleIfErrorUntil } from './decide.js';
import type { Found } from './lookup.js';

/** When a failed validation may be answered from the stale entry (epoch ms). */
export interface StaleWindows {
  /** stale-if-error covers transport failures and error statuses until then. */
  readonly sieUntil: number;
  /** A backend that cannot be reached is an outage the stale entry stands in for until then. */
  readonly outageUntil: number;
}

/** How a validation failed: a backend out of reach (transport) or an answer with this status. */
export interface Failure {
  readonly transport: boolean;
  readonly status: number | undefined;
}

/** RFC 5861 §4: the answers that let a stale entry stand in. */
export const ERROR_STATUSES = new Set([500, 502, 503, 504]);

export function staleWindows(
  found: Found,
  req: RequestDirectives | undefined,
  staleOnOutageSeconds: number,
): StaleWindows {
  const { policy, entry } = found;
  return {
    sieUntil: staleIfErrorUntil(policy, entry.softPurgedAt, req),
    // A backend that cannot be reached at all (refused, reset, timed out, circuit open) is an outage:
    // RFC 9111 §4.2.4 lets a disconnected cache serve stale, so entries stand in far past their own
    // stale-if-error window — unless the response forbade stale use (must-revalidate and kin).
    outageUntil: policy.ns ? 0 : staleAt(policy, entry.softPurgedAt) + staleOnOutageSeconds * 1000,
  };
}

/** Why the stale entry may answer this failure, or undefined when it may not. */
export function fallbackFor(f: Failure, w: StaleWindows, now: number): 'error' | 'outage' | undefined {
  if ((f.transport || ERROR_STATUSES.has(f.status ?? 0)) && now < w.sieUntil) return 'error';
  return f.transport && now < w.outageUntil ? 'outage' : undefined;
}
