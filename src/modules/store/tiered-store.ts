import type { Logger } from '../../utils/logger.js';
import type { MemoryStore } from './memory-store.js';
import type { InvalidationMode, InvalidationTarget, Store, StoredEntry } from './types.js';

export interface TieredStoreOptions {
  /** The near tier: this process's memory, answering hits without a round trip. */
  readonly local: MemoryStore;
  /** The shared store every instance reads and writes (Redis, possibly behind a breaker). */
  readonly remote: Store;
  /** A copy lives at most this long in the near tier. */
  readonly localTtlMs: number;
  /** Subscribes to "invalidation events may have been missed" (a pub/sub disconnect). */
  readonly onEventGap: (listener: () => void) => () => void;
  readonly log?: Logger;
}

/**
 * A memory tier in front of the shared store. Hits on the near tier answer
 * synchronously, as on the embedded store; misses read Redis and keep a copy
 * for at most localTtlMs. Copies never outlive a purge made anywhere: every
 * instance's invalidations arrive as pub/sub events and are replayed on the
 * near tier (its own tombstones then refuse a copy of a response fetched
 * before the purge, even one still in flight from Redis), and when events may
 * have been lost (the subscriber disconnected, or reconnected) the near tier
 * is emptied.
 */
export function createTieredStore(opts: TieredStoreOptions): Store {
  const { local, remote, localTtlMs, log } = opts;
  const replay = (target: InvalidationTarget, mode: InvalidationMode) =>
    local
      .invalidate(target, mode)
      .catch((err: unknown) => log?.error({ err }, 'local tier: replaying a purge failed'));
  const unsubscribe = [
    remote.onInvalidation((event) => {
      void replay(event.target, event.mode);
    }),
    opts.onEventGap(() => {
      log?.info('local tier emptied: invalidation events may have been missed');
      void replay({ kind: 'all' }, 'hard');
    }),
  ];
  const keep = (entry: StoredEntry, ttlMs: number) =>
    local
      .put(entry, Math.min(ttlMs, localTtlMs))
      .catch((err: unknown) => log?.warn({ err }, 'local tier: keeping a copy failed'));

  return {
    kind: remote.kind,
    get(id) {
      const near = local.get(id);
      if (near !== undefined) return near;
      const far = remote.get(id);
      const copy = (found: StoredEntry | undefined) => {
        if (found === undefined) return undefined;
        const entry = ownBody(found);
        void keep(entry, localTtlMs);
        return entry;
      };
      return far instanceof Promise ? far.then(copy) : copy(far);
    },
    async put(entry, ttlMs) {
      // Near tier first (its put is synchronous): this instance's next request sees the new
      // copy while the write is still on its way to Redis, and keeps it if Redis fails.
      const kept = keep(entry, ttlMs);
      let written: boolean;
      try {
        written = await remote.put(entry, ttlMs);
      } finally {
        await kept;
      }
      // Refused by a purge made elsewhere whose event is still on its way: the near copy goes too.
      if (!written && local.get(entry.id) === entry) await local.delete(entry.id);
      return written;
    },
    async delete(id) {
      const [removed] = await Promise.all([remote.delete(id), local.delete(id)]);
      return removed;
    },
    async invalidate(target, mode) {
      // Local first: this instance stops serving at once, whatever Redis says.
      await replay(target, mode);
      return remote.invalidate(target, mode);
    },
    onInvalidation: (listener) => remote.onInvalidation(listener),
    recordInvalidation: (record) => remote.recordInvalidation(record),
    recentInvalidations: (limit) => remote.recentInvalidations(limit),
    // The shared store is the truth; the near tier only holds copies of it.
    inspectKey: (key) => remote.inspectKey(key),
    inspectTag: (tag, limit) => remote.inspectTag(tag, limit),
    // Leases are the shared store's: they collapse misses between instances.
    lease: (key, ms, options) => remote.lease(key, ms, options),
    release: (key, outcome, hitForMissMs) => remote.release(key, outcome, hitForMissMs),
    onFilled: (key, listener) => remote.onFilled(key, listener),
    ping: () => remote.ping(),
    stats: () => local.stats(),
    async close() {
      for (const stop of unsubscribe) stop();
      await Promise.allSettled([remote.close(), local.close()]);
    },
  };
}

/**
 * A body read from Redis is a view into a buffer shared with other replies (a
 * socket read, or the parser's pool for big values: 600 KB behind a 200 KB
 * body). Kept as is in the near tier, it would pin all of it for as long as
 * the copy lives, unseen by the byte bound; so the copy gets a buffer of its own.
 */
function ownBody(entry: StoredEntry): StoredEntry {
  const { body, forms } = entry;
  const formsOwned = forms === undefined || (isOwned(forms.gzip) && isOwned(forms.br));
  if (isOwned(body) && formsOwned) return entry;
  return {
    ...entry,
    body: own(body),
    ...(forms === undefined ? {} : { forms: { ...forms, gzip: own(forms.gzip), br: own(forms.br) } }),
  };
}

function isOwned(buf: Buffer | undefined): boolean {
  return buf === undefined || buf.byteLength === buf.buffer.byteLength;
}

function own<T extends Buffer | undefined>(buf: T): T {
  if (buf === undefined || isOwned(buf)) return buf;
  // allocUnsafeSlow, not Buffer.from: small copies would otherwise share Node's 8 KiB pool.
  const owned = Buffer.allocUnsafeSlow(buf.byteLength);
  buf.copy(owned);
  return owned as T;
}
