import { isTagcacheError } from '../../utils/errors.js';
import { isProtocolFailure } from './client.js';

/** Which upstream failure a thrown error stands for: the `reason` label of tagcache_upstream_errors_total. */
export function upstreamFailureReason(err: unknown): string {
  if (isTagcacheError(err, 'TC_UPSTREAM_TIMEOUT')) return 'timeout';
  if (isTagcacheError(err, 'TC_UPSTREAM_RESET')) return 'reset';
  if (isTagcacheError(err, 'TC_UPSTREAM_CIRCUIT_OPEN')) return 'circuit_open';
  if (isProtocolFailure(err)) return 'protocol';
  return 'connect';
}
