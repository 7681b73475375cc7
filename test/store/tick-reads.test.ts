import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { tickReads } from '../../src/modules/store/tick-reads.js';

/** A read that counts its calls and answers id#call. */
function counted() {
  const calls: string[] = [];
  const reads = tickReads(async (id) => {
    calls.push(id);
    return `${id}#${calls.length}`;
  });
  return { calls, reads };
}

describe('tickReads', () => {
  it('sends one read per id and turn, every caller getting its answer in the order they asked', async () => {
    const { calls, reads } = counted();
    const order: string[] = [];
    const answers = [reads.read('a'), reads.read('b'), reads.read('a')].map((p, i) =>
      p.then((v) => {
        order.push(`${i}:${v}`);
      }),
    );
    await Promise.all(answers);
    expect(calls).toEqual(['a', 'b']);
    expect(order).toEqual(['0:a#1', '1:b#2', '2:a#1']);
  });

  it('reads again in the next turn, and after forget() in the same one', async () => {
    const { calls, reads } = counted();
    expect(await reads.read('a')).toBe('a#1');
    expect(await reads.read('a')).toBe('a#1');
    await nextTurn();
    expect(await reads.read('a')).toBe('a#2');
    reads.forget();
    expect(await reads.read('a')).toBe('a#3');
    expect(calls).toEqual(['a', 'a', 'a']);
  });

  it('hands a failed read to every caller that shared it', async () => {
    const reads = tickReads(() => Promise.reject(new Error('down')));
    const both = [reads.read('a'), reads.read('a')];
    for (const p of both) await expect(p).rejects.toThrow('down');
  });
});
