/*
 * Purge tombstones: why a put can be refused.
 *
 * The cache writes an entry after the response has streamed to the client,
 * so a put can land after a purge that should have removed it: fetched at T0
 * (entry.storedAt, when its request went upstream), purged at T1 > T0, written at T2 > T1. Every invalidation
 * therefore leaves, per target (each tag, each URL key, or everything), the
 * time of its newest hard and newest soft purge for a short while, and every
 * put asks the tombstones of the entry's tags, its key and `all`:
 *
 * - a hard purge after storedAt: the put is dropped (not an error);
 * - otherwise a soft purge after storedAt: the entry is written stale,
 *   softPurgedAt set to that purge's time;
 * - otherwise the entry is written as it is.
 *
 * Strictly after: the cache stamps storedAt with the time its request went
 * upstream, so a request sent in the purge's own millisecond is taken to
 * follow the purge. Otherwise a client that purges and reads back at once
 * (within the same millisecond on loopback) would see its fresh fetch dropped.
 *
 * Both times are kept per target, not just the last purge: a soft purge right
 * after a hard one must not turn "drop" into "keep, stale" for a response
 * fetched before the hard one.
 *
 * Times are the purging and the fetching instances' wall clocks (Date.now()),
 * so instances sharing a Redis must keep their clocks in step (NTP): a skew of
 * s ms lets a response fetched up to s ms before a purge through a fast
 * instance survive it.
 */

/**
 * How long a tombstone lives by default: the longest a fetched response can
 * plausibly wait between its storedAt (request sent) and its put
 * landing. That wait is the body download (each read may idle up to
 * UPSTREAM_BODY_TIMEOUT_MS, 30 s by default; MAX_OBJECT_BYTES bounds what is
 * buffered) plus the put's own store round trips (STORE_TIMEOUT_MS, one retry).
 * Two minutes covers a 10 MiB body at under 100 KB/s. A put later than the
 * tombstone window after a purge is no longer checked against it.
 */
export const DEFAULT_TOMBSTONE_MS = 120_000;

/** The newest purges of one target, epoch ms; 0 for none. */
export interface PurgeMarks {
  readonly hardAt: number;
  readonly softAt: number;
}

export type PutVerdict =
  | { readonly write: false }
  /** softPurgedAt: what the entry is written with (its own value, or a later soft purge's time). */
  | { readonly write: true; readonly softPurgedAt: number };

/** The marks of one more purge merged into what a target already had: each time only moves forward. */
export function addPurge(marks: PurgeMarks | undefined, mode: 'hard' | 'soft', at: number): PurgeMarks {
  const hardAt = marks?.hardAt ?? 0;
  const softAt = marks?.softAt ?? 0;
  return mode === 'hard'
    ? { hardAt: Math.max(hardAt, at), softAt }
    : { hardAt, softAt: Math.max(softAt, at) };
}

/** Decides a put from the newest hard and soft purge times among the targets it touches. */
export function judgePut(
  hardAt: number,
  softAt: number,
  entry: { readonly storedAt: number; readonly softPurgedAt: number },
): PutVerdict {
  // 0 is "no purge", whatever storedAt says.
  if (hardAt > 0 && hardAt > entry.storedAt) return { write: false };
  if (softAt > 0 && softAt > entry.storedAt)
    return { write: true, softPurgedAt: Math.max(entry.softPurgedAt, softAt) };
  return { write: true, softPurgedAt: entry.softPurgedAt };
}

/** Checked at the door: a tombstone window of 0 or NaN would silently switch the protection off. */
export function requireTombstoneMs(owner: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${owner}: tombstoneMs must be a whole number of at least 1, got ${value}`);
  }
  return value;
}
