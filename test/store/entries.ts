import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { StoredEntry } from '../../src/modules/store/types.js';

/** A small valid entry; its key is its id unless a variant's key is given. */
export function makeEntry(id: string, fields: Partial<StoredEntry> = {}): StoredEntry {
  return {
    id,
    key: id,
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: Buffer.from(`body of ${id}`),
    policy: '{"v":1}',
    tags: [],
    url: `https://shop.example/${encodeURIComponent(id)}`,
    route: 'other',
    storedAt: Date.now(),
    softPurgedAt: 0,
    ...fields,
  };
}

/** Runs work over items with at most `limit` in flight. */
export async function inBatches<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += limit) {
    await Promise.all(items.slice(i, i + limit).map(work));
  }
}

/**
 * A storedAt later than any Date.now() read so far (waits for the clock to
 * tick, at most a millisecond): a response fetched after whatever just
 * happened, such as a purge, which refuses responses of its own millisecond.
 */
export async function nextMillisecond(): Promise<number> {
  const now = Date.now();
  while (Date.now() <= now) await yieldToEventLoop();
  return Date.now();
}
