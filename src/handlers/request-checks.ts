import type { IncomingMessage } from 'node:http';
import { boundedMemo } from '../utils/bounded-memo.js';
import type { Config } from '../utils/config.js';

export type RequestLimits = Pick<Config, 'maxUrlBytes' | 'maxBodyBytes' | 'maxHeaderBytes' | 'allowedHosts'>;

/** Why a request is refused before the pipeline: its status, the metric's reason and a message for the log. */
export interface Refusal {
  readonly status: 400 | 413 | 414 | 421 | 431 | 505;
  readonly reason:
    | 'url_too_long'
    | 'body_too_large'
    | 'headers_too_large'
    | 'bad_host'
    | 'misdirected'
    | 'bad_framing'
    | 'bad_target'
    | 'bad_version'
    | 'body_on_get';
  readonly message: string;
}

/** A request that may enter the pipeline, with its target in origin form (path and query). */
export interface Admitted {
  readonly target: string;
}

/** RFC 3986 host (a DNS name, IPv4 or a bracketed IPv6 literal) and an optional port. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?)(?::\d{1,5})?$/i;

/**
 * The checks Node's HTTP parser does not make. llhttp (Node 20) already
 * answers 400 to Content-Length with Transfer-Encoding, repeated or
 * malformed Content-Length, obs-fold line folding, a Transfer-Encoding whose
 * last coding is not chunked, and a missing Host on HTTP/1.1; header size is
 * MAX_HEADER_BYTES (431). What passes llhttp and is refused here:
 *
 * - a request line without a version (HTTP/0.9: 400; a CR LF inside a target
 *   makes one) or with a major version other than 1 (505): llhttp takes both;
 * - a header block over MAX_HEADER_BYTES as sent: Node counts only the target,
 *   names and values, so many small fields pass it at twice their counted size (431);
 * - a target longer than MAX_URL_BYTES (414);
 * - a target that is neither origin form ("/…"), "*" for OPTIONS, nor an
 *   absolute form whose authority is the Host (400);
 * - more than one Host field (RFC 9110 §7.2: 400; Node keeps the first
 *   silently), or a Host that is not a host[:port] (400): a "/" in it would
 *   splice another host's path into the cache key;
 * - a Host not in ALLOWED_HOSTS (421 Misdirected Request);
 * - Transfer-Encoding on HTTP/1.0, or any coding besides "chunked" (400):
 *   llhttp accepts "gzip, chunked", whose gzip layer a proxy would pass on
 *   unlabelled;
 * - a body on GET or HEAD (400): the cache key has no body, so a backend that
 *   reads one would have its answer stored for every bodiless request;
 * - a Content-Length above MAX_BODY_BYTES (413). Chunked bodies are counted
 *   as they stream (see limitBody).
 */
export function checkRequest(req: IncomingMessage, limits: RequestLimits): Admitted | Refusal {
  if (req.httpVersionMajor !== 1) {
    return req.httpVersionMajor === 0
      ? refuse(400, 'bad_version', 'the request line has no HTTP version (HTTP/0.9 is not served)')
      : refuse(505, 'bad_version', `HTTP/${req.httpVersion} is not supported; send HTTP/1.1`);
  }
  const raw = req.url ?? '/';
  // A UTF-16 unit is at most three UTF-8 bytes: short targets need no count.
  if (raw.length * 3 > limits.maxUrlBytes && Buffer.byteLength(raw) > limits.maxUrlBytes) {
    return refuse(414, 'url_too_long', `request target longer than MAX_URL_BYTES (${limits.maxUrlBytes})`);
  }
  let hostFields = 0;
  // The request line and the blank line end; Node decodes fields as latin1, so length is bytes.
  let headerBytes = (req.method?.length ?? 0) + raw.length + 14;
  const fields = req.rawHeaders;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    // "name: value" and its CR LF.
    headerBytes += name.length + (fields[i + 1] as string).length + 4;
    if (name.length === 4 && name.toLowerCase() === 'host') hostFields++;
  }
  if (headerBytes > limits.maxHeaderBytes) {
    return refuse(
      431,
      'headers_too_large',
      `request header block larger than MAX_HEADER_BYTES (${limits.maxHeaderBytes})`,
    );
  }
  if (hostFields > 1) return refuse(400, 'bad_host', 'more than one Host field');
  const host = req.headers.host ?? '';
  if (host !== '' && !validHost(host)) return refuse(400, 'bad_host', 'the Host field is not host[:port]');

  const target = originForm(raw, req.method ?? 'GET', host);
  if (target === undefined) return refuse(400, 'bad_target', 'the request target is not a path');

  if (limits.allowedHosts.length > 0 && !hostAllowed(host, limits.allowedHosts)) {
    return refuse(421, 'misdirected', 'this proxy does not serve that Host (ALLOWED_HOSTS)');
  }

  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) {
      return refuse(400, 'bad_framing', 'Transfer-Encoding on an HTTP/1.0 request (RFC 9112 §6.1)');
    }
    if (te.trim().toLowerCase() !== 'chunked') {
      return refuse(400, 'bad_framing', 'Transfer-Encoding other than "chunked"');
    }
  }
  const length = req.headers['content-length'];
  if ((req.method === 'GET' || req.method === 'HEAD') && hasBody(te, length)) {
    return refuse(400, 'body_on_get', `a ${req.method} request must not carry a body`);
  }
  if (length !== undefined && Number(length) > limits.maxBodyBytes) {
    return refuse(413, 'body_too_large', `request body larger than MAX_BODY_BYTES (${limits.maxBodyBytes})`);
  }
  return { target };
}

/** A body follows the head: a non-zero Content-Length, or chunked framing (even of zero chunks). */
export function hasBody(te: string | undefined, length: string | undefined): boolean {
  // Number: llhttp takes "00" as zero.
  return te !== undefined || (length !== undefined && length !== '0' && Number(length) !== 0);
}

/** Remembered: a proxy sees few hosts, and tests one on every request. */
const validHost = boundedMemo(1024, (host) => HOST.test(host));

export function isRefusal(result: Admitted | Refusal): result is Refusal {
  return 'status' in result;
}

/** The path and query to route, cache and forward; undefined for a target tagcache will not take. */
function originForm(target: string, method: string, host: string): string | undefined {
  if (target.startsWith('/')) return target;
  if (target === '*') return method === 'OPTIONS' ? target : undefined;
  // RFC 9112 §3.2.2 says the absolute form's authority replaces Host. Two hosts in one request is
  // how caches get confused about whose response they hold; one proxy hop is all a client needs.
  if (!/^https?:\/\//i.test(target)) return undefined;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  if (url.host !== new URL(`http://${host || 'invalid.'}`).host) return undefined;
  return `${url.pathname}${url.search}`;
}

/**
 * ALLOWED_HOSTS: exact names, or "*.example.com" for any name below
 * example.com (not example.com itself). Case and port do not matter.
 */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const name = hostname(host);
  if (name === '') return false;
  for (const pattern of patterns) {
    if (pattern.startsWith('*.')) {
      const suffix = pattern.slice(1);
      if (name.length > suffix.length && name.endsWith(suffix)) return true;
    } else if (name === pattern) return true;
  }
  return false;
}

/** "Example.COM.:8080" → "example.com"; "[::1]:80" → "[::1]". */
function hostname(host: string): string {
  const h = host.trim().toLowerCase();
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(h);
  const name = m?.[1] ?? h;
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function refuse(status: Refusal['status'], reason: Refusal['reason'], message: string): Refusal {
  return { status, reason, message };
}
