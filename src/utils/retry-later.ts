import { type ErrorCode, TagcacheError } from './errors.js';

/**
 * An error whose answer tells the client when to come back: the handler
 * writes `retryAfterSeconds` as Retry-After (an open circuit's remaining
 * time, a rate limit's refill time).
 */
export class RetryLaterError extends TagcacheError {
  readonly retryAfterSeconds: number;

  constructor(
    code: ErrorCode,
    message: string,
    status: number,
    retryAfterMs: number,
    options?: ErrorOptions,
  ) {
    super(code, message, status, options);
    this.name = 'TagcacheError';
    // Retry-After is whole seconds (RFC 9110 §10.2.3); 0 would invite an immediate retry storm.
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  }
}
