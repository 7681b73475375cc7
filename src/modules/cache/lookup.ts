import type { IncomingHttpHeaders } from 'node:http';
import { headerList } from '../../utils/headers.js';
import type { StoredEntry } from '../store/types.js';
import { VARY_MARKER_STATUS, variantId } from './entry.js';
import { decodePolicy, type Policy } from './policy.js';
import type { StoreAccess } from './store-access.js';
import { variantKey } from './vary.js';

export interface Found {
  readonly entry: StoredEntry;
  readonly policy: Policy;
}

export type Lookup = Found | 'uri-miss' | 'vary-miss';

/**
 * A memory store hands back the same entry object on every hit, so its policy
 * is decoded once and remembered; Redis entries are new objects each time.
 */
const decoded = new WeakMap<StoredEntry, Policy>();

export function policyOf(entry: StoredEntry): Policy | undefined {
  let p = decoded.get(entry);
  if (p === undefined) {
    p = decodePolicy(entry.policy);
    if (p !== undefined) decoded.set(entry, p);
  }
  return p;
}

/** The stored response for a key and this request's variant (RFC 9111 §4.1). */
export async function lookup(store: StoreAccess, key: string, headers: IncomingHttpHeaders): Promise<Lookup> {
  const first = store.get(key);
  let entry = first instanceof Promise ? await first : first;
  if (entry === undefined) return 'uri-miss';
  if (entry.status === VARY_MARKER_STATUS) {
    const names = headerList(entry.headers.vary).map((n) => n.toLowerCase());
    const second = store.get(variantId(key, variantKey(names, headers)));
    entry = second instanceof Promise ? await second : second;
    if (entry === undefined) return 'vary-miss';
  }
  const policy = policyOf(entry);
  // An unknown serialisation, or a dead entry a store failed to expire, is a miss.
  if (policy === undefined) return 'uri-miss';
  if (entry.status === VARY_MARKER_STATUS) return 'vary-miss';
  return { entry, policy };
}
