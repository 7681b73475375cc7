import type { IncomingHttpHeaders } from 'node:http';
import { headerValue } from '../../utils/headers.js';
import { parseHttpDate } from './http-date.js';
import type { Policy } from './policy.js';

type StoredHeaders = Readonly<Record<string, string | string[]>>;

/** Weak comparison of entity tags (RFC 9110 §8.8.3.2): W/"x" and "x" match. */
function opaque(tag: string): string {
  const t = tag.trim();
  return t.startsWith('W/') ? t.slice(2) : t;
}

/** Splits an If-None-Match list, respecting commas inside quoted tags. */
export function entityTags(value: string): string[] {
  return value.match(/(?:W\/)?"[^"]*"|\*/g) ?? [];
}

/**
 * Whether a client's conditional GET/HEAD can be answered 304 from the stored
 * response (RFC 9111 §4.3.2; RFC 9110 §13.2.2 order): If-None-Match decides
 * when present, else If-Modified-Since against Last-Modified (or Date).
 */
export function isNotModified(req: IncomingHttpHeaders, stored: StoredHeaders): boolean {
  const inm = req['if-none-match'];
  if (inm !== undefined) {
    const tags = entityTags(inm);
    if (tags.includes('*')) return true;
    const etag = headerValue(stored, 'etag');
    if (etag === undefined) return false;
    const mine = opaque(etag);
    return tags.some((t) => opaque(t) === mine);
  }
  const ims = req['if-modified-since'];
  if (ims === undefined) return false;
  const since = parseHttpDate(ims);
  if (Number.isNaN(since)) return false;
  const lastModified = parseHttpDate(headerValue(stored, 'last-modified') ?? headerValue(stored, 'date'));
  return !Number.isNaN(lastModified) && lastModified <= since;
}

/** Request conditionals a cache does not evaluate itself; such requests go upstream as they are. */
export function hasPreconditions(req: IncomingHttpHeaders): boolean {
  return req['if-match'] !== undefined || req['if-unmodified-since'] !== undefined;
}

/** Fields a 304 from cache carries (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS = [
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'last-modified',
  'vary',
];

export function notModifiedHeaders(stored: StoredHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of NOT_MODIFIED_FIELDS) {
    const value = stored[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * The upstream request of a revalidation carries the stored validators and
 * none of the client's own conditionals or ranges: a 304 must speak of the
 * stored response, and a changed one must come back whole.
 */
export function revalidationHeaders(p: Policy): Record<string, string | undefined> {
  return {
    'if-none-match': p.etag,
    'if-modified-since': p.lm,
    'if-match': undefined,
    'if-unmodified-since': undefined,
    'if-range': undefined,
    range: undefined,
  };
}
