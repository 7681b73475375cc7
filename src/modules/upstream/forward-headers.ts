import type { IncomingHttpHeaders } from 'node:http';
import { endToEndHeaders, type HeaderMap } from '../../utils/headers.js';

export const VIA = '1.1 tagcache';

/** Request fields undici must not be handed, on top of hop-by-hop ones. */
const NOT_FORWARDED = new Set(['host', 'expect', 'content-length']);

export interface ForwardInfo {
  readonly headers: IncomingHttpHeaders;
  readonly clientIp: string;
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
 */
export function forwardRequestHeaders(info: ForwardInfo): HeaderMap {
  const h = info.headers;
  const out = endToEndHeaders(h, NOT_FORWARDED);
  // A body of known size keeps its length; chunked bodies are re-chunked by undici.
  if (info.hasBody && h['content-length'] !== undefined) out['content-length'] = h['content-length'];
  if (info.preserveHost && h.host !== undefined) out.host = h.host;
  const xff = h['x-forwarded-for'];
  out['x-forwarded-for'] =
    xff === undefined || xff === ''
      ? info.clientIp
      : `${Array.isArray(xff) ? xff.join(', ') : xff}, ${info.clientIp}`;
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
