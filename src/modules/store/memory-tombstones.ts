import { LRUCache } from 'lru-cache';
import { prefixSites, splitKey } from './key-site.js';
import { addPurge, judgePut, type PurgeMarks, type PutVerdict } from './tombstones.js';
import type { InvalidationMode, InvalidationTarget, StoredEntry } from './types.js';

/** A target's marks and when they stop counting (epoch ms). */
interface Tombstone extends PurgeMarks {
  readonly until: number;
}

export interface MemoryTombstones {
  /** Records a purge of target at `at`; call before the purge removes anything. */
  mark(target: InvalidationTarget, mode: InvalidationMode, at: number): void;
  /** What a put of entry must do; (tags + 2) map lookups, synchronous. */
  judge(entry: StoredEntry): PutVerdict;
  /** Frees expired tombstones (lru-cache only notices expiry on access). */
  sweep(): void;
  readonly size: number;
  clear(): void;
}

const ALL = 'all';
/** A URL key can be kilobytes long: the count bound alone would not bound memory. */
const MAX_TOMBSTONE_BYTES = 32 * 1024 * 1024;
/** Rough cost of one tombstone besides its name: the object, the lru-cache slot and its TTL. */
const TOMBSTONE_OVERHEAD_BYTES = 96;

/**
 * The memory store's tombstones (see tombstones.ts), keyed `t:<tag>`,
 * `k:<key>`, `s:<site>` (prefix purges: a put anywhere on the site that was
 * fetched before one is judged by it, a wider net than the prefix, costing
 * only responses in flight at the time) and `all`, each living tombstoneMs. At most `max` are kept, and
 * at most 32 MiB of them. When a
 * burst of distinct purges pushes one out before its time, its marks are
 * merged into one catch-all that applies to every put until the evicted one
 * would have expired: a flood of purges makes puts more cautious for a while,
 * never lets a purged response back in.
 */
export function createMemoryTombstones(tombstoneMs: number, max: number): MemoryTombstones {
  let overflow: Tombstone = { hardAt: 0, softAt: 0, until: 0 };
  // No lru-cache `max`: it allocates arrays for all `max` slots up front (~3.5 MiB for 100k, in every
  // process from its first second); the count bound is kept by hand in markOne.
  const stones = new LRUCache<string, Tombstone>({
    maxSize: MAX_TOMBSTONE_BYTES,
    sizeCalculation: (_stone, name) => TOMBSTONE_OVERHEAD_BYTES + 2 * name.length,
    ttl: tombstoneMs,
    dispose: (stone, _name, reason) => {
      if (reason !== 'evict' || stone.until <= Date.now()) return;
      overflow = {
        hardAt: Math.max(overflow.hardAt, stone.hardAt),
        softAt: Math.max(overflow.softAt, stone.softAt),
        until: Math.max(overflow.until, stone.until),
      };
    },
  });

  const markOne = (name: string, mode: InvalidationMode, at: number) => {
    // peek: a read must not refresh recency, so the oldest purge is the first to go.
    const marks = addPurge(stones.peek(name), mode, at);
    stones.set(name, { ...marks, until: at + tombstoneMs });
    // pop() evicts the least recently set, through dispose like any eviction.
    while (stones.size > max) stones.pop();
  };

  return {
    mark(target, mode, at) {
      if (target.kind === 'all') markOne(ALL, mode, at);
      else if (target.kind === 'tags') for (const tag of target.tags) markOne(`t:${tag}`, mode, at);
      else if (target.kind === 'prefixes')
        for (const site of prefixSites(target.prefixes)) markOne(`s:${site}`, mode, at);
      else for (const key of target.keys) markOne(`k:${key}`, mode, at);
    },
    judge(entry) {
      let hardAt = 0;
      let softAt = 0;
      const take = (stone: PurgeMarks | undefined) => {
        if (stone === undefined) return;
        if (stone.hardAt > hardAt) hardAt = stone.hardAt;
        if (stone.softAt > softAt) softAt = stone.softAt;
      };
      if (overflow.until > Date.now()) take(overflow);
      // No purge within tombstoneMs (the usual case): no names to build and look up.
      if (stones.size === 0) return judgePut(hardAt, softAt, entry);
      take(stones.peek(ALL));
      take(stones.peek(`k:${entry.key}`));
      const site = splitKey(entry.key)?.site;
      if (site !== undefined) take(stones.peek(`s:${site}`));
      for (const tag of entry.tags) take(stones.peek(`t:${tag}`));
      return judgePut(hardAt, softAt, entry);
    },
    sweep: () => {
      stones.purgeStale();
    },
    get size() {
      return stones.size;
    },
    clear() {
      stones.clear();
      overflow = { hardAt: 0, softAt: 0, until: 0 };
    },
  };
}
