import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Header maps as tagcache passes them around: lower-case names. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** RFC 9110 §7.6.1: connection-specific fields never cross a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** A connection-specific field (RFC 9110 §7.6.1), whatever Connection says. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/** The last Connection value parsed, and its tokens: a backend sends the same one on every answer. */
let lastConnection: string | undefined;
let lastTokens: ReadonlySet<string> | undefined;

/** The extra hop-by-hop names a message lists in its own Connection header. */
export function connectionTokens(headers: HeaderMap | IncomingHttpHeaders): ReadonlySet<string> | undefined {
  const value = headers.connection;
  if (value === undefined) return undefined;
  if (value === lastConnection) return lastTokens;
  const out = new Set<string>();
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const token = part.trim().toLowerCase();
    if (token !== '') out.add(token);
  }
  const tokens = out.size === 0 ? undefined : out;
  if (typeof value === 'string') {
    lastConnection = value;
    lastTokens = tokens;
  }
  return tokens;
}

/**
 * Copies end-to-end headers into a fresh object, dropping hop-by-hop fields and
 * any named in Connection, and any name in `drop`.
 */
export function endToEndHeaders(
  headers: HeaderMap | IncomingHttpHeaders,
  drop?: ReadonlySet<string>,
): HeaderMap {
  const named = connectionTokens(headers);
  const out: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) || named?.has(name) || drop?.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** One value of a header that may arrive repeated: the repeats joined with ", " (RFC 9110 §5.3). */
export function headerValue(
  headers: HeaderMap | IncomingHttpHeaders | OutgoingHttpHeaders,
  name: string,
): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}

/** A comma-separated list header split into trimmed, non-empty items. */
export function headerList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  const out: string[] = [];
  for (const part of joined.split(',')) {
    const item = part.trim();
    if (item !== '') out.push(item);
  }
  return out;
}
