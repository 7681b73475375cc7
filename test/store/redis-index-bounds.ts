import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'vitest';
import type { Store } from '../../src/modules/store/types.js';
import { makeEntry } from './entries.js';

export interface IndexProbe {
  /** ZCARD of one index zset. */
  zcard(key: string): Promise<number>;
  /** Keys under a SCAN pattern, on every master. */
  countKeys(pattern: string): Promise<number>;
}

/**
 * Entries that expire while new ones keep arriving: the tag's index must stay
 * near what is alive (plus the trim grace), not grow with everything ever
 * written, and every index (tags, URL keys, the site's path index) must
 * disappear once its members have all expired.
 */
export async function checkIndexStaysBounded(
  store: Store,
  probe: IndexProbe,
  names: { prefix: string; tagIndex: string; pathIndexes: readonly string[] },
): Promise<{ written: number; largest: number }> {
  const ttlMs = 100;
  const until = Date.now() + 2_000;
  let written = 0;
  let largest = 0;
  while (Date.now() < until) {
    const batch = Array.from({ length: 10 }, () =>
      makeEntry(`https://churn.example/${written++}`, { tags: ['hot'] }),
    );
    await Promise.all(batch.map((entry) => store.put(entry, ttlMs)));
    const sizes = await Promise.all([names.tagIndex, ...names.pathIndexes].map((key) => probe.zcard(key)));
    largest = Math.max(largest, ...sizes);
    await delay(20); // a steady stream, not a burst
  }
  expect(written).toBeGreaterThan(200);
  // Alive within ttl + grace (300 ms): about a seventh of what 2 s of writing adds, at any rate.
  expect(largest).toBeLessThan(written / 2);
  await expect
    .poll(() => probe.countKeys(`${names.prefix}[tks]:*`), { timeout: 5_000, interval: 100 })
    .toBe(0);
  return { written, largest };
}
