import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../utils/logger.js';
import { entryWeight } from './entry-weight.js';
import { createMemoryLeases } from './fill-lease.js';
import { createInvalidationListeners } from './invalidation-event.js';
import { keyInSites } from './key-site.js';
import { MembershipIndex } from './memory-index.js';
import { createMemoryTombstones } from './memory-tombstones.js';
import { SortedStrings } from './sorted-strings.js';
import { DEFAULT_TOMBSTONE_MS, requireTombstoneMs } from './tombstones.js';
import {
  HISTORY_LIMIT,
  INSPECT_LIMIT,
  type InspectedEntry,
  type InvalidationMode,
  type InvalidationTarget,
  type Store,
  type StoredEntry,
  type StoreStats,
} from './types.js';

export interface MemoryStoreOptions {
  /** Upper bound of what all entries weigh together, in bytes (see entryWeight). */
  readonly maxBytes: number;
  /** Entries whose body is larger are not stored (a put of one drops any older entry of its id); defaults to maxBytes. */
  readonly maxObjectBytes?: number;
  /** Reported as the source of invalidation events; a random UUID by default. */
  readonly instanceId?: string;
  /** How often expired entries are swept out, taking their index memberships with them; 30 s by default. */
  readonly sweepIntervalMs?: number;
  /** Where a throwing invalidation listener is reported; a process warning when absent. */
  readonly log?: Logger;
  /**
   * How long a purge refuses (hard) or marks stale (soft) puts of responses fetched before it,
   * in ms; 120 000 by default (see DEFAULT_TOMBSTONE_MS in tombstones.ts for why).
   */
  readonly tombstoneMs?: number;
  /** Most purge tombstones kept at once; 100 000 by default. Past it, see createMemoryTombstones. */
  readonly maxTombstones?: number;
}

/**
 * Sizes of the memory store's indexes: they must shrink as entries leave. For tests and debugging.
 * The key index only holds variants (id ≠ key).
 */
export interface MemoryIndexSizes {
  readonly tags: number;
  readonly keys: number;
  readonly tagMemberships: number;
  readonly keyMemberships: number;
  /** Ids in the ordered index prefix purges walk: one per entry. */
  readonly paths: number;
}

export interface MemoryStore extends Store {
  readonly kind: 'memory';
  /** Synchronous: the cache-hit hot path never awaits the memory store. */
  get(id: string): StoredEntry | undefined;
  stats(): StoreStats;
  indexSizes(): MemoryIndexSizes;
  /** Purge tombstones held now, expired ones not yet swept included. For tests and debugging. */
  tombstoneCount(): number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 30_000;
const DEFAULT_MAX_TOMBSTONES = 100_000;
/** Entries invalidated between two yields to the event loop, so a huge tag does not stall requests. */
const INVALIDATION_BATCH = 5_000;

/**
 * The embedded store: an LRU bounded by bytes with a tag index and a URL key
 * index. The key index names only variants (id ≠ key): a key's own entry is
 * found by its id, and indexing it too cost a Map slot per entry (~100 bytes,
 * see entry-weight.ts). Entries are never changed; a soft purge swaps in a
 * marked copy with the remaining TTL. Every way an entry leaves the cache
 * (eviction, expiry, deletion, replacement) passes through lru-cache's
 * dispose, which removes its index memberships, so the indexes only ever name
 * live or not-yet-swept entries.
 * Each invalidation leaves tombstones that puts of older responses consult
 * (tombstones.ts): everything here is synchronous, so a put is judged and
 * written in one turn of the event loop, and an invalidation records its
 * tombstones before its first yield.
 */
export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const { maxBytes, maxObjectBytes = maxBytes, instanceId = randomUUID(), log } = options;
  const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  requireWholeNumber('maxBytes', maxBytes, 1);
  requireWholeNumber('maxObjectBytes', maxObjectBytes, 1);
  requireWholeNumber('sweepIntervalMs', sweepIntervalMs, 1);
  const tombstoneMs = requireTombstoneMs('memory store', options.tombstoneMs ?? DEFAULT_TOMBSTONE_MS);
  const maxTombstones = options.maxTombstones ?? DEFAULT_MAX_TOMBSTONES;
  requireWholeNumber('maxTombstones', maxTombstones, 1);

  const tags = new MembershipIndex();
  const keys = new MembershipIndex();
  // Every id in order: an id starts with its key, a key with its site, so a prefix purge walks only its matches.
  const paths = new SortedStrings();
  const cache = new LRUCache<string, StoredEntry>({
    maxSize: maxBytes,
    // maxObjectBytes bounds the body, as the cache that writes here counts it; the weight adds headers,
    // tags and overhead, so comparing weight with it refused bodies within ~1 KiB of the limit.
    maxEntrySize: maxBytes,
    sizeCalculation: entryWeight,
    dispose: (entry) => {
      paths.delete(entry.id);
      for (const tag of entry.tags) tags.remove(tag, entry.id);
      if (entry.id !== entry.key) keys.remove(entry.key, entry.id);
    },
  });
  const listeners = createInvalidationListeners(
    log === undefined ? undefined : (err) => log.error({ err }, 'an invalidation listener threw'),
  );
  const tombstones = createMemoryTombstones(tombstoneMs, maxTombstones);
  const history: string[] = [];
  const leases = createMemoryLeases();
  // lru-cache only notices expiry when an entry is touched; the sweep frees the rest and their index ids.
  const sweep = setInterval(() => {
    cache.purgeStale();
    tombstones.sweep();
  }, sweepIntervalMs);
  sweep.unref();

  function softPurge(entry: StoredEntry, now: number): boolean {
    const ttl = cache.getRemainingTTL(entry.id);
    if (!(ttl > 0)) return false;
    const marked = { ...entry, softPurgedAt: now };
    // Same id, same tags: the memberships stay valid, so the replaced value skips dispose.
    cache.set(entry.id, marked, { ttl: Math.max(1, Math.ceil(ttl)), noDisposeOnSet: true });
    return true;
  }

  async function invalidate(target: InvalidationTarget, mode: InvalidationMode) {
    const now = Date.now();
    // Before anything is removed: a put landing while this purge yields is judged by its tombstones.
    tombstones.mark(target, mode, now);
    const { ids, matches } = select(target);
    let entries = 0;
    let seen = 0;
    for (const id of ids) {
      if (++seen % INVALIDATION_BATCH === 0) await yieldToEventLoop();
      // Re-checked after each yield: the entry may have expired or been re-put with other tags.
      const entry = cache.peek(id);
      if (entry === undefined || !matches(entry)) continue;
      if (mode === 'hard') {
        cache.delete(id);
        entries++;
      } else if (softPurge(entry, now)) {
        entries++;
      }
    }
    listeners.emit({ target, mode, source: instanceId });
    return { entries };
  }

  function select(target: InvalidationTarget): {
    ids: Iterable<string>;
    matches: (e: StoredEntry) => boolean;
  } {
    if (target.kind === 'all') return { ids: [...cache.keys()], matches: () => true };
    if (target.kind === 'tags') {
      const wanted = new Set(target.tags);
      const { sites } = target;
      const tagged = (e: StoredEntry) => e.tags.some((tag) => wanted.has(tag));
      return {
        ids: union(tags, wanted),
        matches: sites === undefined ? tagged : (e) => tagged(e) && keyInSites(e.key, sites),
      };
    }
    if (target.kind === 'prefixes') {
      const { prefixes } = target;
      const ids = new Set<string>();
      for (const prefix of prefixes) for (const id of paths.startingWith(prefix)) ids.add(id);
      // An id may extend past its key (a variant): the key itself must start with the prefix.
      return { ids, matches: (e) => prefixes.some((prefix) => e.key.startsWith(prefix)) };
    }
    const wanted = new Set(target.keys);
    // A key's own id (its entry or vary marker) is not in the index: only its variants are.
    const ids = union(keys, wanted);
    for (const key of wanted) ids.push(key);
    return { ids, matches: (e) => wanted.has(e.key) };
  }

  /** Writes the entry unless a tombstone, its TTL or its weight refuses it (see Store.put). */
  function write(entry: StoredEntry, ttlMs: number): boolean {
    if (!(ttlMs >= 1)) {
      cache.delete(entry.id); // useless already; an older entry of the id must not outlive it
      return false;
    }
    if (entry.body.length > maxObjectBytes) {
      cache.delete(entry.id); // refused: an older entry of the id must not outlive it
      return false;
    }
    const verdict = tombstones.judge(entry);
    if (!verdict.write) return false; // fetched before a hard purge of one of its targets: dropped
    // The store keeps the caller's object (see Store.put): no copy, and no Object.freeze, which
    // gave every entry and its headers hidden classes of their own (~700 bytes per entry).
    const stored =
      verdict.softPurgedAt === entry.softPurgedAt ? entry : { ...entry, softPurgedAt: verdict.softPurgedAt };
    // Weighed here, once, rather than by lru-cache and then a peek to learn whether it took it.
    const size = entryWeight(stored);
    if (size > maxBytes) {
      cache.delete(entry.id); // heavier than the whole store: refused, and no older entry outlives it
      return false;
    }
    // dispose() drops the memberships of any entry this replaces; the new ones are added after.
    cache.set(entry.id, stored, { ttl: Math.ceil(ttlMs), size });
    paths.add(stored.id);
    for (const tag of stored.tags) tags.add(tag, stored.id);
    if (stored.id !== stored.key) keys.add(stored.key, stored.id);
    return true;
  }

  /** peek: a look-up must not count as use, nor move the entry in the LRU. */
  function inspect(ids: Iterable<string>, limit: number): InspectedEntry[] {
    const found: InspectedEntry[] = [];
    for (const id of ids) {
      if (found.length >= limit) break;
      const entry = cache.peek(id);
      if (entry === undefined) continue;
      const { body, ...rest } = entry;
      found.push({
        ...rest,
        bodyBytes: body.length,
        ttlMs: Math.max(0, Math.round(cache.getRemainingTTL(id))),
      });
    }
    return found;
  }

  return {
    kind: 'memory',
    get: (id) => cache.get(id),
    put(entry, ttlMs) {
      // Settled promises made once: an async function made a new one for every stored miss.
      try {
        return write(entry, ttlMs) ? WRITTEN : NOT_WRITTEN;
      } catch (err) {
        return Promise.reject(err);
      }
    },
    async delete(id) {
      const existed = cache.has(id);
      cache.delete(id);
      return existed;
    },
    invalidate,
    onInvalidation: (listener) => listeners.add(listener),
    async recordInvalidation(record) {
      history.push(record);
      if (history.length > HISTORY_LIMIT) history.splice(0, history.length - HISTORY_LIMIT);
    },
    recentInvalidations: async (limit) => history.slice(-Math.max(0, limit)).reverse(),
    inspectKey: async (key) => inspect([key, ...keys.ids(key)], INSPECT_LIMIT),
    async inspectTag(tag, limit) {
      const ids = tags.ids(tag);
      return { count: ids.length, entries: inspect(ids, limit) };
    },
    lease: leases.lease,
    release: leases.release,
    onFilled: leases.onFilled,
    ping: async () => {},
    stats: () => ({ entries: cache.size, bytes: cache.calculatedSize }),
    indexSizes: () => ({
      tags: tags.names,
      keys: keys.names,
      tagMemberships: tags.memberships,
      keyMemberships: keys.memberships,
      paths: paths.size,
    }),
    tombstoneCount: () => tombstones.size,
    async close() {
      clearInterval(sweep);
      leases.clear();
      cache.clear();
      paths.clear();
      history.length = 0;
      tombstones.clear();
      listeners.clear();
    },
  };
}

const WRITTEN = Promise.resolve(true);
const NOT_WRITTEN = Promise.resolve(false);

function union(index: MembershipIndex, names: ReadonlySet<string>): string[] {
  if (names.size === 1) {
    for (const name of names) return index.ids(name);
  }
  const ids = new Set<string>();
  for (const name of names) for (const id of index.ids(name)) ids.add(id);
  return [...ids];
}

function requireWholeNumber(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`memory store: ${name} must be a whole number of at least ${min}, got ${value}`);
  }
}
