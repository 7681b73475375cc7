/**
 * The closed catalogue of tagcache errors. Callers branch on `code`, never on
 * message text. Every code is listed in the README ("Error codes") and a test
 * checks the two agree in both directions.
 */
export const ERROR_CODES = {
  TC_CONFIG_INVALID: 'A setting has a value tagcache cannot use; start-up stops.',
  TC_ROUTES_INVALID:
    'The route table (routes.json) is malformed; at start-up this stops the process, on reload the old table stays.',
  TC_STORE_UNAVAILABLE:
    'The store (Redis) could not be reached or answered an error; the proxy fails open to the backend.',
  TC_STORE_TIMEOUT: 'The store did not answer within STORE_TIMEOUT_MS; the proxy fails open to the backend.',
  TC_UPSTREAM_UNREACHABLE: 'The backend refused or dropped the connection before answering (502).',
  TC_UPSTREAM_TIMEOUT: 'The backend did not send headers or body in time (504).',
  TC_UPSTREAM_RESET: 'The backend closed the connection in the middle of a response.',
  TC_ONLY_IF_CACHED:
    'The request said Cache-Control: only-if-cached and nothing stored could answer it; no backend was asked (504).',
  TC_UPSTREAM_CIRCUIT_OPEN:
    'The circuit breaker for a backend is open; requests without a cached copy fail fast (503).',
  TC_BAD_INVALIDATION: 'An invalidation request is malformed, too large or not JSON (400/413/415).',
  TC_UNAUTHORIZED: 'An admin request lacks the right bearer token (401).',
  TC_FORBIDDEN:
    'The bearer token is valid but lacks the scope the request needs; the message names it (403).',
  TC_INVALIDATION_DISABLED:
    'Neither INVALIDATE_TOKEN nor INVALIDATE_TOKENS_FILE names a token, so the admin API that needs one is off (503).',
  TC_BAD_REQUEST:
    'A client request is malformed, exceeds a limit or cannot be forwarded as it is (400/413/414/431/505).',
  TC_RATE_LIMITED: 'A client exceeded the rate limit of its route (429).',
  TC_PIPELINE: 'A programming error in the request pipeline (a stage called next() twice, or threw).',
  TC_NOT_FOUND: 'No admin endpoint at that path (404).',
  TC_METHOD_NOT_ALLOWED: 'The admin endpoint does not take that method; Allow names the one it takes (405).',
  TC_INTERNAL: 'An admin endpoint failed unexpectedly (500); the log has the details, please report it.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class TagcacheError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status = 500,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TagcacheError';
  }
}

export function isTagcacheError(err: unknown, code?: ErrorCode): err is TagcacheError {
  return err instanceof TagcacheError && (code === undefined || err.code === code);
}

/** Best-effort message of anything thrown, for logs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
