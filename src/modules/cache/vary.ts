import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMap } from '../../utils/headers.js';

/**
 * Vary (RFC 9111 §4.1): the request fields a stored response was selected by.
 * Names are case-insensitive, listed in any order and with odd whitespace, so
 * they are lower-cased, de-duplicated and sorted; '*' never matches.
 */
export function varyNames(headers: HeaderMap): string[] | '*' | undefined {
  const raw = headers.vary;
  if (raw === undefined) return undefined;
  const names = new Set<string>();
  for (const part of (Array.isArray(raw) ? raw.join(',') : raw).split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '*') return '*';
    if (name !== '') names.add(name);
  }
  return names.size === 0 ? undefined : [...names].sort();
}

/**
 * The variant a request selects: each named field's value with repeated lines
 * combined and whitespace around commas normalised. An absent field differs
 * from an empty one (only absence matches absence).
 */
export function variantKey(names: readonly string[], headers: IncomingHttpHeaders): string {
  let out = '';
  for (const name of names) {
    const value = headers[name];
    out += `${name}:`;
    if (value === undefined) out += '\u0000';
    else out += normalise(Array.isArray(value) ? value.join(',') : value);
    out += '\n';
  }
  return out;
}

function normalise(value: string): string {
  return value
    .split(',')
    .map((v) => v.trim().replace(/\s+/g, ' '))
    .join(',');
}

/**
 * The Vary names that select among an entry's variants. A body stored
 * without a content coding, where tagcache may transform it, serves every
 * Accept-Encoding (identity, or a form made from it): Accept-Encoding selects
 * nothing, and clients that differ only there share one entry. Where it may
 * not (COMPRESSION off, a route's `"compress": false`, no-transform), each
 * canonical Accept-Encoding keeps its own variant, as the backend asked. A
 * body stored encoded is always one variant per canonical Accept-Encoding,
 * even when the backend forgot to say Vary: it must never reach a client
 * that cannot decode it. undefined when nothing is left to select by.
 */
export function selectingNames(
  vary: readonly string[] | undefined,
  stored: Readonly<Record<string, string | string[]>>,
  transformable: boolean,
): readonly string[] | undefined {
  if (stored['content-encoding'] !== undefined) {
    if (vary?.includes('accept-encoding')) return vary;
    return [...(vary ?? []), 'accept-encoding'].sort();
  }
  if (!transformable || vary === undefined || !vary.includes('accept-encoding')) return vary;
  const names = vary.filter((name) => name !== 'accept-encoding');
  return names.length === 0 ? undefined : names;
}
