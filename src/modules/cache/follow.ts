import type { RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { decide } from './decide.js';
import { type Found, isVariantFor, policyOf } from './lookup.js';

/**
 * Whether the entry a collapse leader brought (or another instance filled)
 * can answer this follower: the variant it selects, and usable now without
 * validation.
 */
export function usableFor(entry: StoredEntry, ctx: RequestContext): Found | undefined {
  const policy = policyOf(entry);
  if (policy === undefined) return undefined;
  if (!isVariantFor(entry, policy.vary, ctx.headers)) return undefined;
  const d = decide(policy, entry.softPurgedAt, undefined, Date.now());
  return d.kind === 'revalidate' ? undefined : { entry, policy };
}
