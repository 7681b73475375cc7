import { decodeEntry } from './redis-codec.js';
import type { StoredEntry } from './types.js';

export interface EntryMemoLimits {
  /** Entries remembered at most; the oldest remembered goes first. */
  readonly entries: number;
  /** Bytes of stored values remembered at most (each is held as a copy). */
  readonly bytes: number;
  /** Values larger than this are decoded on every read and never held. */
  readonly maxValueBytes: number;
}

/**
 * Small enough to cost nothing beside the process (no local tier means no memory cache on
 * purpose); large enough for the entries that take most hits, which are the ones that pay.
 */
export const DEFAULT_ENTRY_MEMO: EntryMemoLimits = {
  entries: 1024,
  bytes: 8 * 1024 * 1024,
  maxValueBytes: 64 * 1024,
};

interface Remembered {
  readonly blob: Buffer;
  /** The field's text: a few digits, kept as a string rather than a Buffer of its own. */
  readonly softPurgedAt: string;
  readonly entry: StoredEntry | undefined;
}

/**
 * decodeEntry for get(), remembering what it made: when Redis hands back, for
 * the same id, byte for byte the values decoded last time, the entry made then
 * is handed back again. Nothing is served that Redis did not just answer (every
 * read still goes to Redis, and a purge changes or deletes the values), but a
 * repeat hit skips the JSON parse and the object building, and the cache's
 * per-entry memos (policy, forms view) find the entry they saw, as with the
 * memory store, which hands back one object too. Entries are never mutated.
 * An id is held only when it is read again soon: each read notes its id in
 * one of entries/4 slots (a doorkeeper: no Set to grow and drop), and a read
 * that finds its id still in its slot, no other id having taken the slot
 * since, is held. A key taking more than about one read in every entries/4
 * is held; ids read once or rarely, nearly all where hits spread over many
 * keys, cost no copy, no eviction and no garbage beyond their decode.
 * Measured on a store's gets spread over 10,000 entries: holding every first
 * read doubled the decode of a spread read (~4 to ~8 µs); holding ids read
 * twice within 4096 reads cost ~12.5 µs per get, this ~10 (decoding every
 * read and holding nothing, ~9).
 */
export function createEntryMemo(limits: EntryMemoLimits = DEFAULT_ENTRY_MEMO) {
  const known = new Map<string, Remembered>();
  // The id last read of each slot; a slot is taken over by the next id that falls in it.
  const door: (string | undefined)[] = new Array(Math.max(1, Math.floor(limits.entries / 4))).fill(undefined);
  let bytes = 0;

  const forget = (id: string, held: Remembered) => {
    known.delete(id);
    bytes -= held.blob.length;
  };

  return function decode(id: string, values: readonly (Buffer | null)[]): StoredEntry | undefined {
    const [blob, softPurgedAt] = values;
    const held = known.get(id);
    if (blob == null || softPurgedAt == null) {
      if (held !== undefined) forget(id, held);
      return undefined;
    }
    if (held === undefined) {
      const slot = doorSlot(id, door.length);
      if (door[slot] !== id) {
        // Not read lately, most reads where hits spread: decoded with nothing else made for it.
        door[slot] = id;
        return decodeEntry(id, values);
      }
      door[slot] = undefined;
    }
    const soft = softPurgedAt.toString('latin1');
    if (held !== undefined) {
      if (held.softPurgedAt === soft && held.blob.equals(blob)) return held.entry;
      forget(id, held);
    }
    if (blob.length > limits.maxValueBytes) return decodeEntry(id, values);
    // A copy: a reply's values are views of the socket's read, which may be far larger.
    const own = ownCopy(blob);
    // A value that is no entry of this id (another version, corrupt) is remembered too: a miss again.
    const entry = decodeEntry(id, [own, softPurgedAt]);
    while (known.size > 0 && (known.size >= limits.entries || bytes + own.length > limits.bytes)) {
      const [oldestId, oldest] = known.entries().next().value as [string, Remembered];
      forget(oldestId, oldest);
    }
    known.set(id, { blob: own, softPurgedAt: soft, entry });
    bytes += own.length;
    return entry;
  };
}

/**
 * The id's slot: FNV-1a over every character. Variant ids end alike ("\naccept-encoding=gzip"),
 * so a hash of their ends alone would put most ids of one length in one slot, and a hot key
 * would keep losing its note to others. A poor spread only holds an id later; what is held is
 * still checked byte for byte against what Redis answers.
 */
function doorSlot(id: string, slots: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % slots;
}

/** A copy in memory of its own: Buffer.from would take a slice of the shared pool and keep all of it alive. */
function ownCopy(value: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(value.length);
  value.copy(copy);
  return copy;
}
