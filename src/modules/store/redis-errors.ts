import { errorMessage, TagcacheError } from '../../utils/errors.js';

/**
 * Every Redis failure becomes one of two typed errors the proxy fails open on.
 * "Command timed out" (commandTimeout) and connect timeouts are
 * TC_STORE_TIMEOUT; everything else (refused, closed, offline, error replies)
 * is TC_STORE_UNAVAILABLE.
 */
export function toStoreError(err: unknown, operation: string): TagcacheError {
  if (err instanceof TagcacheError) return err;
  const message = errorMessage(err);
  const timedOut = /timed out|ETIMEDOUT/i.test(message);
  return new TagcacheError(
    timedOut ? 'TC_STORE_TIMEOUT' : 'TC_STORE_UNAVAILABLE',
    `redis store: ${operation} failed: ${message}`,
    503,
    { cause: err },
  );
}

/** Rejects with the first command error of a MULTI/pipeline reply; ioredis resolves exec() even when commands fail. */
export function checkReplies(replies: [Error | null, unknown][] | null, operation: string): unknown[] {
  if (replies === null)
    throw new TagcacheError('TC_STORE_UNAVAILABLE', `redis store: ${operation} was aborted`, 503);
  return replies.map(([err, value]) => {
    if (err !== null) throw toStoreError(err, operation);
    return value;
  });
}
