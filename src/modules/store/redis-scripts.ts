import type { Result } from 'ioredis';

/*
 * Lua run inside Redis. Each script touches only the keys it is given, and
 * callers group keys by cluster slot, so the scripts work unchanged on a
 * Cluster. Scripts rather than MULTI: one command per write, which ioredis
 * can auto-pipeline.
 */

/**
 * Index maintenance shared by the write scripts, for KEYS[first..last]. Adds
 * the member scored by its expiry on the server clock; trims at most `limit`
 * members that expired more than `grace` ms ago (bounded work per write, and
 * a steady flow of writes trims faster than entries expire); extends the
 * zset's own TTL to cover its longest-lived member, so an abandoned tag
 * disappears on its own.
 */
const ADD_TO_INDEXES = `
if redis.replicate_commands then redis.replicate_commands() end
local function add_to_indexes(first, last, member, ttl, grace, limit)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local keep = ttl + grace
  for i = first, last do
    local key = KEYS[i]
    redis.call('ZADD', key, now + ttl, member)
    local expired = redis.call('ZCOUNT', key, '-inf', '(' .. (now - grace))
    if expired > 0 then
      redis.call('ZREMRANGEBYRANK', key, 0, math.min(expired, limit) - 1)
    end
    if redis.call('PTTL', key) < keep then
      redis.call('PEXPIRE', key, keep)
    end
  end
end
`;

/**
 * The path index of a site (redis-keys.ts): the member goes into the lex
 * zset (score 0) and the expiry zset (scored like a tag index); members that
 * expired more than `grace` ms ago leave both, at most `limit` per write; both
 * zsets live as long as their longest-lived member.
 */
const ADD_TO_SITE = `
local function add_to_site(lex, expiry, member, ttl, grace, limit)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local keep = ttl + grace
  redis.call('ZADD', expiry, now + ttl, member)
  redis.call('ZADD', lex, 0, member)
  local expired = redis.call('ZRANGEBYSCORE', expiry, '-inf', '(' .. (now - grace), 'LIMIT', 0, limit)
  if #expired > 0 then
    redis.call('ZREM', expiry, unpack(expired))
    redis.call('ZREM', lex, unpack(expired))
  end
  for _, key in ipairs({ lex, expiry }) do
    if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
  end
end
`;

/**
 * Purge tombstones (tombstones.ts, redis-keys.ts): "<hardAt>|<softAt>" in
 * epoch ms. read_tombstones returns the newest hard and soft time among
 * KEYS[first..]; anything unreadable counts as no purge.
 */
const TOMBSTONES = `
local function parse_tombstone(value)
  if not value then return 0, 0 end
  local hard, soft = string.match(value, '^(%d+)|(%d+)$')
  if not hard then return 0, 0 end
  return tonumber(hard), tonumber(soft)
end
local function read_tombstones(first)
  local hard, soft = 0, 0
  for i = first, #KEYS do
    local h, s = parse_tombstone(redis.call('GET', KEYS[i]))
    if h > hard then hard = h end
    if s > soft then soft = s end
  end
  return hard, soft
end
local function ms(n)
  return string.format('%.0f', n)
end
`;

/**
 * Cluster, step 1 and 3 of a put. KEYS: index zsets of one slot, then
 * tombstones in that slot. ARGV: member, ttlMs, graceMs, trimLimit,
 * indexCount. Adds the memberships and, in the same atomic step, reads the
 * tombstones: returns { hardAt, softAt }.
 */
const INDEX_ADD = `${ADD_TO_INDEXES}${TOMBSTONES}
local n = tonumber(ARGV[5])
add_to_indexes(1, n, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
local hard, soft = read_tombstones(n + 1)
return { hard, soft }
`;

/**
 * Cluster, the site's part of step 1 and 3 of a put. KEYS: the site's lex
 * and expiry zsets, then its tombstone. ARGV: pathMember, ttlMs, graceMs,
 * trimLimit. Returns { hardAt, softAt } of the tombstone.
 */
const SITE_ADD = `${ADD_TO_SITE}${TOMBSTONES}
add_to_site(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
local hard, soft = read_tombstones(3)
return { hard, soft }
`;

/**
 * KEYS: the entry hash, then indexCount index zsets in its slot (all of them
 * on a single node, none on a Cluster), then the site's lex and expiry zsets
 * when pathMember is not '' (single node only), then tombstones (all of the
 * entry's on a single node, none on a Cluster). ARGV: member, ttlMs, graceMs,
 * trimLimit, indexCount, storedAt, softPurgedAt, pathMember, then the hash's
 * field/value pairs. Refuses the entry (returns 0, writes nothing) when a tombstone holds
 * a hard purge after storedAt; writes it stale when one holds such a
 * soft purge; otherwise as given. Memberships and entry land together.
 */
const PUT_ENTRY = `${ADD_TO_INDEXES}${ADD_TO_SITE}${TOMBSTONES}
local n = tonumber(ARGV[5])
local stored_at = tonumber(ARGV[6])
local site = 0
if ARGV[8] ~= '' then site = 2 end
local hard, soft = read_tombstones(n + 2 + site)
if hard > 0 and hard > stored_at then return 0 end
add_to_indexes(2, n + 1, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
if site > 0 then
  add_to_site(KEYS[n + 2], KEYS[n + 3], ARGV[8], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
end
redis.call('DEL', KEYS[1])
-- In chunks: unpack() is limited to a few thousand values, and an entry may carry thousands of tags.
for i = 9, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if soft > 0 and soft > stored_at and soft > tonumber(ARGV[7]) then
  redis.call('HSET', KEYS[1], 'softPurgedAt', ms(soft))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * KEYS: tombstones of one slot. ARGV: mode ('hard' | 'soft'), at (epoch ms),
 * tombstoneMs. Moves the mode's time forward to `at` (never back: clocks of
 * instances differ) and keeps the other mode's time; each tombstone then
 * lives tombstoneMs from now.
 */
const MARK_TOMBSTONES = `${TOMBSTONES}
local at = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  local hard, soft = parse_tombstone(redis.call('GET', key))
  if ARGV[1] == 'hard' then
    if at > hard then hard = at end
  elseif at > soft then
    soft = at
  end
  redis.call('SET', key, ms(hard) .. '|' .. ms(soft), 'PX', ARGV[3])
end
return #KEYS
`;

/**
 * Cluster, after a put's entry write: a purge its first tombstone check did
 * not see yet. KEYS: the entry hash. ARGV: hardAt, softAt. Whatever entry is
 * stored there now (this put's or a concurrent one's), it is deleted if it
 * was fetched before hardAt, else marked stale if before softAt.
 * Returns 1 deleted, 2 marked, 0 untouched.
 */
const APPLY_TOMBSTONE = `${TOMBSTONES}
local stored_at = tonumber(redis.call('HGET', KEYS[1], 'storedAt'))
if not stored_at then return 0 end
local hard = tonumber(ARGV[1])
if hard > 0 and hard > stored_at then
  redis.call('UNLINK', KEYS[1])
  return 1
end
local soft = tonumber(ARGV[2])
if soft > 0 and soft > stored_at and soft > (tonumber(redis.call('HGET', KEYS[1], 'softPurgedAt')) or 0) then
  redis.call('HSET', KEYS[1], 'softPurgedAt', ms(soft))
  return 2
end
return 0
`;

/**
 * purge(keys, scopeFrom): the entry hashes `keys`. Mode ('hard' | 'soft'), checkField ('' for none) and now (epoch ms) are
 * ARGV[1..3]; the key prefixes (`scheme://host/`) of a host scope, if any,
 * follow the keys. Hard unlinks, soft sets softPurgedAt, each only on
 * entries that still exist and still carry checkField (an index member may
 * be stale: the entry expired, or was re-put with other tags) and, with a
 * scope, whose key starts with one of the prefixes. Every key is read before
 * any is written, so a script that fails on a key (not served here) has
 * changed nothing. Returns how many entries changed; an entry already marked
 * at this very `now` is not counted twice.
 */
const PURGE = `
local function purge(keys, scope_from)
  local hard = ARGV[1] == 'hard'
  local function in_scope(key)
    if #ARGV < scope_from then return true end
    local k = redis.call('HGET', key, 'key')
    if not k then return false end
    for i = scope_from, #ARGV do
      if string.sub(k, 1, #ARGV[i]) == ARGV[i] then return true end
    end
    return false
  end
  local found = {}
  for _, key in ipairs(keys) do
    local present
    if ARGV[2] == '' then
      present = redis.call('EXISTS', key) == 1
    else
      present = redis.call('HEXISTS', key, ARGV[2]) == 1
    end
    if present and in_scope(key) and (hard or redis.call('HGET', key, 'softPurgedAt') ~= ARGV[3]) then
      found[#found + 1] = key
    end
  end
  for _, key in ipairs(found) do
    if hard then
      redis.call('UNLINK', key)
    else
      redis.call('HSET', key, 'softPurgedAt', ARGV[3])
    end
  end
  return #found
end
`;

/** KEYS: entry hashes of one slot. ARGV: mode, checkField, now, then scope prefixes (PURGE). */
const PURGE_ENTRIES = `${PURGE}
return purge(KEYS, 4)
`;

/**
 * Cluster: the entries of many slots that one master serves, in one script
 * rather than one per slot (a batch of 250 ids spans about 250 slots).
 * KEYS: one of them, which routes the script to that master. ARGV: mode,
 * checkField, now, count, then count entry keys, then scope prefixes (PURGE).
 * Needs Redis 7 (script flags); a key the master does not serve (the slot
 * map moved) fails the script before it wrote anything.
 */
const PURGE_NODE_ENTRIES = `#!lua flags=allow-cross-slot-keys,allow-oom
${PURGE}
local count = tonumber(ARGV[4])
local keys = {}
for i = 1, count do keys[i] = ARGV[4 + i] end
return purge(keys, 5 + count)
`;

export const STORE_SCRIPTS = {
  tcIndexAdd: { lua: INDEX_ADD },
  tcSiteAdd: { lua: SITE_ADD },
  tcPutEntry: { lua: PUT_ENTRY },
  tcPurgeEntries: { lua: PURGE_ENTRIES },
  tcPurgeNodeEntries: { lua: PURGE_NODE_ENTRIES },
  tcMarkTombstones: { lua: MARK_TOMBSTONES },
  tcApplyTombstone: { lua: APPLY_TOMBSTONE },
} as const;

type Arg = string | number | Buffer;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** INDEX_ADD: numKeys, ...indexKeys, ...tombstoneKeys, member, ttlMs, graceMs, trimLimit, indexCount → [hardAt, softAt]. */
    tcIndexAdd(numKeys: number, ...args: Arg[]): Result<[number, number], Context>;
    /** SITE_ADD: 3, lex, expiry, tombstone, pathMember, ttlMs, graceMs, trimLimit → [hardAt, softAt]. */
    tcSiteAdd(numKeys: number, ...args: Arg[]): Result<[number, number], Context>;
    /**
     * PUT_ENTRY: numKeys, entryKey, ...indexKeys, ...tombstoneKeys, member, ttlMs, graceMs, trimLimit,
     * indexCount, storedAt, softPurgedAt, pathMember, ...fieldValuePairs → 1 written, 0 refused.
     */
    tcPutEntry(numKeys: number, ...args: Arg[]): Result<number, Context>;
    /** PURGE_ENTRIES: numKeys, ...entryKeys, mode, checkField, now, ...scopePrefixes. */
    tcPurgeEntries(numKeys: number, ...args: Arg[]): Result<number, Context>;
    /** PURGE_NODE_ENTRIES: 1, routingKey, mode, checkField, now, count, ...entryKeys, ...scopePrefixes. */
    tcPurgeNodeEntries(numKeys: number, ...args: Arg[]): Result<number, Context>;
    /** MARK_TOMBSTONES: numKeys, ...tombstoneKeys, mode, at, tombstoneMs. */
    tcMarkTombstones(numKeys: number, ...args: Arg[]): Result<number, Context>;
    /** APPLY_TOMBSTONE: 1, entryKey, hardAt, softAt → 1 deleted, 2 marked, 0 untouched. */
    tcApplyTombstone(numKeys: number, ...args: Arg[]): Result<number, Context>;
  }
}
