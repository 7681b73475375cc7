import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect } from 'vitest';
import { fetchRaw } from '../support/http.js';
import type { RunningProxy } from '../support/proxy.js';
import { startRedis, type TestRedis, uniquePrefix } from '../support/redis.js';

/**
 * The stores an attack runs against: memory, Redis behind the near tier, and
 * Redis alone (LOCAL_TIER_TTL_MS=0), where every read and every refusal is
 * Redis's own.
 */
export interface AttackStore {
  readonly name: 'memory' | 'redis' | 'redis without local tier';
  env(): Record<string, string>;
}

export function attackStores(): AttackStore[] {
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const redisEnv = (label: string) => {
    if (redis === undefined) throw new Error('Redis did not start');
    return { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(label) };
  };
  return [
    { name: 'memory', env: () => ({}) },
    { name: 'redis', env: () => redisEnv('sec') },
    { name: 'redis without local tier', env: () => ({ ...redisEnv('sec-far'), LOCAL_TIER_TTL_MS: '0' }) },
  ];
}

/**
 * What many real backends do and should not: put the caller's identity into
 * the page without saying the page depends on it (no Vary, no private).
 */
export function reflect(req: IncomingMessage, n: number): string {
  return `hello cookie:${req.headers.cookie ?? '-'} auth:${req.headers.authorization ?? '-'} #${n}`;
}

export function sendReflected(
  req: IncomingMessage,
  res: ServerResponse,
  n: number,
  headers: Record<string, string>,
): void {
  const body = reflect(req, n);
  res.writeHead(200, { 'content-length': String(Buffer.byteLength(body)), ...headers }).end(body);
}

export const TOKEN = 'test-token-0123456789';

/** POST /invalidate; the purge must answer 200 (the guarantee under test is what that 200 means). */
export async function purge(proxy: RunningProxy, body: Record<string, unknown>): Promise<void> {
  const res = await fetchRaw(`${proxy.adminUrl}/invalidate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, res.text()).toBe(200);
}

/** The answer an anonymous visitor gets from whatever is stored, stale or not, without going upstream. */
export function fromStore(proxy: RunningProxy, path: string) {
  return fetchRaw(proxy.url + path, { headers: { 'cache-control': 'max-stale=86400, only-if-cached' } });
}

export async function inFlight(proxy: RunningProxy): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return Number(/^tagcache_requests_in_flight (\d+)/m.exec(text)?.[1] ?? -1);
}
