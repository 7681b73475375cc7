import { boundedMemo } from '../../utils/bounded-memo.js';
import { type HeaderMap, headerValue } from '../../utils/headers.js';
import { type Directives, NO_DIRECTIVES, parseDirectives } from './directives.js';

/**
 * Targeted cache control (RFC 9213): tagcache's target list is
 * CDN-Cache-Control, then Surrogate-Control. The first field with a valid,
 * non-empty value replaces Cache-Control and Expires for this cache; a
 * Surrogate-Control counts only when it says something about caching (an
 * ESI-only `content="ESI/1.0"` leaves Cache-Control in charge).
 */
export interface EffectiveControl {
  readonly directives: Directives;
  /** Which field the directives came from. */
  readonly source: 'cdn-cache-control' | 'surrogate-control' | 'cache-control';
}

/** Surrogate-Control directives about caching (Edge Architecture 1.0 and the Cache-Control ones CDNs accept). */
const CACHING = [
  'max-age',
  's-maxage',
  'no-store',
  'no-cache',
  'private',
  'must-revalidate',
  'proxy-revalidate',
  'stale-while-revalidate',
  'stale-if-error',
];

export function effectiveControl(headers: HeaderMap): EffectiveControl {
  const cdn = parseSfDictionary(headerValue(headers, 'cdn-cache-control'));
  if (cdn !== undefined && cdn.map.size > 0) return { directives: cdn, source: 'cdn-cache-control' };
  const surrogate = headerValue(headers, 'surrogate-control');
  if (surrogate !== undefined) {
    const d = directivesOf(surrogate);
    if (CACHING.some((name) => d.map.has(name))) return { directives: d, source: 'surrogate-control' };
  }
  const cc = headerValue(headers, 'cache-control');
  return { directives: cc === undefined ? NO_DIRECTIVES : directivesOf(cc), source: 'cache-control' };
}

/**
 * A backend sends the same few Cache-Control values over and over: each
 * distinct one parsed once (Directives are read-only, so one object serves all).
 */
const directivesOf = boundedMemo(1000, parseDirectives);

const KEY = /^[a-z*][a-z0-9_.*-]*$/;
const TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;
const INTEGER = /^-?\d{1,15}$/;
const DECIMAL = /^-?\d{1,12}\.\d{1,3}$/;

/**
 * A Structured Fields dictionary (RFC 8941 §3.2), as CDN-Cache-Control is
 * defined. Parameters are accepted and dropped. A field that fails to parse is
 * ignored as a whole (undefined), as RFC 8941 requires.
 */
export function parseSfDictionary(value: string | undefined): Directives | undefined {
  if (value === undefined) return undefined;
  const map = new Map<string, string | true>();
  const input = value.trim();
  if (input === '') return undefined;
  let i = 0;
  const n = input.length;
  while (i < n) {
    const keyStart = i;
    while (i < n && /[a-z0-9_.*-]/.test(input[i] as string)) i++;
    const key = input.slice(keyStart, i);
    if (!KEY.test(key)) return undefined;
    let item: string | boolean = true;
    if (input[i] === '=') {
      i++;
      const parsed = readBareItem(input, i);
      if (parsed === undefined) return undefined;
      item = parsed.value;
      i = parsed.end;
    }
    // Parameters: ;key[=value] — skipped.
    while (input[i] === ';') {
      i++;
      while (input[i] === ' ') i++;
      const pStart = i;
      while (i < n && /[a-z0-9_.*-]/.test(input[i] as string)) i++;
      if (!KEY.test(input.slice(pStart, i))) return undefined;
      if (input[i] === '=') {
        const parsed = readBareItem(input, i + 1);
        if (parsed === undefined) return undefined;
        i = parsed.end;
      }
    }
    // The last value for a key wins in a dictionary (RFC 8941 §3.2); ?0 means the directive is off.
    if (item === false) map.delete(key);
    else map.set(key, item);
    while (input[i] === ' ' || input[i] === '\t') i++;
    if (i >= n) break;
    if (input[i] !== ',') return undefined;
    i++;
    while (input[i] === ' ' || input[i] === '\t') i++;
    if (i >= n) return undefined; // trailing comma
  }
  return { map, conflicting: new Set() };
}

function readBareItem(input: string, start: number): { value: string | boolean; end: number } | undefined {
  let i = start;
  if (input[i] === '"') {
    i++;
    let out = '';
    while (i < input.length && input[i] !== '"') {
      if (input[i] === '\\') {
        i++;
        if (input[i] !== '"' && input[i] !== '\\') return undefined;
      }
      out += input[i];
      i++;
    }
    if (input[i] !== '"') return undefined;
    // Kept quoted: a string where an Integer belongs (max-age="60") is a wrong type, not 60 (RFC 9213 §2.1).
    return { value: `"${out}"`, end: i + 1 };
  }
  let end = i;
  while (
    end < input.length &&
    input[end] !== ',' &&
    input[end] !== ';' &&
    input[end] !== ' ' &&
    input[end] !== '\t'
  )
    end++;
  const raw = input.slice(i, end);
  if (raw === '?1') return { value: true, end };
  if (raw === '?0') return { value: false, end };
  if (INTEGER.test(raw) || DECIMAL.test(raw) || TOKEN.test(raw)) return { value: raw, end };
  if (/^:[A-Za-z0-9+/=]*:$/.test(raw)) return { value: raw, end };
  return undefined;
}
