import { boundedMemo } from '../../utils/bounded-memo.js';
import type { HeaderMap } from '../../utils/headers.js';
import type { EntryForms, StoredEntry } from '../store/types.js';
import { encodePolicy, type Policy } from './policy.js';

/** Fields tagcache sets per answer, or that describe one connection: never stored. */
const NOT_STORED = new Set([
  'age',
  'x-request-id',
  'x-cache',
  'cache-status',
  'content-length',
  'transfer-encoding',
]);

/**
 * Fields a 304 must not change in the stored response (RFC 9111 §3.2): the
 * stored body is what it is, so its length, coding and range stay.
 */
const KEPT_ON_304 = new Set([
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'content-range',
  'content-type',
]);

/** Fields whose values repeat across entries (content-type, cache-control, via …) share one string. */
const UNIQUE_VALUES = new Set([
  'etag',
  'last-modified',
  'expires',
  'set-cookie',
  'location',
  'content-location',
]);
/** Bounded: a backend sending endless distinct values only resets the table. */
const interned = boundedMemo(10_000, (value) => value);
/**
 * Date changes every second, so it stays out of the table; but every entry
 * stored within one second carries the same value, and the last one seen is
 * shared (48 bytes per entry otherwise).
 */
let lastDate = '';

function intern(name: string, value: string): string {
  if (name === 'date') {
    if (value !== lastDate) lastDate = value;
    return lastDate;
  }
  if (UNIQUE_VALUES.has(name) || value.length > 128) return value;
  return interned(value);
}

/**
 * The headers to store: the client's view of the response, minus per-answer
 * fields, with an exact length. Repeating values are interned: ten thousand
 * small entries otherwise hold ten thousand copies of "public, max-age=60".
 */
export function storedHeaders(
  headers: HeaderMap,
  bodyLength: number | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || NOT_STORED.has(name)) continue;
    out[name] = typeof value === 'string' ? intern(name, value) : value;
  }
  return bodyLength === undefined ? out : withLength(out, bodyLength);
}

/**
 * Stored headers (storedHeaders' own copy, which holds no Content-Length)
 * given the body's exact length in place: the entry takes the very object,
 * not a fourth copy of the fields on each stored miss.
 */
export function withLength(
  headers: Record<string, string | string[]>,
  bodyLength: number,
): Record<string, string | string[]> {
  headers['content-length'] = intern('content-length', String(bodyLength));
  return headers;
}

export interface EntryFields {
  readonly id: string;
  readonly key: string;
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
  readonly policy: Policy;
  readonly tags: readonly string[];
  readonly url: string;
  readonly route: string;
  readonly storedAt: number;
  /** The body's other encodings, when it has any. */
  readonly forms?: EntryForms | undefined;
}

export function buildEntry(f: EntryFields): StoredEntry {
  const policy = encodePolicy(f.policy);
  // Most responses have no tags: one shared empty array, not one per entry.
  const tags = f.tags.length === 0 ? NO_TAGS : f.tags;
  // One literal, forms always present (undefined when none): every entry has one shape, where a spread
  // of the optional field after the others cost a shape change per entry.
  return {
    id: f.id,
    key: f.key,
    status: f.status,
    headers: f.headers,
    body: f.body,
    policy,
    tags,
    url: f.url,
    route: f.route,
    storedAt: f.storedAt,
    softPurgedAt: 0,
    forms: f.forms,
  };
}

/** Stored headers updated from a 304's (RFC 9111 §4.3.4), except the fields the body depends on. */
export function mergeNotModified(
  stored: Readonly<Record<string, string | string[]>>,
  fresh: HeaderMap,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { ...stored };
  for (const name in fresh) {
    const value = fresh[name];
    if (value === undefined || KEPT_ON_304.has(name) || NOT_STORED.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** A vary marker: the entry at a key's own id that names the fields its variants are selected by. */
export const VARY_MARKER_STATUS = 0;

export function varyMarker(
  f: Omit<EntryFields, 'status' | 'headers' | 'body' | 'tags'>,
  names: readonly string[],
): StoredEntry {
  return buildEntry({
    ...f,
    status: VARY_MARKER_STATUS,
    headers: { vary: names.join(', ') },
    body: EMPTY,
    tags: [],
  });
}

export function variantId(key: string, variant: string): string {
  return `${key}\n${variant}`;
}

const EMPTY = Buffer.alloc(0);
const NO_TAGS: readonly string[] = Object.freeze([]);
