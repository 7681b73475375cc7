import type { FillLeases } from './fill-lease.js';

export type { FillLeases, FillOutcome, LeaseOptions, LeaseState } from './fill-lease.js';

/**
 * The store holds cache entries and a tag index. It knows nothing of HTTP:
 * status, headers and policy are data it keeps, never reads.
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Runs a named step of a store operation, so an operator can see it timed
 * (a tracing span); without tracing it simply runs the step.
 */
export type StepRunner = <T>(name: string, step: () => Promise<T>) => Promise<T>;

export interface StoredEntry {
  /** Unique id: a cache key, plus a variant suffix when the response varies. */
  readonly id: string;
  /** The primary cache key; every variant of one URL shares it, and URL invalidation works on it. */
  readonly key: string;
  readonly status: number;
  /** Response headers as they will be served, lower-case names. */
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** The body, binary-safe. */
  readonly body: Buffer;
  /** The serialised cache policy; opaque to the store. */
  readonly policy: string;
  /** Surrogate keys, exact case-sensitive strings. */
  readonly tags: readonly string[];
  readonly url: string;
  readonly route: string;
  /** Epoch ms when the response was fetched (its request went upstream); purges after it refuse its write. */
  readonly storedAt: number;
  /** Epoch ms of the last soft purge, or 0: a soft-purged entry is stale from that moment. */
  readonly softPurgedAt: number;
  /** Other encodings of the body, made once when the entry was stored; the store keeps them with it. */
  readonly forms?: EntryForms;
}

/** Encoded copies of an entry's body, by content coding. */
export interface EntryForms {
  readonly gzip?: Buffer;
  readonly br?: Buffer;
  /** The coding the backend itself sent the body in, when it sent one; its validators describe that form. */
  readonly source?: string;
  /**
   * Codings worth making that are not made yet: each is made the first time a client that
   * takes it asks, and written back with the entry (cache/lazy-forms.ts). An instance that
   * does not know this field answers identity, which every such entry holds.
   */
  readonly pending?: readonly ('gzip' | 'br')[];
}

export type InvalidationMode = 'hard' | 'soft';

export type InvalidationTarget =
  /** With sites (`scheme://host`, see key-site.ts), only the tagged entries whose key is on one of them. */
  | { readonly kind: 'tags'; readonly tags: readonly string[]; readonly sites?: readonly string[] }
  | { readonly kind: 'keys'; readonly keys: readonly string[] }
  /** Key prefixes `scheme://host/path…`: every entry whose key starts with one, found through its site's path index. */
  | { readonly kind: 'prefixes'; readonly prefixes: readonly string[] }
  | { readonly kind: 'all' };

export interface InvalidationResult {
  /** Entries deleted (hard) or marked stale (soft). */
  readonly entries: number;
}

/** Announced to every instance sharing the store, including the one that made it. */
export interface InvalidationEvent {
  readonly target: InvalidationTarget;
  readonly mode: InvalidationMode;
  /** Instance id of the store that made the invalidation. */
  readonly source: string;
}

/** Records the invalidation history keeps (Redis trims to about this many). */
export const HISTORY_LIMIT = 1000;

/** What a look-up shows of an entry: everything but the body, with the body's size and the time left. */
export interface InspectedEntry extends Omit<StoredEntry, 'body'> {
  readonly bodyBytes: number;
  /** Until the store drops it (freshness plus stale windows plus keep), ms. */
  readonly ttlMs: number;
}

/** Most variants a look-up lists for one key. */
export const INSPECT_LIMIT = 100;

export interface StoreStats {
  readonly entries: number;
  readonly bytes: number;
}

/** Fill leases (fill-lease.ts) collapse misses across the instances sharing the store. */
export interface Store extends FillLeases {
  readonly kind: 'memory' | 'redis' | 'redis-cluster';
  /** Memory answers synchronously; Redis with a promise. Expired entries are never returned. */
  get(id: string): MaybePromise<StoredEntry | undefined>;
  /**
   * Writes the entry with its tag and key memberships, together or not at all.
   * The entry is handed over: the memory store keeps the very object, so the
   * caller must not change it afterwards (entries are never mutated; a soft
   * purge replaces one).
   * ttlMs is how long the entry stays useful (freshness plus stale windows plus keep).
   * Resolves false when the entry was not written: a purge after its storedAt refused it
   * (tombstones.ts), or it cannot be kept (too heavy, no time left).
   */
  put(entry: StoredEntry, ttlMs: number): Promise<boolean>;
  /** Deletes one entry; resolves true when it existed. */
  delete(id: string): Promise<boolean>;
  /** Hard: delete every matching entry. Soft: set softPurgedAt on each. Works in bounded batches. */
  invalidate(target: InvalidationTarget, mode: InvalidationMode): Promise<InvalidationResult>;
  /** Subscribe to invalidations made through any instance; returns the unsubscribe function. */
  onInvalidation(listener: (event: InvalidationEvent) => void): () => void;
  /**
   * Appends one record (opaque text) to the invalidation history every instance sharing the store
   * reads; the history is capped at HISTORY_LIMIT records, the oldest dropped.
   */
  recordInvalidation(record: string): Promise<void>;
  /** The newest history records first, at most limit. */
  recentInvalidations(limit: number): Promise<string[]>;
  /** The entry at a key's own id (the response, or a vary marker) and its variants, at most INSPECT_LIMIT. */
  inspectKey(key: string): Promise<InspectedEntry[]>;
  /** How many live entries carry the tag (Redis: index members not yet expired), and the first `limit`. */
  inspectTag(tag: string, limit: number): Promise<{ count: number; entries: InspectedEntry[] }>;
  /** Resolves when the store answers; rejects with a TC_STORE_* error otherwise. */
  ping(): Promise<void>;
  /** Size of what this process holds, where the store can tell cheaply (memory store). */
  stats(): StoreStats | undefined;
  close(): Promise<void>;
}
