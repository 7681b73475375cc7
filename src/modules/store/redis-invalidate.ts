import type { ChainableCommander } from 'ioredis';
import { prefixSites, splitKey } from './key-site.js';
import type { RedisConnection } from './redis-connection.js';
import { checkReplies } from './redis-errors.js';
import type { IndexRef, RedisKeys, SiteRef } from './redis-keys.js';
import type { InvalidationMode, InvalidationTarget } from './types.js';

export interface PurgeContext {
  readonly conn: RedisConnection;
  readonly keys: RedisKeys;
  /** Members or keys handled per command: bounds how long Redis runs any one of them. */
  readonly batchSize: number;
  /**
   * Batches sent together, without waiting for one another: a purge pays a round trip per window of
   * batchSize × inFlight members rather than per batch, and Redis still runs other clients' commands
   * between its batches.
   */
  readonly inFlight: number;
  /** Cluster: whether one script may purge the entries of every slot a master serves (Redis 7); set false once it fails for another reason. */
  readonly nodeScripts: { enabled: boolean };
  /** How long each purge tombstone lives (tombstones.ts). */
  readonly tombstoneMs: number;
}

/** What purging an index needs; purging everything empties indexes it found by SCAN, with no field to check. */
type IndexTarget = Pick<IndexRef, 'index' | 'field'>;

/*
 * Why an entry that exists can always be found through each of its tags
 * (so "invalidate the tag again" never misses one):
 *
 * - A put adds the index memberships before writing the entry hash. On a
 *   single node both go in one script. On a Cluster the index zsets and the
 *   hash live on other slots, so the put adds the memberships, then writes
 *   the hash, then adds the memberships once more (idempotent).
 * - A hard invalidation of an index removes a window of members from the zset
 *   first (ZREMs acknowledged) and only then deletes their entries.
 *
 * Suppose that afterwards an entry E exists but its member M is missing from
 * the index. M missing means the invalidation's ZREM of M ran after the put's
 * last ZADD of M. E existing means the put's hash write ran after the
 * invalidation deleted (or looked for) E. But the invalidation's ZREM comes
 * before its delete, and the put's hash write before its last ZADD:
 * ZREM < delete < hash write < last ZADD < ZREM, a contradiction.
 *
 * The same holds for a site's path index (prefix purges): a put adds the
 * path member with the other memberships, and a hard prefix purge removes a
 * window of path members before deleting their entries. A host-scoped tag
 * purge does not remove members at all (other hosts keep theirs).
 *
 * Members that point at missing or re-tagged entries are harmless: the purge
 * script checks, inside Redis, that the entry still carries the index's field,
 * and such members are trimmed once their score (the expiry) has passed.
 *
 * Why a put of a response fetched at or before a purge's time T1 (storedAt
 * <= T1) does not survive that purge, though it lands after it has started
 * or even finished (tombstones.ts):
 *
 * - The purge first writes its tombstones (T1, mode) for every target (each
 *   tag's and URL key's tombstone in its index's slot, each purged site's
 *   prefix tombstone in its path index's slot, or `x:all`), waits for
 *   them all, and only then starts looking for entries.
 * - Single node: the put is one script that reads the tombstones of the
 *   entry's tags, key and `all`, then adds the memberships and writes the hash,
 *   atomically. If it ran after the tombstone write, it saw T1 >= storedAt and
 *   refused the entry (hard) or wrote it stale (soft). If it ran before, the
 *   entry and its members already existed when the purge started looking:
 *   popping the index (hard), ZSCAN (soft) or SCAN (all) finds every element
 *   present from start to end, so the purge itself deletes or marks it.
 * - Cluster: the put is (1) memberships plus a read of that slot's tombstones,
 *   one script per slot; (2) the hash, written stale if (1) saw a soft
 *   purge, not at all if it saw a hard one; (3) memberships plus tombstones
 *   again; (4) if (3) saw a purge (1) had not, a script deletes or marks
 *   whatever is stored under the id if it was fetched at or before that purge.
 *   Take the tombstone of target X: if (3) read it after the purge wrote it,
 *   (4) removes the entry. If (3) read it before, then (2) finished before the
 *   tombstone was written, so before the purge started looking, and the
 *   member was in X's index from (1) on: the purge finds the entry. The `all`
 *   tombstone is read in its own slot, in (1) and (3) alike, with the same
 *   argument: SCAN finds an entry written before it started.
 *
 * What remains open, all of it narrow:
 * - a put landing more than tombstoneMs after the purge is not checked;
 * - clock skew: T1 is the purging instance's clock, storedAt the fetching one's;
 * - a hard purge stops after as many rounds as the index had windows at its
 *   start, plus one: more than a window of new members that sort before an
 *   old one (shorter TTLs), added while a big tag is purged, can push that
 *   old one past the last round (such an entry is still found by the next purge);
 * - Cluster: if step (3) or (4) fails (Redis down, timeout), the put rejects
 *   but the entry written in (2) stays until the next purge or its TTL;
 * - a tombstone acknowledged by a primary that fails over before replicating
 *   it is lost, as any write would be; under a maxmemory policy that evicts
 *   keys with a TTL (volatile-*), tombstones can be evicted early.
 */

export async function purgeTarget(
  ctx: PurgeContext,
  target: InvalidationTarget,
  mode: InvalidationMode,
  now: number,
): Promise<number> {
  // Tombstones first, all of them, before anything is looked for: the argument above depends on it.
  await markTombstones(ctx, target, mode, now);
  if (target.kind === 'all') return purgeAll(ctx, mode, now);
  if (target.kind === 'prefixes') {
    let entries = 0;
    for (const prefix of new Set(target.prefixes)) {
      const split = splitKey(prefix);
      if (split === undefined) continue;
      const site = ctx.keys.site(split.site);
      entries +=
        mode === 'hard'
          ? await purgePaths(ctx, site, split.rest, now)
          : await markPaths(ctx, site, split.rest, now);
    }
    return entries;
  }
  if (target.kind === 'tags' && target.sites !== undefined) {
    // Host-scoped: the tag's other hosts stay, so its index is walked, not popped (members of purged
    // entries stay behind until trimmed; the purge script skips them as it skips any stale member).
    const scope = target.sites.map((site) => `${site}/`);
    let entries = 0;
    for (const tag of new Set(target.tags))
      entries += await markIndex(ctx, ctx.keys.tag(tag), now, mode, scope);
    return entries;
  }
  const refs =
    target.kind === 'tags'
      ? [...new Set(target.tags)].map((tag) => ctx.keys.tag(tag))
      : [...new Set(target.keys)].map((key) => ctx.keys.urlKey(key));
  let entries = 0;
  for (const ref of refs) {
    entries += mode === 'hard' ? await purgeIndex(ctx, ref, now) : await markIndex(ctx, ref, now, 'soft');
  }
  return entries;
}

/** Writes the target's tombstones, batchSize keys per script and slot, all batches in flight at once. */
async function markTombstones(
  ctx: PurgeContext,
  target: InvalidationTarget,
  mode: InvalidationMode,
  now: number,
): Promise<void> {
  const { conn, keys, batchSize, tombstoneMs } = ctx;
  const names =
    target.kind === 'all'
      ? [keys.allTombstone]
      : target.kind === 'tags'
        ? [...new Set(target.tags)].map((tag) => keys.tag(tag).tombstone)
        : target.kind === 'prefixes'
          ? prefixSites(target.prefixes).map((site) => keys.site(site).tombstone)
          : [...new Set(target.keys)].map((key) => keys.urlKey(key).tombstone);
  const batches: string[][] = [];
  for (const group of conn.group(names)) {
    for (let i = 0; i < group.length; i += batchSize) batches.push(group.slice(i, i + batchSize));
  }
  await Promise.all(
    batches.map((batch) => conn.client.tcMarkTombstones(batch.length, ...batch, mode, now, tombstoneMs)),
  );
}

/** Hard: pops the index a window at a time (popWindows). */
async function purgeIndex(ctx: PurgeContext, ref: IndexTarget, now: number): Promise<number> {
  const { client } = ctx.conn;
  return popWindows(
    ctx,
    () => client.zrange(ref.index, 0, ctx.batchSize * ctx.inFlight - 1),
    () => client.zcard(ref.index),
    (multi, batch) => multi.zrem(ref.index, ...batch),
    ctx.keys.entryOfMember,
    ref.field,
    now,
  );
}

/**
 * The loop of a hard purge that pops members: `read` gives a window (the first members left), whose
 * batches are each taken out of their index(es) by `remove` and only then have their entries deleted:
 * in one MULTI on a single node (a purge cut short leaves no batch half done), after the removal is
 * acknowledged on a Cluster. All batches of a window are in flight at once. Bounded by the size at
 * the start (`count`), in windows, plus one: a tag written to without pause must not keep one purge
 * running forever.
 */
async function popWindows(
  ctx: PurgeContext,
  read: () => Promise<string[]>,
  count: () => Promise<number>,
  remove: (commands: ChainableCommander, batch: string[]) => ChainableCommander,
  entryOf: (member: string) => string,
  checkField: string,
  now: number,
): Promise<number> {
  const { conn } = ctx;
  const window = ctx.batchSize * ctx.inFlight;
  const takeOut = async (batch: string[]): Promise<number> => {
    const entryKeys = batch.map(entryOf);
    if (conn.kind === 'redis') {
      const commands = remove(conn.client.multi(), batch);
      const replies = checkReplies(
        await commands.tcPurgeEntries(entryKeys.length, ...entryKeys, 'hard', checkField, now).exec(),
        'invalidate',
      );
      return Number(replies[replies.length - 1]);
    }
    checkReplies(await remove(conn.client.pipeline(), batch).exec(), 'invalidate');
    return purgeEntries(ctx, entryKeys, 'hard', checkField, now);
  };
  let entries = 0;
  let rounds = 1;
  for (let round = 0; round < rounds; round++) {
    const members = await read();
    if (members.length === 0) break;
    if (round === 0 && members.length === window) rounds = Math.ceil((await count()) / window) + 1;
    const counts = await Promise.all(chunks(members, ctx.batchSize).map(takeOut));
    for (const n of counts) entries += n;
    if (members.length < window) break;
  }
  return entries;
}

/**
 * Walks the index with ZSCAN and purges each batch without removing members: soft marks stay
 * findable; a host-scoped hard purge deletes only the scope's entries (scope: key prefixes).
 * The next page is scanned while the batches of this one are purged.
 */
async function markIndex(
  ctx: PurgeContext,
  ref: IndexTarget,
  now: number,
  mode: InvalidationMode,
  scope: readonly string[] = [],
): Promise<number> {
  const scan = async (cursor: string) => {
    const [next, flat] = await ctx.conn.client.zscan(
      ref.index,
      cursor,
      'COUNT',
      ctx.batchSize * ctx.inFlight,
    );
    const entryKeys: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const member = flat[i];
      if (member !== undefined) entryKeys.push(ctx.keys.entryOfMember(member));
    }
    return { next, entryKeys };
  };
  let entries = 0;
  let page = await scan('0');
  for (;;) {
    const [counts, following] = await Promise.all([
      purgeWindow(ctx, page.entryKeys, mode, ref.field, now, scope),
      page.next === '0' ? undefined : scan(page.next),
    ]);
    entries += counts;
    if (following === undefined) return entries;
    page = following;
  }
}

/** Upper bound of a ZRANGEBYLEX over a prefix: 0xff never occurs in UTF-8, so it sorts after every match. */
function lexRange(rest: string): [Buffer, Buffer] {
  const from = Buffer.from(`[${rest}`);
  return [from, Buffer.concat([from, Buffer.from([0xff])])];
}

/**
 * Hard prefix purge: takes the site's members under the path prefix a window at a time, removes them
 * from both path zsets, then deletes their entries (the order redis-invalidate's argument needs).
 * Bounded by the matches at the start, as purgeIndex is by the index size.
 */
async function purgePaths(ctx: PurgeContext, site: SiteRef, rest: string, now: number): Promise<number> {
  const { client } = ctx.conn;
  const [from, to] = lexRange(rest);
  return popWindows(
    ctx,
    () => client.zrangebylex(site.lex, from, to, 'LIMIT', 0, ctx.batchSize * ctx.inFlight),
    () => client.zlexcount(site.lex, from, to),
    // Both zsets share the site's slot: one pipeline, or one MULTI, holds them.
    (commands, batch) => commands.zrem(site.lex, ...batch).zrem(site.expiry, ...batch),
    ctx.keys.entryOfPathMember,
    site.field,
    now,
  );
}

/** Soft prefix purge: pages through the matches in path order and marks their entries; members stay. */
async function markPaths(ctx: PurgeContext, site: SiteRef, rest: string, now: number): Promise<number> {
  const { conn, keys, batchSize, inFlight } = ctx;
  const window = batchSize * inFlight;
  const [first, to] = lexRange(rest);
  const read = (from: Buffer) => conn.client.zrangebylex(site.lex, from, to, 'LIMIT', 0, window);
  let entries = 0;
  let members = await read(first);
  while (members.length > 0) {
    const last = members[members.length - 1];
    const [count, next] = await Promise.all([
      purgeWindow(ctx, members.map(keys.entryOfPathMember), 'soft', site.field, now),
      members.length < window || last === undefined ? [] : read(Buffer.from(`(${last}`)),
    ]);
    entries += count;
    members = next;
  }
  return entries;
}

/** SCANs every master; entries are purged or marked, indexes (hard only) are emptied the safe way. */
async function purgeAll(ctx: PurgeContext, mode: InvalidationMode, now: number): Promise<number> {
  const { conn, keys } = ctx;
  let entries = 0;
  for (const node of conn.masters()) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', keys.scanPattern, 'COUNT', ctx.batchSize);
      cursor = next;
      entries += await purgeEntries(ctx, found.filter(keys.isEntry), mode, '', now);
      if (mode === 'hard') {
        // Not UNLINK: a put racing this purge may have just added itself; popping members keeps it findable.
        const indexes = found.filter((key) => !keys.isEntry(key));
        const counts = await Promise.all(indexes.map((index) => purgeIndex(ctx, { index, field: '' }, now)));
        for (const count of counts) entries += count;
      }
    } while (cursor !== '0');
  }
  return entries;
}

/** A window of entries, batchSize per script, all batches in flight. */
async function purgeWindow(
  ctx: PurgeContext,
  entryKeys: readonly string[],
  mode: InvalidationMode,
  checkField: string,
  now: number,
  scope: readonly string[] = [],
): Promise<number> {
  const counts = await Promise.all(
    chunks(entryKeys, ctx.batchSize).map((batch) => purgeEntries(ctx, batch, mode, checkField, now, scope)),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/**
 * Runs the purge script on the entries: once on a single node; on a Cluster once per master that
 * serves some of them, or, where that cannot be done (Redis 6, a slot map gone stale), once per slot.
 */
async function purgeEntries(
  ctx: PurgeContext,
  entryKeys: readonly string[],
  mode: InvalidationMode,
  checkField: string,
  now: number,
  scope: readonly string[] = [],
): Promise<number> {
  const { conn, nodeScripts } = ctx;
  const { client } = conn;
  const perSlot = (keys: readonly string[]) =>
    conn
      .group(keys)
      .map((group) => client.tcPurgeEntries(group.length, ...group, mode, checkField, now, ...scope));
  const runs =
    conn.kind === 'redis' || !nodeScripts.enabled
      ? perSlot(entryKeys)
      : conn.groupByNode(entryKeys).map(async (group) => {
          const [first] = group;
          if (first === undefined) return 0;
          if (group.length === 1) return client.tcPurgeEntries(1, first, mode, checkField, now, ...scope);
          try {
            return await client.tcPurgeNodeEntries(
              1,
              first,
              mode,
              checkField,
              now,
              group.length,
              ...group,
              ...scope,
            );
          } catch (err) {
            // The script writes nothing unless every key is served where it runs, so this is safe to redo.
            // A server without script flags (Redis 6) refuses to compile it: stop asking.
            if (/shebang|compil|flag/i.test(String(err))) nodeScripts.enabled = false;
            const counts = await Promise.all(perSlot(group));
            return counts.reduce((sum, count) => sum + count, 0);
          }
        });
  const counts = await Promise.all(runs);
  return counts.reduce((sum, count) => sum + count, 0);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
