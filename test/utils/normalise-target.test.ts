import { describe, expect, it } from 'vitest';
import { normaliseTarget } from '../../src/utils/normalise-target.js';

const norm = (target: string) => {
  const { path, query } = normaliseTarget(target);
  return path + query;
};

describe('normaliseTarget (RFC 3986 §6.2.2)', () => {
  it.each([
    ['leaves an ordinary target as it is', '/products/1?page=2&sort=price', '/products/1?page=2&sort=price'],
    ['drops the fragment', '/p/1?x=1#frag', '/p/1?x=1'],
    ['drops a fragment without a query', '/p/1#frag?x', '/p/1'],
    ['decodes unreserved characters', '/%7Euser/%41%2d%5F%2e', '/~user/A-_.'],
    ['upper-cases the hex of other encodings', '/caf%c3%a9?q=%2f', '/caf%C3%A9?q=%2F'],
    ['keeps an encoded slash encoded', '/a%2Fb', '/a%2Fb'],
    ['removes dot segments', '/a/./b/../c', '/a/c'],
    ['keeps a trailing slash after a dot segment', '/a/b/..', '/a/'],
    ['never climbs above the root', '/../../etc/passwd', '/etc/passwd'],
    ['treats encoded dots as dots', '/a/%2e%2E/b', '/b'],
    ['keeps empty segments', '/a//b', '/a//b'],
    ['encodes characters a URI may not hold', '/p/{x}|"', '/p/%7Bx%7D%7C%22'],
    ['encodes non-ASCII text as UTF-8', '/p/café', '/p/caf%C3%A9'],
    ['leaves a stray percent alone', '/p/100%?q=%zz', '/p/100%?q=%zz'],
    ['keeps + and %20 distinct', '/s?q=a+b&r=a%20b', '/s?q=a+b&r=a%20b'],
    ['leaves dots in the query alone', '/s?path=/a/../b', '/s?path=/a/../b'],
    ['keeps sub-delims', "/p/x?q=it's", "/p/x?q=it's"],
  ])('%s', (_label, target, expected) => {
    expect(norm(target)).toBe(expected);
  });
});
