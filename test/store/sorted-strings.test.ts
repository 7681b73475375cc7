import { describe, expect, it } from 'vitest';
import { SortedStrings } from '../../src/modules/store/sorted-strings.js';

describe('SortedStrings', () => {
  it('answers prefix walks like a sorted array would, across many chunks, while strings come and go', () => {
    const sorted = new SortedStrings();
    const naive = new Set<string>();
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const word = () =>
      `https://h${Math.floor(random() * 3)}.example/${Math.floor(random() * 5000).toString(36)}`;
    for (let i = 0; i < 20_000; i++) {
      const value = word();
      if (random() < 0.3) expect(sorted.delete(value)).toBe(naive.delete(value));
      else {
        sorted.add(value);
        naive.add(value);
      }
    }
    expect(sorted.size).toBe(naive.size);
    for (const prefix of ['https://h1.example/', 'https://h0.example/a', 'https://h2.example/zz', 'x', '']) {
      const expected = [...naive].filter((v) => v.startsWith(prefix)).sort();
      expect(sorted.startingWith(prefix)).toEqual(expected);
    }
  });
});
