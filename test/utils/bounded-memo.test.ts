import { describe, expect, it } from 'vitest';
import { boundedMemo } from '../../src/utils/bounded-memo.js';

describe('boundedMemo', () => {
  it('computes a key once, and starts over when full instead of growing', () => {
    const computed: string[] = [];
    const upper = boundedMemo(2, (k) => {
      computed.push(k);
      return k.toUpperCase();
    });
    expect(upper('a')).toBe('A');
    expect(upper('a')).toBe('A');
    expect(upper('b')).toBe('B');
    expect(computed).toEqual(['a', 'b']);
    upper('c'); // full: emptied, then holds c
    upper('a');
    expect(computed).toEqual(['a', 'b', 'c', 'a']);
  });

  it('remembers false results too', () => {
    let calls = 0;
    const isShort = boundedMemo(8, (k) => {
      calls++;
      return k.length < 3;
    });
    expect(isShort('long')).toBe(false);
    expect(isShort('long')).toBe(false);
    expect(calls).toBe(1);
  });
});
