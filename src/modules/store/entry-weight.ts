import type { StoredEntry } from './types.js';

/**
 * What one entry costs besides its strings: the object and its arrays, the
 * lru-cache slot and the index memberships. An estimate, deliberately generous
 * so that many tiny entries cannot slip past the byte bound.
 */
export const ENTRY_OVERHEAD_BYTES = 512;

/** The weight the memory store bounds: body, headers, tags, url and the other strings, plus overhead. */
export function entryWeight(entry: StoredEntry): number {
  let bytes = ENTRY_OVERHEAD_BYTES + entry.body.length;
  bytes += Buffer.byteLength(entry.id) + Buffer.byteLength(entry.key) + Buffer.byteLength(entry.url);
  bytes += Buffer.byteLength(entry.route) + Buffer.byteLength(entry.policy);
  for (const name in entry.headers) {
    const value = entry.headers[name];
    bytes += Buffer.byteLength(name);
    if (typeof value === 'string') bytes += Buffer.byteLength(value);
    else if (value !== undefined) for (const item of value) bytes += Buffer.byteLength(item);
  }
  for (const tag of entry.tags) bytes += Buffer.byteLength(tag);
  return bytes;
}
