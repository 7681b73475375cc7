import { normaliseTarget } from '../../utils/normalise-target.js';
import type { RouteMatch, RouteSource } from './types.js';

/**
 * A request target's route, matched on the normalised path the cache key
 * uses: a client must not pick another route's rules (key, TTL, cache: false)
 * for a key by writing `/x/../products` or `/%70roducts`. The proxy handler
 * asks once per request, before the chain runs.
 */
export function matchRoute(source: RouteSource, target: string): RouteMatch {
  return source.current().match(normaliseTarget(target).path);
}
