import type { IncomingHttpHeaders } from 'node:http';
import { type HeaderMap, headerValue } from '../../utils/headers.js';
import { type Directives, deltaSeconds, has } from './directives.js';
import { formatHttpDate, parseHttpDate } from './http-date.js';

/**
 * What http-cache-semantics sees: a canonical Cache-Control rebuilt from the
 * effective directives (so quoting, case and duplicates follow RFC 9111, not
 * its naive split), Expires only when valid (else an expired date), and no
 * directives it mishandles: proxy-revalidate (it zeroes freshness) and
 * no-store/private (decided above).
 */
export function policyHeaders(headers: HeaderMap, d: Directives, targeted: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const cc = canonicalControl(d);
  if (cc !== undefined) out['cache-control'] = cc;
  const date = headerValue(headers, 'date');
  const dateMs = parseHttpDate(date);
  if (!Number.isNaN(dateMs)) out.date = formatHttpDate(dateMs);
  if (!targeted) {
    const expires = headers.expires;
    if (expires !== undefined) {
      // A repeated or invalid Expires means already expired (§5.3).
      const ms =
        Array.isArray(expires) && expires.length > 1
          ? Number.NaN
          : parseHttpDate(headerValue(headers, 'expires'));
      out.expires = Number.isNaN(ms) ? 'Thu, 01 Jan 1970 00:00:00 GMT' : formatHttpDate(ms);
    }
  }
  const lm = parseHttpDate(headerValue(headers, 'last-modified'));
  if (!Number.isNaN(lm)) out['last-modified'] = formatHttpDate(lm);
  if (headers.vary !== undefined) out.vary = headerValue(headers, 'vary') ?? '';
  return out;
}

/** Directives objects are shared per distinct field value (targeted.ts): each one's canonical form made once. */
const canonical = new WeakMap<Directives, string | undefined>();

/** The Cache-Control hcs is given: undefined when no directive is left for it. */
function canonicalControl(d: Directives): string | undefined {
  if (canonical.has(d)) return canonical.get(d);
  const parts: string[] = [];
  for (const [name, value] of d.map) {
    if (
      name === 'proxy-revalidate' ||
      name === 'must-revalidate' ||
      name === 'no-store' ||
      name === 'private'
    )
      continue;
    if (name === 'max-age' || name === 's-maxage') {
      parts.push(`${name}=${deltaSeconds(value) ?? 0}`);
      continue;
    }
    if (name === 'stale-while-revalidate' || name === 'stale-if-error') continue;
    parts.push(value === true ? name : `${name}=${value}`);
  }
  const cc = parts.length > 0 ? parts.join(', ') : undefined;
  canonical.set(d, cc);
  return cc;
}

/**
 * hcs never sees must-revalidate (policyHeaders), which like public and s-maxage lets a shared cache
 * store the answer to a request with Authorization (RFC 9111 §3.5): it is then not told of one.
 */
export function hcsAuthorization(headers: IncomingHttpHeaders, d: Directives): string | undefined {
  return has(d, 'must-revalidate') ? undefined : headers.authorization;
}
