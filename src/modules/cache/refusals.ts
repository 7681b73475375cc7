import { LRUCache } from 'lru-cache';
import type { NotStorable } from './policy.js';

export type RefusalReason = NotStorable | 'too-large' | 'request-no-store';

/** Why the last response for a key was not stored, and when. */
export interface Refusal {
  readonly reason: RefusalReason;
  /** What the reason means, for a person reading a look-up. */
  readonly explanation: string;
  readonly status: number;
  /** Epoch ms. */
  readonly at: number;
}

/**
 * A small memory of recent refusals for GET /entries: keyed by cache key,
 * bounded by bytes (a client can make tagcache refuse as many distinct URLs
 * as it likes; the oldest are forgotten). A key whose response is stored
 * later is forgotten at once. Per process.
 */
export interface RefusalLog {
  note(key: string, reason: RefusalReason, status: number): void;
  forget(key: string): void;
  get(key: string): Refusal | undefined;
}

const MAX_BYTES = 1024 * 1024;
/** The Refusal object and the LRU slot around a key. */
const OVERHEAD_BYTES = 160;

const EXPLANATIONS: Record<RefusalReason, string> = {
  method: 'only GET responses are stored',
  status: 'the status is not one tagcache stores',
  'no-store': 'the response says no-store',
  private: 'the response says private',
  authorization:
    'the request carried Authorization and the response did not say public, s-maxage or must-revalidate',
  'set-cookie': 'the response sets a cookie and the route does not set cacheSetCookie',
  'vary-star': 'the response says Vary: *',
  partial: 'a partial (206) response',
  'no-freshness':
    'no freshness: no s-maxage, max-age or Expires, not heuristically cacheable, and no route defaultTtl',
  'too-large': 'the body is larger than MAX_OBJECT_BYTES',
  'request-no-store': 'the request said no-store',
};

/** Held here with its time open to update: look-ups get it read-only. */
type NotedRefusal = { -readonly [K in keyof Refusal]: Refusal[K] };

export function createRefusalLog(maxBytes = MAX_BYTES): RefusalLog {
  const refusals = new LRUCache<string, NotedRefusal>({
    maxSize: maxBytes,
    sizeCalculation: (_refusal, key) => OVERHEAD_BYTES + 2 * key.length,
  });
  return {
    note(key, reason, status) {
      // A key refused again for the same reason (every request for a no-store URL) keeps its record,
      // made recent (get) and its time updated: no new object per request, no set's size and eviction work.
      const last = refusals.get(key);
      if (last !== undefined && last.reason === reason && last.status === status) {
        last.at = Date.now();
        return;
      }
      refusals.set(key, { reason, explanation: EXPLANATIONS[reason], status, at: Date.now() });
    },
    forget: (key) => {
      refusals.delete(key);
    },
    get: (key) => refusals.peek(key),
  };
}
