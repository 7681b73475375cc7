import type { HeaderMap } from '../../utils/headers.js';
import { decodeHeaderText } from '../tags/index.js';

/**
 * The response headers that carry tags, and what separates tags in each:
 * Surrogate-Key (Fastly) on spaces, Cache-Tag (Cloudflare, Akamai) on commas,
 * xkey (Varnish) on spaces and commas.
 */
const TAG_HEADERS: readonly (readonly [name: string, separator: RegExp])[] = [
  ['surrogate-key', / +/],
  ['cache-tag', /,/],
  ['xkey', /[ ,]+/],
];

/** Every tag header, plus Surrogate-Control: none of them is meant for the client. */
export const TAG_HEADER_NAMES: readonly string[] = [
  ...TAG_HEADERS.map(([name]) => name),
  'surrogate-control',
];

/**
 * The tags a response carries, in first-seen order (Surrogate-Key, then
 * Cache-Tag, then xkey), without duplicates. Tags are exact strings: no case
 * folding; only surrounding whitespace and empty items are dropped. Every
 * instance of a repeated header counts.
 */
export function parseSurrogateKeys(headers: HeaderMap): string[] {
  const seen = new Set<string>();
  for (const [name, separator] of TAG_HEADERS) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const line of Array.isArray(value) ? value : [value]) addSplit(seen, line, separator);
  }
  return [...seen];
}

/** Splits one Surrogate-Key value (a purge request's header) the way a response's is split. */
export function splitSurrogateKey(value: string | readonly string[] | undefined): string[] {
  const seen = new Set<string>();
  if (value === undefined) return [];
  for (const line of typeof value === 'string' ? [value] : value) addSplit(seen, line, / +/);
  return [...seen];
}

/** Each line is decoded as UTF-8 first (tag-text.ts): a tag is what its bytes spell. */
function addSplit(into: Set<string>, line: string, separator: RegExp): void {
  for (const part of decodeHeaderText(line).split(separator)) {
    const tag = part.trim();
    if (tag !== '') into.add(tag);
  }
}
