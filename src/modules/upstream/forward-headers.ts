import type { IncomingHttpHeaders } from 'node:http';
import { unmapped } from '../../utils/client-address.js';
import { connectionTokens, type HeaderMap, isHopByHop } from '../../utils/headers.js';

export const VIA = '1.1 tagcache';

/** Request fields undici must not be handed, on top of hop-by-hop ones. */
const NOT_FORWARDED = new Set(['host', 'expect', 'content-length']);

/**
 * Fields through which one proxy tells the next who the client is and what
 * it asked for. Backends read them (to build absolute links, to log the
 * client), yet they are not part of the cache key: from a client they are
 * a cache-poisoning lever, so only a trusted proxy's are passed on.
 */
const PROXY_SET = new Set([
  'forwarded',
  'x-real-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-original-host',
  'x-host',
  'x-http-host-override',
]);

/**
 * Fields through which frameworks (Symfony, Rails, Express, ASP.NET) let a
 * request say it is another method. On a GET or HEAD the key says "GET", so
 * a backend that honours one (a DELETE, a PUT) would have that answer stored
 * for every reader; on other methods they are the client's own business.
 */
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-method-override', 'x-http-method']);

function isProxySet(name: string): boolean {
  return name.startsWith('x-forwarded-') || PROXY_SET.has(name);
}

export interface ForwardInfo {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** The socket peer's address. */
  readonly peer: string;
  /** The peer is in TRUSTED_PROXIES: its X-Forwarded-* and Forwarded fields are believed. */
  readonly peerTrusted: boolean;
  readonly scheme: 'http' | 'https';
  readonly requestId: string;
  /** Keep the client's Host instead of the backend's own. */
  readonly preserveHost: boolean;
  readonly hasBody: boolean;
}

/**
 * The headers a request carries to the backend: end-to-end fields of the
 * client's request, plus X-Forwarded-*, Via and X-Request-Id. traceparent and
 * tracestate are end-to-end fields and pass as they came.
 *
 * From a trusted proxy, X-Forwarded-For gets the peer appended and
 * X-Forwarded-Host / -Proto are kept. From anyone else every forwarding field
 * is dropped and rebuilt from what tagcache itself saw: the Host, our scheme
 * and the peer's address. A client therefore cannot make a backend that
 * reflects X-Forwarded-Host (or X-Host) write another host into a response
 * others get from the cache. Method overrides never go with a GET or HEAD.
 */
export function forwardRequestHeaders(info: ForwardInfo): HeaderMap {
  const h = info.headers;
  const named = connectionTokens(h);
  const untrusted = !info.peerTrusted;
  // Whoever the peer is: a trusted proxy passes its client's override on unchanged.
  const noOverrides = info.method === 'GET' || info.method === 'HEAD';
  // One pass: end-to-end fields only, less what this hop rebuilds or refuses to pass on.
  const out: HeaderMap = {};
  for (const name in h) {
    const value = h[name];
    if (value === undefined || isHopByHop(name) || NOT_FORWARDED.has(name) || named?.has(name)) continue;
    if ((untrusted && isProxySet(name)) || (noOverrides && METHOD_OVERRIDES.has(name))) continue;
    out[name] = value;
  }
  // A body of known size keeps its length; chunked bodies are re-chunked by undici.
  if (info.hasBody && h['content-length'] !== undefined) out['content-length'] = h['content-length'];
  if (info.preserveHost && h.host !== undefined) out.host = h.host;
  const peer = unmapped(info.peer);
  const xff = out['x-forwarded-for'];
  out['x-forwarded-for'] =
    xff === undefined || xff === '' ? peer : `${Array.isArray(xff) ? xff.join(', ') : xff}, ${peer}`;
  out['x-forwarded-proto'] ??= info.scheme;
  if (h.host !== undefined) out['x-forwarded-host'] ??= h.host;
  out.via = appendVia(h.via);
  out['x-request-id'] = info.requestId;
  return out;
}

/** Via lists every hop (RFC 9110 §7.6.3); ours goes last. */
export function appendVia(existing: string | string[] | undefined): string {
  if (existing === undefined || existing === '') return VIA;
  return `${Array.isArray(existing) ? existing.join(', ') : existing}, ${VIA}`;
}
