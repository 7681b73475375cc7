import type { Scope } from '../access/scopes.js';
import type { InvalidationKind, InvalidationRequest } from './types.js';

const SCOPE_OF_KIND = {
  tags: 'purge:tags',
  urls: 'purge:urls',
  prefixes: 'purge:prefixes',
  all: 'purge:all',
} as const satisfies Record<InvalidationKind, Scope>;

/** The scope a token needs for a purge: one per kind, whether it comes by POST /invalidate or PURGE. */
export function scopeFor(request: InvalidationRequest): Scope {
  return SCOPE_OF_KIND[request.target.kind];
}
