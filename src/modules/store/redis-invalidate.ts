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
 * - A hard invalidation of an index removes a batch of members from the zset
 *   first and only then deletes their entries (one MULTI on a single node).
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
 * batch of path members before deleting their entries. A host-scoped tag
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
 * - a hard purge stops after as many rounds as the index had batches at its
 *   start, plus one: more than a batch of new members that sort before an
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

/** Hard: pops the index batch by batch, deleting each batch's entries after its members left the index. */
async function purgeIndex(ctx: PurgeContext, ref: IndexTarget, now: number): Promise<number> {
  const { client } = ctx.conn;
  let entries = 0;
  // Bounded by the size at the start: a tag written to without pause must not keep one purge running forever.
  let rounds = 1;
  for (let round = 0; round < rounds; round++) {
    const members = await client.zrange(ref.index, 0, ctx.batchSize - 1);
    if (members.length === 0) break;
    if (round === 0 && members.length === ctx.batchSize) {
      rounds = Math.ceil((await client.zcard(ref.index)) / ctx.batchSize) + 1;
    }
    entries += await removeMembers(ctx, ref, members, now);
    if (members.length < ctx.batchSize) break;
  }
  return entries;
}

async function removeMembers(
  ctx: PurgeContext,
  ref: IndexTarget,
  members: string[],
  now: number,
): Promise<number> {
  const { conn, keys } = ctx;
  const entryKeys = members.map(keys.entryOfMember);
  if (conn.kind === 'redis') {
    const replies = checkReplies(
      await conn.client
        .multi()
        .zrem(ref.index, ...members)
        .tcPurgeEntries(entryKeys.length, ...entryKeys, 'hard', ref.field, now)
        .exec(),
      'invalidate',
    );
    return Number(replies[1]);
  }
  await conn.client.zrem(ref.index, ...members);
  return purgeEntries(ctx, entryKeys, 'hard', ref.field, now);
}

/**
 * Walks the index with ZSCAN and purges each batch without removing members: soft marks stay
 * findable; a host-scoped hard purge deletes only the scope's entries (scope: key prefixes).
 */
async function markIndex(
  ctx: PurgeContext,
  ref: IndexTarget,
  now: number,
  mode: InvalidationMode,
  scope: readonly string[] = [],
): Promise<number> {
  let entries = 0;
  let cursor = '0';
  do {
    const [next, flat] = await ctx.conn.client.zscan(ref.index, cursor, 'COUNT', ctx.batchSize);
    cursor = next;
    const entryKeys: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const member = flat[i];
      if (member !== undefined) entryKeys.push(ctx.keys.entryOfMember(member));
    }
    entries += await purgeEntries(ctx, entryKeys, mode, ref.field, now, scope);
  } while (cursor !== '0');
  return entries;
}

/** Upper bound of a ZRANGEBYLEX over a prefix: 0xff never occurs in UTF-8, so it sorts after every match. */
function lexRange(rest: string): [Buffer, Buffer] {
  const from = Buffer.from(`[${rest}`);
  return [from, Buffer.concat([from, Buffer.from([0xff])])];
}

/**
 * Hard prefix purge: takes the site's members under the path prefix batch by batch, removes them
 * from both path zsets, then deletes their entries (the order redis-invalidate's argument needs).
 * Bounded by the matches at the start, as purgeIndex is by the index size.
 */
async function purgePaths(ctx: PurgeContext, site: SiteRef, rest: string, now: number): Promise<number> {
  const { conn, keys, batchSize } = ctx;
  const { client } = conn;
  const [from, to] = lexRange(rest);
  let entries = 0;
  let rounds = 1;
  for (let round = 0; round < rounds; round++) {
    const members = await client.zrangebylex(site.lex, from, to, 'LIMIT', 0, batchSize);
    if (members.length === 0) break;
    if (round === 0 && members.length === batchSize) {
      rounds = Math.ceil((await client.zlexcount(site.lex, from, to)) / batchSize) + 1;
    }
    const entryKeys = members.map(keys.entryOfPathMember);
    if (conn.kind === 'redis') {
      const replies = checkReplies(
        await client
          .multi()
          .zrem(site.lex, ...members)
          .zrem(site.expiry, ...members)
          .tcPurgeEntries(entryKeys.length, ...entryKeys, 'hard', site.field, now)
          .exec(),
        'invalidate',
      );
      entries += Number(replies[2]);
    } else {
      await Promise.all([client.zrem(site.lex, ...members), client.zrem(site.expiry, ...members)]);
      entries += await purgeEntries(ctx, entryKeys, 'hard', site.field, now);
    }
    if (members.length < batchSize) break;
  }
  return entries;
}

/** Soft prefix purge: pages through the matches in path order and marks their entries; members stay. */
async function markPaths(ctx: PurgeContext, site: SiteRef, rest: string, now: number): Promise<number> {
  const { conn, keys, batchSize } = ctx;
  let [from] = lexRange(rest);
  const [, to] = lexRange(rest);
  let entries = 0;
  for (;;) {
    const members = await conn.client.zrangebylex(site.lex, from, to, 'LIMIT', 0, batchSize);
    if (members.length === 0) break;
    entries += await purgeEntries(ctx, members.map(keys.entryOfPathMember), 'soft', site.field, now);
    if (members.length < batchSize) break;
    from = Buffer.from(`(${members[members.length - 1]}`);
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

/** Runs the purge script once per slot group (one group on a single node). */
async function purgeEntries(
  ctx: PurgeContext,
  entryKeys: readonly string[],
  mode: InvalidationMode,
  checkField: string,
  now: number,
  scope: readonly string[] = [],
): Promise<number> {
  const { client } = ctx.conn;
  const counts = await Promise.all(
    ctx.conn
      .group(entryKeys)
      .map((group) => client.tcPurgeEntries(group.length, ...group, mode, checkField, now, ...scope)),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}
