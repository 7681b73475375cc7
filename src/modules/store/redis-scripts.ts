import type { Result } from 'ioredis';

/*
 * Lua run inside Redis. Each script touches only the keys it is given, and
 * callers group keys by cluster slot, so the scripts work unchanged on a
 * Cluster. Scripts rather than MULTI: one command per write, which ioredis
 * can auto-pipeline.
 */

/**
 * Index maintenance shared by both write scripts, for KEYS[first..]. Adds the
 * member scored by its expiry on the server clock; trims at most `limit`
 * members that expired more than `grace` ms ago (bounded work per write, and
 * a steady flow of writes trims faster than entries expire); extends the
 * zset's own TTL to cover its longest-lived member, so an abandoned tag
 * disappears on its own.
 */
const ADD_TO_INDEXES = `
if redis.replicate_commands then redis.replicate_commands() end
local function add_to_indexes(first, member, ttl, grace, limit)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local keep = ttl + grace
  for i = first, #KEYS do
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

/** KEYS: index zsets of one slot. ARGV: member, ttlMs, graceMs, trimLimit. */
const INDEX_ADD = `${ADD_TO_INDEXES}
add_to_indexes(1, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return #KEYS
`;

/**
 * KEYS: the entry hash, then index zsets in its slot (all of them on a single
 * node, none on a Cluster). ARGV: member, ttlMs, graceMs, trimLimit, then the
 * hash's field/value pairs. Memberships and entry land together.
 */
const PUT_ENTRY = `${ADD_TO_INDEXES}
add_to_indexes(2, ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
redis.call('DEL', KEYS[1])
-- In chunks: unpack() is limited to a few thousand values, and an entry may carry thousands of tags.
for i = 5, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * KEYS: entry hashes of one slot. ARGV: mode ('hard' | 'soft'), checkField
 * ('' for none), now (epoch ms). Hard unlinks, soft sets softPurgedAt, each
 * only on entries that still exist and still carry checkField: an index
 * member may be stale (the entry expired, or was re-put with other tags).
 * Returns how many entries changed; an entry already marked at this very
 * `now` is not counted twice.
 */
const PURGE_ENTRIES = `
local n = 0
local hard = ARGV[1] == 'hard'
for _, key in ipairs(KEYS) do
  local present
  if ARGV[2] == '' then
    present = redis.call('EXISTS', key) == 1
  else
    present = redis.call('HEXISTS', key, ARGV[2]) == 1
  end
  if present then
    if hard then
      redis.call('UNLINK', key)
      n = n + 1
    elseif redis.call('HGET', key, 'softPurgedAt') ~= ARGV[3] then
      redis.call('HSET', key, 'softPurgedAt', ARGV[3])
      n = n + 1
    end
  end
end
return n
`;

export const STORE_SCRIPTS = {
  tcIndexAdd: { lua: INDEX_ADD },
  tcPutEntry: { lua: PUT_ENTRY },
  tcPurgeEntries: { lua: PURGE_ENTRIES },
} as const;

type Arg = string | number | Buffer;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** INDEX_ADD: numKeys, ...indexKeys, member, ttlMs, graceMs, trimLimit. */
    tcIndexAdd(numKeys: number, ...args: Arg[]): Result<number, Context>;
    /** PUT_ENTRY: numKeys, entryKey, ...indexKeys, member, ttlMs, graceMs, trimLimit, ...fieldValuePairs. */
    tcPutEntry(numKeys: number, ...args: Arg[]): Result<number, Context>;
    /** PURGE_ENTRIES: numKeys, ...entryKeys, mode, checkField, now. */
    tcPurgeEntries(numKeys: number, ...args: Arg[]): Result<number, Context>;
  }
}
