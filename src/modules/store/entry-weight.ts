import type { StoredEntry } from './types.js';

/**
 * What one entry costs besides its strings and body bytes, measured with heap
 * snapshots of a store full of 1 KiB entries (Node 20, 64-bit): the entry
 * object 112 bytes, its headers object ~96, the body's Buffer and ArrayBuffer
 * 184 plus ~135 outside the heap (backing store record, malloc header),
 * storedAt's heap number 16, and the lru-cache slot ~180 (its Map, which
 * churn keeps at 2–4 slots per entry, and seven parallel arrays): ~720.
 * Rounded up, so that many tiny entries cannot slip past the byte bound.
 */
export const ENTRY_OVERHEAD_BYTES = 768;

/**
 * Each tag's slot in the entry's array and its membership in the tag index:
 * 20–40 bytes measured, up to ~100 when churn leaves the index's Map half holes.
 */
export const TAG_OVERHEAD_BYTES = 64;

/** A form's Buffer and ArrayBuffer, as for the body (~320 bytes), and its slot in the forms object. */
export const FORM_OVERHEAD_BYTES = 336;

/** The weight the memory store bounds: body, headers, tags, url and the other strings, plus overhead. */
export function entryWeight(entry: StoredEntry): number {
  let bytes = ENTRY_OVERHEAD_BYTES + entry.body.length + Buffer.byteLength(entry.key);
  // id and url are usually the key itself, one string: counted once.
  if (entry.id !== entry.key) bytes += Buffer.byteLength(entry.id);
  if (entry.url !== entry.key) bytes += Buffer.byteLength(entry.url);
  bytes += Buffer.byteLength(entry.route) + Buffer.byteLength(entry.policy);
  for (const name in entry.headers) {
    const value = entry.headers[name];
    bytes += Buffer.byteLength(name);
    if (typeof value === 'string') bytes += Buffer.byteLength(value);
    else if (value !== undefined) for (const item of value) bytes += Buffer.byteLength(item);
  }
  for (const tag of entry.tags) bytes += TAG_OVERHEAD_BYTES + Buffer.byteLength(tag);
  // Encoded forms are held beside the body: each a Buffer of its own.
  const forms = entry.forms;
  if (forms?.gzip !== undefined) bytes += FORM_OVERHEAD_BYTES + forms.gzip.length;
  if (forms?.br !== undefined) bytes += FORM_OVERHEAD_BYTES + forms.br.length;
  return bytes;
}
