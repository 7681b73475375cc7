import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal, Scope, TokenSource } from '../modules/access/index.js';
import { sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';

/**
 * The bearer token's principal, or undefined once the refusal is sent:
 * 503 when no token is configured, 401 when none or a wrong one is given.
 * The token never reaches a log line; its name does.
 */
export function authenticate(
  req: IncomingMessage,
  res: ServerResponse,
  tokens: TokenSource,
  log: Logger,
): Principal | undefined {
  const set = tokens.current();
  if (set === undefined) {
    sendJsonError(
      res,
      503,
      'TC_INVALIDATION_DISABLED',
      'the admin API is off because no token is configured; set INVALIDATE_TOKEN to a secret of at least 16 printable characters, or INVALIDATE_TOKENS_FILE to a token file, and restart tagcache',
    );
    return undefined;
  }
  const header = req.headers.authorization;
  const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  const given = m?.[1];
  const principal = given === undefined ? undefined : set.authenticate(given);
  if (principal !== undefined) return principal;
  const reason = given === undefined ? 'missing' : 'wrong';
  log.warn(
    { client: req.socket.remoteAddress, path: pathOf(req), reason },
    'admin request refused: bad credentials',
  );
  sendJsonError(
    res,
    401,
    'TC_UNAUTHORIZED',
    given === undefined
      ? 'a bearer token is required: send "Authorization: Bearer <token>" (INVALIDATE_TOKEN or one from INVALIDATE_TOKENS_FILE)'
      : 'the bearer token is not one tagcache knows (INVALIDATE_TOKEN or INVALIDATE_TOKENS_FILE)',
    {
      'www-authenticate':
        given === undefined ? 'Bearer realm="tagcache"' : 'Bearer realm="tagcache", error="invalid_token"',
    },
  );
  return undefined;
}

/** True when the principal holds the scope; otherwise sends 403 naming it and returns false. */
export function requireScope(
  req: IncomingMessage,
  res: ServerResponse,
  principal: Principal,
  scope: Scope,
  log: Logger,
): boolean {
  if (principal.scopes.has(scope)) return true;
  log.warn(
    { client: req.socket.remoteAddress, path: pathOf(req), tokenName: principal.name, scope },
    'admin request refused: missing scope',
  );
  sendJsonError(
    res,
    403,
    'TC_FORBIDDEN',
    `the token ${JSON.stringify(principal.name)} lacks the scope "${scope}" this request needs`,
    { 'www-authenticate': `Bearer realm="tagcache", error="insufficient_scope", scope="${scope}"` },
  );
  return false;
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return (q === -1 ? url : url.slice(0, q)).slice(0, 200);
}
