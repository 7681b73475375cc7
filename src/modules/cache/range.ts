import type { IncomingHttpHeaders } from 'node:http';
import { headerValue } from '../../utils/headers.js';
import { parseHttpDate } from './http-date.js';

export type RangeAnswer =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

const FULL: RangeAnswer = { kind: 'full' };

/**
 * A single byte range of a stored complete response (RFC 9110 §14). Several
 * ranges, other units and malformed specs are answered with the whole
 * response, which a server may always do; If-Range that does not match
 * strongly also gets the whole response.
 */
export function selectRange(
  req: IncomingHttpHeaders,
  stored: Readonly<Record<string, string | string[]>>,
  length: number,
): RangeAnswer {
  const range = req.range;
  if (range === undefined) return FULL;
  const ifRange = headerValue(req, 'if-range');
  if (ifRange !== undefined && !ifRangeMatches(ifRange, stored)) return FULL;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(range);
  if (m === null) return FULL;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return FULL;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || length === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(first);
  const end = last === '' ? length - 1 : Math.min(Number(last), length - 1);
  if (last !== '' && Number(last) < start) return FULL;
  if (start >= length) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

function ifRangeMatches(ifRange: string, stored: Readonly<Record<string, string | string[]>>): boolean {
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) {
    const etag = headerValue(stored, 'etag');
    // If-Range needs a strong match: weak tags never match.
    return etag !== undefined && !v.startsWith('W/') && !etag.startsWith('W/') && etag.trim() === v;
  }
  const lm = headerValue(stored, 'last-modified');
  const date = parseHttpDate(v);
  return lm !== undefined && !Number.isNaN(date) && parseHttpDate(lm) === date;
}
