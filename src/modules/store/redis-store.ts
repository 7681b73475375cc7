import { randomUUID } from 'node:crypto';
import { TagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import { decodeEntry, ENTRY_FIELDS } from './redis-codec.js';
import { createRedisConnection, type RedisSentinels } from './redis-connection.js';
import { createEntryMemo } from './redis-entry-memo.js';
import { toStoreError } from './redis-errors.js';
import { purgeTarget } from './redis-invalidate.js';
import { createRedisKeys } from './redis-keys.js';
import { createRedisLeases } from './redis-lease.js';
import { createInvalidationChannel } from './redis-pubsub.js';
import { putEntry } from './redis-put.js';
import { tickReads } from './tick-reads.js';
import { DEFAULT_TOMBSTONE_MS, requireTombstoneMs } from './tombstones.js';
import {
  HISTORY_LIMIT,
  INSPECT_LIMIT,
  type InspectedEntry,
  type InvalidationTarget,
  type StepRunner,
  type Store,
  type StoredEntry,
} from './types.js';

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL of a single node. */
  readonly url?: string;
  /** Sentinels naming the current master; when given, url is not used. */
  readonly sentinels?: RedisSentinels;
  /** Seed nodes of a Redis Cluster; when given, url is not used. */
  readonly clusterNodes?: readonly { readonly host: string; readonly port: number }[];
  /** Namespace of every key and of the invalidation channel, e.g. "tc:". */
  readonly prefix: string;
  /** Deadline of each command; past it the operation rejects with TC_STORE_TIMEOUT. */
  readonly commandTimeoutMs: number;
  /** Reported as the source of invalidation events; a random UUID by default. */
  readonly instanceId?: string;
  /** Connection trouble is logged here at warn, once per change of state. */
  readonly log?: Logger;
  /** Index members are trimmed this long after they expire: an allowance for clock skew between nodes. Default 1000. */
  readonly indexGraceMs?: number;
  /**
   * Members or keys per invalidation command; default 250: a batch holds Redis for about a
   * millisecond (bench:store), and the whole purge is no slower for it.
   */
  readonly batchSize?: number;
  /** Batches of a purge in flight at once (redis-invalidate.ts); default 8. */
  readonly purgeInFlight?: number;
  /**
   * How long a purge refuses (hard) or marks stale (soft) puts of responses fetched before it,
   * in ms; 120 000 by default (see DEFAULT_TOMBSTONE_MS in tombstones.ts for why).
   */
  readonly tombstoneMs?: number;
  /** Times a purge's steps (the Redis work, the pub/sub publish); see StepRunner. */
  readonly step?: StepRunner;
  /** The `redis` fast path (FAST_PATHS); see RedisConnectionOptions.fastCommands. Default on. */
  readonly fastCommands?: boolean;
}

export interface RedisStore extends Store {
  readonly kind: 'redis' | 'redis-cluster';
  get(id: string): Promise<StoredEntry | undefined>;
  /** Called when invalidation events may have been missed (see InvalidationChannel.onGap). */
  onEventGap(listener: () => void): () => void;
}

/**
 * The shared store: entry hashes plus tag and URL-key indexes in Redis, single
 * node or Cluster (see redis-keys.ts for the layout, redis-invalidate.ts for
 * why concurrent puts and purges never lose an entry, tombstones.ts for why a
 * put of a response fetched before a purge is refused or written stale).
 * Every failure rejects with TC_STORE_UNAVAILABLE or TC_STORE_TIMEOUT; the
 * same instance recovers when Redis comes back.
 */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const { prefix, commandTimeoutMs, log, instanceId = randomUUID() } = options;
  const step: StepRunner = options.step ?? ((_name, work) => work());
  const indexGraceMs = options.indexGraceMs ?? 1_000;
  const batchSize = options.batchSize ?? 250;
  const tombstoneMs = requireTombstoneMs('redis store', options.tombstoneMs ?? DEFAULT_TOMBSTONE_MS);
  const conn = createRedisConnection({
    url: options.url,
    clusterNodes: options.clusterNodes,
    sentinels: options.sentinels,
    commandTimeoutMs,
    log,
    fastCommands: options.fastCommands,
  });
  const { client } = conn;
  const keys = createRedisKeys(prefix);
  const channel = createInvalidationChannel(conn, keys.channel, log);
  const inFlight = options.purgeInFlight ?? 8;
  const purgeContext = { conn, keys, batchSize, inFlight, nodeScripts: { enabled: true }, tombstoneMs };
  const putContext = { conn, keys, indexGraceMs };
  let closed = false;
  const leases = createRedisLeases(conn, prefix, (operation, work) => run(operation, work), log);
  const decodeHit = createEntryMemo();
  const reads = tickReads((id) =>
    run(
      'get',
      () => conn.hmgetBuffer(keys.entry(id), ENTRY_FIELDS),
      (values) => decodeHit(id, values),
    ),
  );

  /**
   * Every operation's way to Redis: refused after close(), held until the first connection
   * settles, its commands sent with the tick's others (conn.batch), every failure a store error.
   * `then` maps the reply in the same promise step that maps a failure: a hit pays one step here.
   */
  function run<T>(operation: string, work: () => Promise<T>): Promise<T>;
  function run<T, R>(operation: string, work: () => Promise<T>, then: (value: T) => R): Promise<R>;
  function run<T, R>(operation: string, work: () => Promise<T>, then?: (value: T) => R): Promise<T | R> {
    if (closed) {
      return Promise.reject(
        new TagcacheError('TC_STORE_UNAVAILABLE', `redis store: ${operation} after close()`, 503),
      );
    }
    // A get after any other operation is sent again, never answered by one sent before it.
    if (operation !== 'get') reads.forget();
    if (conn.started) {
      conn.batch();
      return attempt(work).then(then, (err: unknown) => {
        throw toStoreError(err, operation);
      });
    }
    // Settled as many steps after the reply as a call sent at once (not one promise resolved with
    // another, two steps more): calls answered in one read keep their order, so of two misses
    // that met a fresh connection the first still leads the collapse.
    return new Promise<T | R>((resolve, reject) => {
      void conn.waitForStart().then(() => {
        conn.batch();
        attempt(work).then(
          (value) => {
            try {
              resolve(then === undefined ? value : then(value));
            } catch (err) {
              reject(err);
            }
          },
          (err: unknown) => reject(toStoreError(err, operation)),
        );
      });
    });
  }

  /** An entry hash read without its body; undefined when gone, or when its key is not the one expected. */
  async function inspectEntry(entryKey: string, matches: (e: StoredEntry) => boolean) {
    // The whole blob is read: its body is appended to it. Look-ups are admin work, bounded by INSPECT_LIMIT.
    const [values, ttlMs] = await Promise.all([
      client.hmgetBuffer(entryKey, ...ENTRY_FIELDS),
      client.pttl(entryKey),
    ]);
    const entry = decodeEntry(undefined, values);
    if (entry === undefined || !matches(entry)) return undefined;
    const { body, ...rest } = entry;
    const inspected: InspectedEntry = { ...rest, bodyBytes: body.length, ttlMs: Math.max(0, ttlMs) };
    return inspected;
  }

  const present = (found: (InspectedEntry | undefined)[]) =>
    found.filter((entry): entry is InspectedEntry => entry !== undefined);

  return {
    kind: conn.kind,
    get: (id) => reads.read(id),
    put: (entry, ttlMs) =>
      leases.track(
        entry.key,
        run('put', () => putEntry(putContext, entry, ttlMs)),
      ),
    delete: (id) => run('delete', async () => (await client.unlink(keys.entry(id))) > 0),
    invalidate: (target, mode) =>
      run('invalidate', async () => {
        const entries = await step('tagcache.store.purge', () =>
          purgeTarget(purgeContext, target, mode, Date.now()),
        );
        await step('tagcache.store.publish', () =>
          channel.publish({ target: copyTarget(target), mode, source: instanceId }),
        );
        return { entries };
      }),
    onInvalidation: (listener) => channel.listen(listener),
    recordInvalidation: (record) =>
      run('history', async () => {
        // A capped stream: ~ lets Redis trim whole nodes, so the cap costs nothing per write.
        await client.xadd(keys.history, 'MAXLEN', '~', HISTORY_LIMIT, '*', 'r', record);
      }),
    recentInvalidations: (limit) =>
      run('history', async () => {
        if (limit < 1) return [];
        const rows = await client.xrevrange(keys.history, '+', '-', 'COUNT', limit);
        return rows.flatMap(([, fields]) =>
          fields[0] === 'r' && fields[1] !== undefined ? [fields[1]] : [],
        );
      }),
    onEventGap: (listener) => channel.onGap(listener),
    inspectKey: (key) =>
      run('inspect', async () => {
        const members = await client.zrange(keys.urlKey(key).index, 0, INSPECT_LIMIT - 2);
        // The key's own entry is a member too: a Set keeps it once.
        const entryKeys = [...new Set([keys.entry(key), ...members.map(keys.entryOfMember)])];
        return present(await Promise.all(entryKeys.map((k) => inspectEntry(k, (e) => e.key === key))));
      }),
    inspectTag: (tag, limit) =>
      run('inspect', async () => {
        const index = keys.tag(tag).index;
        // Scores are expiry times: members above now name entries that may still live.
        const now = Date.now();
        const [count, members] = await Promise.all([
          client.zcount(index, now, '+inf'),
          client.zrangebyscore(index, now, '+inf', 'LIMIT', 0, limit),
        ]);
        const found = await Promise.all(
          members.map((m) => inspectEntry(keys.entryOfMember(m), (e) => e.tags.includes(tag))),
        );
        return { count, entries: present(found) };
      }),
    lease: leases.lease,
    release: leases.release,
    onFilled: leases.onFilled,
    ping: () =>
      run('ping', async () => {
        await client.ping();
      }),
    stats: () => undefined,
    async close() {
      if (closed) return;
      closed = true;
      reads.forget();
      channel.close();
      leases.close();
      await conn.close();
    },
  };
}

/** work(), its synchronous throw a rejection. */
function attempt<T>(work: () => Promise<T>): Promise<T> {
  try {
    return work();
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Only the fields of the contract go on the wire, whatever else the caller's object carries. */
function copyTarget(target: InvalidationTarget): InvalidationTarget {
  if (target.kind === 'tags') {
    const tags = [...target.tags];
    return target.sites === undefined
      ? { kind: 'tags', tags }
      : { kind: 'tags', tags, sites: [...target.sites] };
  }
  if (target.kind === 'prefixes') return { kind: 'prefixes', prefixes: [...target.prefixes] };
  if (target.kind === 'keys') return { kind: 'keys', keys: [...target.keys] };
  return { kind: 'all' };
}
