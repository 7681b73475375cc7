import type { IncomingHttpHeaders } from 'node:http';
import type { EntryForms, StoredEntry } from '../store/types.js';
import { SYNC_COMPRESS_BYTES } from './compress.js';
import { type EncodingPreference, encodingPreference } from './encoding.js';
import { type KeepWindows, keptUntil, type Policy } from './policy.js';
import { type CompressionSettings, withForm } from './representation.js';
import type { StoreAccess } from './store-access.js';

/** Rewritten entries remembered while their write is under way, or after it failed: at most this many. */
const MAX_REMEMBERED = 256;

export interface LazyFormDeps {
  readonly store: StoreAccess;
  readonly keep: KeepWindows;
  readonly compression: CompressionSettings;
}

/**
 * Gives a hit the entry to answer from: the one found, or, when the form the
 * client prefers is pending (representation.ts), a copy holding it, which is
 * written back to the store (memory, local tier, Redis) so every later hit,
 * of this instance or another, finds it made. Each form of an entry is made
 * once: a pending coding stops being pending whether or not its form is worth
 * keeping, and while the rewrite is on its way (or if it failed) the copy is
 * remembered here, so alternating Accept-Encoding costs at most one
 * compression per coding per entry.
 */
export function createLazyForms(deps: LazyFormDeps) {
  const rewritten = new Map<string, StoredEntry>();

  const remember = (id: string, entry: StoredEntry): void => {
    rewritten.delete(id);
    rewritten.set(id, entry);
    if (rewritten.size > MAX_REMEMBERED) {
      const oldest = rewritten.keys().next().value;
      if (oldest !== undefined) rewritten.delete(oldest);
    }
  };

  // The rewrite keeps the entry's storedAt, so a purge since its fetch refuses it (tombstones). A newer
  // fill of the id by another instance (after a revalidation, or an eviction from Redis) is overwritten,
  // as by any concurrent fill: the copy written back is still a response this instance may serve, fresh
  // by its own policy or revalidated before it is served again.
  const rewrite = (id: string, entry: StoredEntry, forms: EntryForms, ttlMs: number): StoredEntry => {
    const next: StoredEntry = { ...entry, forms };
    remember(id, next);
    void deps.store.put(next, ttlMs).then((outcome) => {
      // A failed write is remembered, or a store that reads but cannot write would compress on every hit.
      if (outcome !== 'failed' && rewritten.get(id) === next) rewritten.delete(id);
    });
    return next;
  };

  return function withLazyForm(
    entry: StoredEntry,
    policy: Policy,
    headers: IncomingHttpHeaders,
  ): StoredEntry {
    if (entry.forms?.pending === undefined) return entry;
    const id = `${entry.id}\n${entry.storedAt}`;
    const found = rewritten.get(id) ?? entry;
    const forms = found.forms;
    if (forms === undefined) return found;
    const coding = pendingChoice(forms, encodingPreference(headers['accept-encoding']));
    if (coding === undefined) return found;
    // Written back for as long as the entry was stored; one about to expire is not worth a form.
    const ttlMs = Math.ceil(keptUntil(policy, deps.keep) - Date.now());
    if (ttlMs < 1 || found.body.length > SYNC_COMPRESS_BYTES) return found;
    const made = withForm(found.body, forms, coding, deps.compression);
    if (made instanceof Promise) return found; // never, for a body this small
    return rewrite(id, found, made, ttlMs);
  };
}

export type LazyForms = ReturnType<typeof createLazyForms>;

/** The client's most preferred coding when the entry has it pending; undefined when it prefers one held. */
function pendingChoice(forms: EntryForms, pref: EncodingPreference): 'gzip' | 'br' | undefined {
  for (const c of pref.order) {
    if (c === 'identity' || forms[c] !== undefined) return undefined;
    if (forms.pending?.includes(c) === true) return c;
  }
  return undefined;
}
