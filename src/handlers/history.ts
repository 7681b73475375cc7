import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenSource } from '../modules/access/index.js';
import type { InvalidationRecord } from '../modules/invalidation/index.js';
import { sendJson, sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';
import { authenticate, requireScope } from './admin-auth.js';
import { storeFailed } from './store-failure.js';

export interface HistoryHandlerOptions {
  readonly tokens: TokenSource;
  readonly history: (limit: number) => Promise<InvalidationRecord[]>;
  readonly log: Logger;
}

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

/** GET /invalidations?limit=N (scope `read`): the fleet's last invalidations, newest first. */
export function createHistoryHandler(opts: HistoryHandlerOptions) {
  const { tokens, log } = opts;
  return async function historyHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJsonError(res, 405, 'TC_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use GET`, {
        allow: 'GET, HEAD',
      });
    }
    const principal = authenticate(req, res, tokens, log);
    if (principal === undefined || !requireScope(req, res, principal, 'read', log)) return;
    const raw = new URL(req.url ?? '/', 'http://admin').searchParams.get('limit');
    const limit = raw === null ? DEFAULT_LIMIT : Number(raw);
    if (!/^\d{1,4}$/.test(raw ?? '0') || !(limit >= 1 && limit <= MAX_LIMIT)) {
      return sendJsonError(
        res,
        400,
        'TC_BAD_REQUEST',
        `limit must be a whole number from 1 to ${MAX_LIMIT}; got ${JSON.stringify((raw ?? '').slice(0, 20))}`,
      );
    }
    let invalidations: InvalidationRecord[];
    try {
      invalidations = await opts.history(limit);
    } catch (err) {
      return storeFailed(res, log, 'reading the invalidation history', err);
    }
    sendJson(res, 200, { invalidations });
  };
}
