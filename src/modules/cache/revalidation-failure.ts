import { Readable } from 'node:stream';
import { isTagcacheError } from '../../utils/errors.js';
import type { ProxyResponse } from '../pipeline/context.js';
import type { NotStorable } from './policy.js';

/** Whether an upstream failure (thrown) is one stale-if-error covers. */
export function isUpstreamFailure(err: unknown): boolean {
  return (
    isTagcacheError(err, 'TC_UPSTREAM_UNREACHABLE') ||
    isTagcacheError(err, 'TC_UPSTREAM_TIMEOUT') ||
    isTagcacheError(err, 'TC_UPSTREAM_RESET') ||
    isTagcacheError(err, 'TC_UPSTREAM_CIRCUIT_OPEN')
  );
}

/**
 * Whether an unstorable answer to a revalidation says the stored response may
 * not be served again: the backend answered for the resource (2xx, 3xx) or
 * said it is gone (404, 410), and not merely refused this request. A client
 * error (a 400 for a header the backend dislikes, a 406, a 401) or a refusal
 * that comes from the request itself (its Authorization) speaks for that
 * request alone, and must not take the entry from everyone else. Server
 * errors never get here (stale-if-error decides about them).
 */
export function forbidsStoring(
  reason: NotStorable | 'too-large' | 'request-no-store',
  status: number,
): boolean {
  if (reason === 'authorization' || reason === 'request-no-store') return false;
  return status < 400 || status === 404 || status === 410;
}

/**
 * Reads a body nobody else will, to its end. Its failure (a stall, a reset) is
 * the caller's to learn from elsewhere — an unstored entry — and must never
 * surface as an unhandled 'error' event, which would take the process down.
 */
export function drain(body: Buffer | Readable | null): void {
  if (!(body instanceof Readable)) return;
  body.on('error', () => undefined);
  body.resume();
}

export function errorCode(err: unknown): string {
  return isTagcacheError(err) ? err.code : String(err);
}

export function discard(res: ProxyResponse): void {
  drain(res.body);
}
