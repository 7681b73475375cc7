import { splitKey } from './key-site.js';
import { encodeEntry } from './redis-codec.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { judgePut } from './tombstones.js';
import type { StoredEntry } from './types.js';

export interface PutContext {
  readonly conn: RedisConnection;
  readonly keys: RedisKeys;
  /** Index members are trimmed this long after they expire. */
  readonly indexGraceMs: number;
}

/** Tests only: a pause at the one point of a Cluster put where a racing purge can slip in unseen. */
export interface PutProbe {
  /** Runs after the first tombstone check, before the entry is written. */
  afterFirstCheck(): Promise<void>;
}

/** Expired members trimmed from one index per write: bounded work, still far ahead of the expiry rate. */
const TRIM_LIMIT = 200;

/**
 * Writes an entry with its tag and URL-key memberships, unless a purge
 * tombstone says the response was fetched before a hard purge of one of them
 * (tombstones.ts). Why this cannot lose a purge is argued in redis-invalidate.ts.
 */
export async function putEntry(
  ctx: PutContext,
  entry: StoredEntry,
  ttlMs: number,
  probe?: PutProbe,
): Promise<boolean> {
  const { conn, keys } = ctx;
  const { client } = conn;
  const entryKey = keys.entry(entry.id);
  if (!(ttlMs >= 1)) {
    await client.unlink(entryKey); // useless already; an older entry of the id must not outlive it
    return false;
  }
  const ttl = Math.ceil(ttlMs);
  const refs = [...new Set(entry.tags)].map((tag) => keys.tag(tag));
  refs.push(keys.urlKey(entry.key));
  const indexKeys = refs.map((ref) => ref.index);
  const tombstoneKeys = refs.map((ref) => ref.tombstone);
  tombstoneKeys.push(keys.allTombstone);
  const split = splitKey(entry.key);
  const site = split === undefined ? undefined : keys.site(split.site);
  const pathMember = split === undefined ? '' : keys.pathMember(split.rest, entry.id);
  const membershipFields = refs.map((ref) => ref.field);
  if (site !== undefined) membershipFields.push(site.field);
  const fields = (softPurgedAt: number) =>
    encodeEntry(softPurgedAt === entry.softPurgedAt ? entry : { ...entry, softPurgedAt }, membershipFields);
  const indexArgs = [keys.member(entry.id), ttl, ctx.indexGraceMs, TRIM_LIMIT];

  if (conn.kind === 'redis') {
    // One script: tombstones checked, memberships and entry written, atomically.
    const siteKeys = site === undefined ? [] : [site.lex, site.expiry, site.tombstone];
    const keyArgs = [entryKey, ...indexKeys, ...siteKeys.slice(0, 2), ...tombstoneKeys, ...siteKeys.slice(2)];
    const putArgs = [...indexArgs, indexKeys.length, entry.storedAt, entry.softPurgedAt, pathMember];
    const written = await client.tcPutEntry(
      keyArgs.length,
      ...keyArgs,
      ...putArgs,
      ...fields(entry.softPurgedAt),
    );
    return written === 1;
  }

  // Cluster: memberships (reading the tombstones of each slot as they land), entry, memberships again.
  const groups = groupForPut(conn, indexKeys, tombstoneKeys);
  const addMemberships = async () => {
    const marks = await Promise.all([
      ...groups.map(({ indexes, tombstones }) =>
        client.tcIndexAdd(
          indexes.length + tombstones.length,
          ...indexes,
          ...tombstones,
          ...indexArgs,
          indexes.length,
        ),
      ),
      // The site's three keys share a slot of their own (redis-keys.ts).
      ...(site === undefined
        ? []
        : [
            client.tcSiteAdd(
              3,
              site.lex,
              site.expiry,
              site.tombstone,
              pathMember,
              ttl,
              ctx.indexGraceMs,
              TRIM_LIMIT,
            ),
          ]),
    ]);
    let hardAt = 0;
    let softAt = 0;
    for (const [hard, soft] of marks) {
      hardAt = Math.max(hardAt, Number(hard));
      softAt = Math.max(softAt, Number(soft));
    }
    return { hardAt, softAt };
  };
  const before = await addMemberships();
  const first = judgePut(before.hardAt, before.softAt, entry);
  // Refused: the memberships just added stay. They are harmless (the purge script checks the entry
  // exists and carries the index's field) and trimmed once their score passes; removing them would
  // not be safe, since every put of this id shares the member name and a newer one may need it.
  if (!first.write) return false;
  await probe?.afterFirstCheck();
  const written = await client.tcPutEntry(
    1,
    entryKey,
    ...indexArgs,
    0,
    entry.storedAt,
    first.softPurgedAt,
    '',
    ...fields(first.softPurgedAt),
  );
  if (written !== 1) return false;
  const after = await addMemberships();
  const second = judgePut(after.hardAt, after.softAt, entry);
  // A purge whose tombstone landed between the two checks: the entry may have been written after
  // that purge looked for it, so it is judged again, inside Redis, by what is stored now.
  if (!second.write || second.softPurgedAt > first.softPurgedAt) {
    await client.tcApplyTombstone(1, entryKey, after.hardAt, after.softAt);
  }
  return second.write;
}

/**
 * Index and tombstone keys bucketed by their real slot. Each tombstone is
 * named to share its index's slot (redis-keys.ts), so this is one bucket per
 * index slot plus, usually, one for the `all` tombstone alone.
 */
function groupForPut(
  conn: RedisConnection,
  indexKeys: readonly string[],
  tombstoneKeys: readonly string[],
): { indexes: string[]; tombstones: string[] }[] {
  const isIndex = new Set(indexKeys);
  return conn.group([...indexKeys, ...tombstoneKeys]).map((group) => ({
    indexes: group.filter((key) => isIndex.has(key)),
    tombstones: group.filter((key) => !isIndex.has(key)),
  }));
}
