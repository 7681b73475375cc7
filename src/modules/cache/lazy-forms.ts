import type { IncomingHttpHeaders } from 'node:http';
import type { EntryForms, StoredEntry } from '../store/types.js';
import { SYNC_COMPRESS_BYTES } from './compress.js';
import { type EncodingPreference, encodingPreference } from './encoding.js';
import { withForm } from './forms.js';
import { type KeepWindows, keptUntil, type Policy } from './policy.js';
import type { CompressionSettings } from './representation.js';
import type { StoreAccess } from './store-access.js';

/** Entries whose made forms are remembered (the most recent): at most this many. */
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
 * keeping, and the forms made are remembered here (whether the write-back
 * lands, is still on its way, or failed), so alternating Accept-Encoding costs at most one
 * compression per coding per entry.
 */
export function createLazyForms(deps: LazyFormDeps) {
  // Forms made here, by entry id and fill time. Kept after the write-back lands too: a read that left
  // for the store before the write landed still returns the entry with the form pending.
  const made = new Map<string, EntryForms>();

  const remember = (id: string, forms: EntryForms): void => {
    made.delete(id);
    made.set(id, forms);
    if (made.size > MAX_REMEMBERED) {
      const oldest = made.keys().next().value;
      if (oldest !== undefined) made.delete(oldest);
    }
  };

  // The rewrite keeps the entry's storedAt, so a purge since its fetch refuses it (tombstones). A newer
  // fill of the id by another instance (after a revalidation, or an eviction from Redis) is overwritten,
  // as by any concurrent fill: the copy written back is still a response this instance may serve, fresh
  // by its own policy or revalidated before it is served again.
  const rewrite = (id: string, entry: StoredEntry, forms: EntryForms, ttlMs: number): StoredEntry => {
    const next: StoredEntry = { ...entry, forms };
    remember(id, forms);
    void deps.store.put(next, ttlMs);
    return next;
  };

  return function withLazyForm(
    entry: StoredEntry,
    policy: Policy,
    headers: IncomingHttpHeaders,
  ): StoredEntry {
    const stored = entry.forms;
    if (stored?.pending === undefined) return entry;
    const pref = encodingPreference(headers['accept-encoding']);
    // Forms made here only add codings that were pending: a client whose choice is not pending in
    // the entry as found (identity, or a form it holds) gets the same form from either, so the
    // common hit builds no id and looks nothing up.
    if (pendingChoice(stored, pref) === undefined) return entry;
    const id = `${entry.id}\n${entry.storedAt}`;
    // Only the forms come from memory; the rest (a soft purge's mark, tags) is the entry as found.
    const forms = made.get(id) ?? stored;
    const found = forms === stored ? entry : { ...entry, forms };
    const coding = pendingChoice(forms, pref);
    if (coding === undefined) return found;
    // Written back for as long as the entry was stored; one about to expire is not worth a form.
    const ttlMs = Math.ceil(keptUntil(policy, deps.keep) - Date.now());
    if (ttlMs < 1 || found.body.length > SYNC_COMPRESS_BYTES) return found;
    const next = withForm(found.body, forms, coding, deps.compression);
    if (next instanceof Promise) return found; // never, for a body this small
    return rewrite(id, found, next, ttlMs);
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
