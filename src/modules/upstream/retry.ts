import type { Readable } from 'node:stream';
import { isTagcacheError } from '../../utils/errors.js';

/** RFC 9110 §9.2.2: methods whose repetition has the same effect as one request. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Errors of a connection that was never made: not one byte of the request
 * left, so another backend may have it without the first having seen it.
 * A reset or a headers timeout may come after the backend acted, and is never retried.
 */
const NEVER_CONNECTED = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

export function neverReachedBackend(err: unknown): boolean {
  if (!isTagcacheError(err, 'TC_UPSTREAM_UNREACHABLE') && !isTagcacheError(err, 'TC_UPSTREAM_TIMEOUT')) {
    return false;
  }
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && NEVER_CONNECTED.has(code);
}

/** A body can be sent again only if nobody has read from it yet (undici may have started, then failed). */
function bodyUntouched(body: Readable | null): boolean {
  return body === null || (!body.readableDidRead && !body.destroyed);
}

/** Whether a failed attempt may go to another backend. */
export function mayRetry(method: string, body: Readable | null, err: unknown): boolean {
  return IDEMPOTENT.has(method) && bodyUntouched(body) && neverReachedBackend(err);
}
