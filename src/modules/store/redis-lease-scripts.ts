import type { Result } from 'ioredis';

/*
 * A lease is one string key, <prefix>l:<h(cache key)>, so every command on it
 * touches one slot: Cluster-safe as it is. Its value is the holder's token,
 * with a "+" appended once anyone waited on it (only then is the end of the
 * fill published: an uncontended fill costs no PUBLISH, which a Cluster sends
 * to every node), or "uncacheable" for the hit-for-miss window after a fill
 * that could not be stored.
 */

/** LEASE_TAKE: 1, leaseKey, token, ms, retake → 'granted' | 'held' | 'filled' | 'uncacheable'. */
const LEASE_TAKE = `
local v = redis.call('GET', KEYS[1])
if v == 'stored' and ARGV[3] == '1' then v = false end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'granted'
end
if v == 'uncacheable' then return 'uncacheable' end
if v == 'stored' then return 'filled' end
if string.sub(v, -1) ~= '+' then redis.call('SET', KEYS[1], v .. '+', 'KEEPTTL') end
return 'held'
`;

/** LEASE_RENEW: 1, leaseKey, token, ms → 1 renewed, 0 no longer held by the token. */
const LEASE_RENEW = `
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * LEASE_END: 1, leaseKey, token, outcome, hitForMissMs, filledMarkMs → 1 when someone waited
 * (or the lease is no longer the token's: waiters may be polling), else 0.
 */
const LEASE_END = `
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return 1 end
if ARGV[2] == 'not-storable' and tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], 'uncacheable', 'PX', ARGV[3])
elseif ARGV[2] == 'stored' then
  redis.call('SET', KEYS[1], 'stored', 'PX', ARGV[4])
else
  redis.call('DEL', KEYS[1])
end
if #v > #ARGV[1] then return 1 end
return 0
`;

export const LEASE_SCRIPTS = {
  tcLeaseTake: { lua: LEASE_TAKE },
  tcLeaseRenew: { lua: LEASE_RENEW },
  tcLeaseEnd: { lua: LEASE_END },
} as const;

type Arg = string | number;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    tcLeaseTake(numKeys: 1, key: string, token: string, ms: Arg, retake: Arg): Result<string, Context>;
    tcLeaseRenew(numKeys: 1, key: string, token: string, ms: Arg): Result<number, Context>;
    tcLeaseEnd(
      numKeys: 1,
      key: string,
      token: string,
      outcome: string,
      hitForMissMs: Arg,
      filledMarkMs: Arg,
    ): Result<number, Context>;
  }
}
