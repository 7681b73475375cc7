import { hash } from 'node:crypto';
import { boundedMemo } from '../../utils/bounded-memo.js';

/**
 * Key names of the Redis store. Ids, tags and URL keys are hashed, so any
 * string (braces, globs, 1 KiB of unicode) becomes a short, safe key name
 * whose cluster slot is spread evenly.
 *
 *   <prefix>e:<h(id)>    HASH  the entry (see redis-codec.ts)
 *   <prefix>t:<h(tag)>   ZSET  hashed ids of the entries carrying the tag, scored by expiry (epoch ms)
 *   <prefix>k:<h(key)>   ZSET  hashed ids of every variant of one URL key, scored the same way
 *   <prefix>x:{<index>}  STRING  purge tombstone of one tag or URL key, "<hardAt>|<softAt>" (epoch
 *                              ms, 0 for none), expiring tombstoneMs after the last purge (tombstones.ts)
 *   <prefix>x:all        STRING  the same for purges of everything
 *   <prefix>s:{<h(site)>}   ZSET  path index of one site (`scheme://host`): members "<path?query>\n<h(id)>",
 *                              all scored 0 so ZRANGEBYLEX walks a path prefix in order
 *   <prefix>s:{<h(site)>}e  ZSET  the same members scored by expiry, so the path index is trimmed and expires
 *                              like a tag index
 *   <prefix>x:{<h(site)>}s  STRING  purge tombstone of prefix purges on the site, same format
 *   <prefix>invalidations      pub/sub channel of InvalidationEvent JSON
 *   <prefix>history      STREAM  the invalidation history, capped at about HISTORY_LIMIT records
 *
 * A tombstone's {hash tag} is its index's whole key name, so on a Cluster it
 * sits in its index's slot and the script that adds a membership reads the
 * tombstone atomically with it. (A prefix with braces of its own can defeat
 * that; callers group keys by their real slot, so it costs a round trip, never
 * a CROSSSLOT error.) Tombstones are outside scanPattern: purging everything
 * leaves them alone.
 */
export interface RedisKeys {
  /** The entry's member name in indexes: h(id). */
  member(id: string): string;
  entry(id: string): string;
  entryOfMember(member: string): string;
  tag(tag: string): IndexRef;
  urlKey(key: string): IndexRef;
  /** The path index of a site (`scheme://host`). */
  site(site: string): SiteRef;
  /** The path index member of an entry: its key's path and query, then its hashed id. */
  pathMember(rest: string, id: string): string;
  /** The entry key a path index member names. */
  entryOfPathMember(member: string): string;
  /** The tombstone of purges of everything. */
  readonly allTombstone: string;
  /** Is this key (from SCAN) an entry rather than an index? */
  isEntry(key: string): boolean;
  readonly channel: string;
  /** The stream of invalidation history records. */
  readonly history: string;
  /** SCAN MATCH pattern of every entry and index key under the prefix, and nothing else. */
  readonly scanPattern: string;
}

export interface IndexRef {
  /** The index zset. */
  readonly index: string;
  /** The hash field an entry carries while it belongs to this index, checked inside Redis before purging. */
  readonly field: string;
  /** The purge tombstone of the tag or URL key, in the index's slot. */
  readonly tombstone: string;
}

export interface SiteRef {
  /** Members scored 0: ordered by path. */
  readonly lex: string;
  /** The same members scored by expiry (epoch ms). */
  readonly expiry: string;
  /** The hash field an entry on this site carries. */
  readonly field: string;
  /** The tombstone of prefix purges on this site. All three keys share one slot. */
  readonly tombstone: string;
}

/**
 * 144 bits of sha256 in base64url: 24 characters, collisions out of reach. The one-shot
 * crypto.hash makes no Hash object: ~0.35 µs against ~1 µs for createHash, paid by every
 * get whose id the entry-name memo no longer holds (most of them when hits spread over many keys).
 */
export function hashName(value: string): string {
  return hash('sha256', value, 'base64url').slice(0, 24);
}

export function createRedisKeys(prefix: string): RedisKeys {
  const entryPrefix = `${prefix}e:`;
  // Every get hashes its id: a hit on a hot key should not pay sha256 each time.
  const entry = boundedMemo(10_000, (id) => entryPrefix + hashName(id));
  // A put names its id four times (entry, member, path member, and URL key: the id itself unless the
  // response varies), after the get that missed hashed it: read from the entry name's memo, not hashed again.
  const idHash = (id: string) => entry(id).slice(entryPrefix.length);
  const ref = (kind: 't' | 'k', hash: string): IndexRef => {
    const index = `${prefix}${kind}:${hash}`;
    return { index, field: `${kind}:${hash}`, tombstone: `${prefix}x:{${index}}` };
  };
  return {
    member: idHash,
    entry,
    entryOfMember: (member) => entryPrefix + member,
    tag: (tag) => ref('t', hashName(tag)),
    urlKey: (key) => ref('k', idHash(key)),
    // A handful of sites, named on every put.
    site: boundedMemo(1_000, (site) => {
      const hash = hashName(site);
      return {
        lex: `${prefix}s:{${hash}}`,
        expiry: `${prefix}s:{${hash}}e`,
        field: `s:${hash}`,
        tombstone: `${prefix}x:{${hash}}s`,
      };
    }),
    pathMember: (rest, id) => `${rest}\n${idHash(id)}`,
    entryOfPathMember: (member) => entryPrefix + member.slice(member.lastIndexOf('\n') + 1),
    allTombstone: `${prefix}x:all`,
    isEntry: (key) => key.startsWith(entryPrefix),
    channel: `${prefix}invalidations`,
    history: `${prefix}history`,
    scanPattern: `${escapeGlob(prefix)}[etk]:*`,
  };
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
