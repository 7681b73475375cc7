import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenSource } from '../modules/access/index.js';
import {
  type InvalidationOrigin,
  type InvalidationReport,
  type InvalidationRequest,
  parsePurgeRequest,
  type RequestLimits,
  scopeFor,
} from '../modules/invalidation/index.js';
import { clientAddress, type TrustedProxies } from '../utils/client-address.js';
import { errorMessage, isTagcacheError } from '../utils/errors.js';
import { sendJson, sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';
import { storeFailed } from './store-failure.js';

export interface PurgeMethodOptions {
  /** PURGE_METHOD. */
  readonly enabled: boolean;
  /** PURGE_ALLOW: clients whose PURGE needs no token. */
  readonly allow: TrustedProxies;
  /** Whose X-Forwarded-For names the client (TRUSTED_PROXIES). */
  readonly trustedProxies: TrustedProxies;
  readonly tokens: TokenSource;
  readonly invalidate: (req: InvalidationRequest, origin: InvalidationOrigin) => Promise<InvalidationReport>;
  readonly limits: RequestLimits;
  readonly log: Logger;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The proxy port's `PURGE`, answered here and never passed on: the pipeline
 * would forward an unknown method to the backend. Off (the default): 405.
 * On: a bearer token holding the purge's scope, or a client address in
 * PURGE_ALLOW; anything else 403. Every other method goes to `next`.
 */
export function withPurgeMethod(next: Handler, opts: PurgeMethodOptions): Handler {
  const { log } = opts;
  return function proxyOrPurge(req, res) {
    if (req.method !== 'PURGE') return next(req, res);
    // A body means nothing to a PURGE: it is discarded, and the connection closed after the answer.
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const close: Record<string, string> = hasBody ? { connection: 'close' } : {};
    req.resume();
    purge(req, res, close).catch((err: unknown) => {
      log.error({ err: errorMessage(err) }, 'PURGE failed');
      if (!res.headersSent) sendJsonError(res, 500, 'TC_INTERNAL', errorMessage(err), close);
      else res.destroy();
    });
  };

  async function purge(
    req: IncomingMessage,
    res: ServerResponse,
    close: Record<string, string>,
  ): Promise<void> {
    if (!opts.enabled) {
      return sendJsonError(
        res,
        405,
        'TC_METHOD_NOT_ALLOWED',
        'PURGE is off on this proxy (PURGE_METHOD=on turns it on)',
        {
          allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
          ...close,
        },
      );
    }
    let request: InvalidationRequest;
    try {
      request = parsePurgeRequest(req.url ?? '/', req.headers, opts.limits);
    } catch (err) {
      if (!isTagcacheError(err, 'TC_BAD_INVALIDATION')) throw err;
      return sendJsonError(res, err.status, err.code, err.message, close);
    }
    const scope = scopeFor(request);
    const client = clientAddress(
      req.socket.remoteAddress ?? '',
      req.headers['x-forwarded-for'],
      opts.trustedProxies,
    );
    let by: string;
    if (opts.allow.has(client)) {
      by = 'PURGE_ALLOW';
    } else {
      const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
      const principal = m?.[1] === undefined ? undefined : opts.tokens.current()?.authenticate(m[1]);
      if (principal === undefined || !principal.scopes.has(scope)) {
        const why =
          principal !== undefined
            ? `the token ${JSON.stringify(principal.name)} lacks the scope "${scope}"`
            : m === null
              ? 'no bearer token was sent and the client is not in PURGE_ALLOW'
              : 'the bearer token is not one tagcache knows';
        log.warn({ client, scope, tokenName: principal?.name }, 'PURGE refused');
        return sendJsonError(
          res,
          403,
          'TC_FORBIDDEN',
          `PURGE refused: ${why}; send "Authorization: Bearer <token>" with the scope "${scope}", or purge from an address in PURGE_ALLOW`,
          close,
        );
      }
      by = principal.name;
    }
    let report: InvalidationReport;
    try {
      report = await opts.invalidate(request, { by, client });
    } catch (err) {
      return storeFailed(res, log, 'PURGE', err);
    }
    sendJson(res, 200, { status: 'ok', ...report }, close);
  }
}
