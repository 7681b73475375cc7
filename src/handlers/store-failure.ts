import type { ServerResponse } from 'node:http';
import { errorMessage, isTagcacheError } from '../utils/errors.js';
import { sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';

/**
 * An admin read the store could not answer: 503 so the caller retries. A
 * programming error of ours is rethrown, for the admin listener's 500.
 */
export function storeFailed(res: ServerResponse, log: Logger, what: string, err: unknown): void {
  if (isTagcacheError(err) && !err.code.startsWith('TC_STORE_')) throw err;
  const code = isTagcacheError(err, 'TC_STORE_TIMEOUT') ? 'TC_STORE_TIMEOUT' : 'TC_STORE_UNAVAILABLE';
  log.error({ err: errorMessage(err) }, `${what} failed`);
  sendJsonError(res, 503, code, `the store is unavailable (${errorMessage(err)}); retry`, {
    'retry-after': '5',
  });
}
