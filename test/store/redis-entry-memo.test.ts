import { describe, expect, it } from 'vitest';
import { encodeBlob } from '../../src/modules/store/redis-codec.js';
import { createEntryMemo, type EntryMemoLimits } from '../../src/modules/store/redis-entry-memo.js';
import type { StoredEntry } from '../../src/modules/store/types.js';
import { makeEntry } from './entries.js';

/** What HMGET of ENTRY_FIELDS answers for an entry as stored. */
function reply(entry: StoredEntry, softPurgedAt = entry.softPurgedAt): Buffer[] {
  return [encodeBlob(entry), Buffer.from(String(softPurgedAt))];
}

const roomy: EntryMemoLimits = { entries: 100, bytes: 1 << 20, maxValueBytes: 1 << 16 };

type Decode = ReturnType<typeof createEntryMemo>;
/** An id is held from its second read on: reads it twice and answers what the second made. */
const held = (decode: Decode, id: string, values: Buffer[]) => {
  decode(id, values);
  return decode(id, values);
};

describe('entry memo (Redis get)', () => {
  it('hands back the entry it made while Redis answers the same bytes', () => {
    const decode = createEntryMemo(roomy);
    const stored = makeEntry('a', { tags: ['t'] });
    const first = held(decode, 'a', reply(stored));
    expect(first).toEqual(stored);
    expect(decode('a', reply(stored))).toBe(first);
  });

  it('holds nothing for an id read once: its first read is decoded and only its name noted', () => {
    const decode = createEntryMemo(roomy);
    const stored = makeEntry('a');
    const once = decode('a', reply(stored));
    expect(once).toEqual(stored);
    const second = decode('a', reply(stored));
    expect(second).toEqual(stored);
    expect(second).not.toBe(once);
    expect(decode('a', reply(stored))).toBe(second);
  });

  it('decodes again when the blob or softPurgedAt changed', () => {
    const decode = createEntryMemo(roomy);
    const stored = makeEntry('a');
    const first = held(decode, 'a', reply(stored));
    const soft = decode('a', reply(stored, 1234));
    expect(soft).not.toBe(first);
    expect(soft?.softPurgedAt).toBe(1234);
    const refilled = makeEntry('a', { body: Buffer.from('new body') });
    expect(decode('a', reply(refilled, 1234))?.body.toString()).toBe('new body');
  });

  it('forgets an entry Redis no longer has', () => {
    const decode = createEntryMemo(roomy);
    const stored = makeEntry('a');
    const first = held(decode, 'a', reply(stored));
    expect(decode('a', [null, null])).toBeUndefined();
    const again = decode('a', reply(stored));
    expect(again).toEqual(stored);
    expect(again).not.toBe(first);
  });

  it('holds copies: the reply buffers may be reused once read', () => {
    const decode = createEntryMemo(roomy);
    const stored = makeEntry('a', { body: Buffer.from('original') });
    const values = reply(stored);
    const first = held(decode, 'a', values);
    values[0]?.fill(0);
    expect(first?.body.toString()).toBe('original');
    expect(decode('a', reply(stored))).toBe(first);
  });

  it('never serves one id the entry of another', () => {
    const decode = createEntryMemo(roomy);
    const other = reply(makeEntry('b'));
    expect(held(decode, 'a', other)).toBeUndefined();
    expect(decode('a', other)).toBeUndefined();
    expect(held(decode, 'b', other)?.id).toBe('b');
  });

  it('evicts the oldest past its entry limit, and holds no value past its size limit', () => {
    const decode = createEntryMemo({ entries: 2, bytes: 1 << 20, maxValueBytes: 1 << 16 });
    const entries = ['a', 'b', 'c'].map((id) => makeEntry(id));
    const made = entries.map((e) => held(decode, e.id, reply(e)));
    expect(decode('c', reply(entries[2] as StoredEntry))).toBe(made[2]);
    expect(decode('b', reply(entries[1] as StoredEntry))).toBe(made[1]);
    expect(decode('a', reply(entries[0] as StoredEntry))).not.toBe(made[0]);

    const big = makeEntry('big', { body: Buffer.alloc(2048, 'x') });
    const small = createEntryMemo({ entries: 10, bytes: 1 << 20, maxValueBytes: 1024 });
    const once = held(small, 'big', reply(big));
    expect(once).toEqual(big);
    expect(small('big', reply(big))).not.toBe(once);
  });

  it('keeps its held bytes under the byte limit', () => {
    const one = reply(makeEntry('a', { body: Buffer.alloc(600, 'a') }))[0]?.length ?? 0;
    const decode = createEntryMemo({ entries: 100, bytes: one * 2, maxValueBytes: 1 << 16 });
    const entries = ['a', 'b', 'c'].map((id) => makeEntry(id, { body: Buffer.alloc(600, id) }));
    const made = entries.map((e) => held(decode, e.id, reply(e)));
    expect(decode('c', reply(entries[2] as StoredEntry))).toBe(made[2]);
    expect(decode('a', reply(entries[0] as StoredEntry))).not.toBe(made[0]);
  });

  it('holds an id read again only while its note is still there, not once another id took its slot', () => {
    // Fewer than eight entries: one slot of notes, which every id shares.
    const decode = createEntryMemo({ entries: 1, bytes: 1 << 20, maxValueBytes: 1 << 16 });
    const a = makeEntry('a');
    decode('a', reply(a));
    decode('b', reply(makeEntry('b')));
    // 'b' took the slot, so 'a' is read as new again: decoded, not held.
    const again = decode('a', reply(a));
    expect(decode('a', reply(a))).toBe(decode('a', reply(a)));
    expect(decode('a', reply(a))).not.toBe(again);
  });

  it('holds a hot variant id read between others that share its length and ending', () => {
    // Variant ids end alike (the Vary variant): the slot must depend on more than their ends.
    const decode = createEntryMemo({ entries: 1024, bytes: 1 << 22, maxValueBytes: 1 << 16 });
    const id = (page: string) => `https://shop.example/p/${page}\naccept-encoding=gzip`;
    const hot = makeEntry(id('aa'));
    let heldCount = 0;
    for (const other of ['ab', 'ba', 'cd', 'xy', 'q1', 'zz', '07', 'k9']) {
      const first = decode(hot.id, reply(hot));
      decode(id(other), reply(makeEntry(id(other))));
      const second = decode(hot.id, reply(hot));
      if (decode(hot.id, reply(hot)) === second && second !== first) heldCount++;
    }
    // Held at its second read in the first round; every later round hands back that same entry.
    expect(heldCount).toBeGreaterThanOrEqual(1);
    expect(decode(hot.id, reply(hot))).toBe(decode(hot.id, reply(hot)));
  });
});
