import { LRUCache } from 'lru-cache';
import type { RateLimit } from '../router/types.js';
import { type Bucket, takeToken, type Verdict } from './token-bucket.js';

export interface MemoryLimiter {
  take(key: string, rule: RateLimit): Verdict;
}

/**
 * Buckets in this process, at most `maxBuckets` of them: a flood of client
 * addresses evicts the least recently seen buckets (which then start full
 * again) rather than growing without bound.
 */
export function createMemoryLimiter(maxBuckets = 100_000): MemoryLimiter {
  // A count bound through maxSize: lru-cache's `max` would allocate every slot up front (~3.5 MiB for 100k).
  const buckets = new LRUCache<string, Bucket>({ maxSize: maxBuckets, sizeCalculation: () => 1 });
  return {
    take(key, rule) {
      const { bucket, verdict } = takeToken(buckets.get(key), rule, Date.now());
      buckets.set(key, bucket);
      return verdict;
    },
  };
}
