import type { RateLimit } from '../router/types.js';

/** A bucket's state: tokens left at `at` (epoch ms); it refills continuously. */
export interface Bucket {
  tokens: number;
  at: number;
}

export interface Verdict {
  readonly allowed: boolean;
  /** How long until one token is back (0 when allowed). */
  readonly retryAfterMs: number;
}

/**
 * Takes one token if there is one. A new bucket starts full, so a client's
 * first `burst` requests pass at once; after that it gets requestsPerSecond.
 * Mutates and returns the bucket.
 */
export function takeToken(
  bucket: Bucket | undefined,
  rule: RateLimit,
  now: number,
): { bucket: Bucket; verdict: Verdict } {
  const b = bucket ?? { tokens: rule.burst, at: now };
  const perMs = rule.requestsPerSecond / 1000;
  b.tokens = Math.min(rule.burst, b.tokens + Math.max(0, now - b.at) * perMs);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return { bucket: b, verdict: { allowed: true, retryAfterMs: 0 } };
  }
  return { bucket: b, verdict: { allowed: false, retryAfterMs: Math.ceil((1 - b.tokens) / perMs) } };
}

/** How long an idle bucket takes to fill up again: past it, forgetting the bucket changes nothing. */
export function refillMs(rule: RateLimit): number {
  return Math.ceil((rule.burst / rule.requestsPerSecond) * 1000);
}
