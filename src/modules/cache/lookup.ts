import type { IncomingHttpHeaders } from 'node:http';
import { headerList } from '../../utils/headers.js';
import type { StoredEntry } from '../store/types.js';
import { VARY_MARKER_STATUS, variantId } from './entry.js';
import { decodePolicy, type Policy } from './policy.js';
import type { StoreAccess } from './store-access.js';
import { selectingNames, variantKey } from './vary.js';

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

/**
 * The stored response for a key and this request's variant (RFC 9111 §4.1).
 * Answers without a promise when the store does (memory): a hit must not
 * wait a turn of the event loop for a value already in hand.
 */
export function lookup(
  store: StoreAccess,
  key: string,
  headers: IncomingHttpHeaders,
): Lookup | Promise<Lookup> {
  const first = store.get(key);
  return first instanceof Promise
    ? first.then((entry) => select(store, key, headers, entry))
    : select(store, key, headers, first);
}

/**
 * lookup(), then `then` on its result: from a store that answers with a promise (Redis), in the
 * same promise step as the look-up's own, where `lookup(...).then(then)` would take one more per
 * hit. A Lookup found at once comes back as it is, without `then`; a promise has been through it.
 */
export function lookupThen<R>(
  store: StoreAccess,
  key: string,
  headers: IncomingHttpHeaders,
  then: (l: Lookup) => R | Promise<R>,
): Lookup | Promise<R> {
  // The select and `then` ride the store access's own promise step (getThen): one step less per Redis hit.
  const first = store.getThen(key, (entry) => {
    const l = select(store, key, headers, entry);
    return l instanceof Promise ? l.then(then) : then(l);
  });
  if (first instanceof Promise) return first;
  const l = select(store, key, headers, first);
  return l instanceof Promise ? l.then(then) : l;
}

function select(
  store: StoreAccess,
  key: string,
  headers: IncomingHttpHeaders,
  entry: StoredEntry | undefined,
): Lookup | Promise<Lookup> {
  if (entry === undefined) return 'uri-miss';
  if (entry.status !== VARY_MARKER_STATUS) return found(entry);
  const names = headerList(entry.headers.vary).map((n) => n.toLowerCase());
  const second = store.get(variantId(key, variantKey(names, headers)));
  return second instanceof Promise ? second.then(variant) : variant(second);
}

function variant(entry: StoredEntry | undefined): Lookup {
  return entry === undefined || entry.status === VARY_MARKER_STATUS ? 'vary-miss' : found(entry);
}

function found(entry: StoredEntry): Lookup {
  const policy = policyOf(entry);
  // An unknown serialisation is a miss, never an error.
  return policy === undefined ? 'uri-miss' : { entry, policy };
}

/**
 * Whether a stored entry is the variant this request selects (a collapsed
 * request checking its leader's entry). The entry's id says how it was
 * stored, so both readings of Accept-Encoding are tried: one of them made it.
 */
export function isVariantFor(
  entry: {
    readonly id: string;
    readonly key: string;
    readonly headers: Readonly<Record<string, string | string[]>>;
  },
  vary: readonly string[] | undefined,
  request: IncomingHttpHeaders,
): boolean {
  for (const transformable of [true, false]) {
    const names = selectingNames(vary, entry.headers, transformable);
    const id = names === undefined ? entry.key : variantId(entry.key, variantKey(names, request));
    if (entry.id === id) return true;
  }
  return false;
}
