import { describe, expect, it } from 'vitest';
import { findUnsafeRegexShape } from '../../src/modules/router/index.js';

describe('findUnsafeRegexShape', () => {
  it.each([
    '^/products/(?<id>\\d+)$',
    '^/products(?:/(?<id>\\d+))?$',
    '\\.(?:css|js|png|svg)$',
    '^/api/',
    '^/(?<a>[^/]+)/(?<b>[^/]+)$',
    '(?<=/)x+',
    '(?<!a)b*',
    '^/a{2,5}$',
    '(?:a+){1}',
    '[(+*]+',
    '\\(a+\\)+',
    '^/x{',
    '(?:\\.(?:css|js))+$',
    '^/(?<lang>en|fr)?/news/(?<slug>[a-z0-9-]+)$',
  ])('accepts %s', (pattern) => {
    expect(findUnsafeRegexShape(pattern)).toBeUndefined();
  });

  it.each([
    ['(a+)+$', '(a+)+'],
    ['(a*)*', '(a*)*'],
    ['^(?:\\w+\\s?)*$', '(?:\\w+\\s?)*'],
    ['(x+x+)+y', '(x+x+)+'],
    ['(.*a){12}', '(.*a){12}'],
    ['(?:(?:a|b)+c?)+', '(?:(?:a|b)+c?)+'],
    ['^/(?<seg>[a-z]+/?)+$', '(?<seg>[a-z]+/?)+'],
    ['(a{1,9}){2,}', '(a{1,9}){2,}'],
    ['((ab)*c)+?', '((ab)*c)+'],
  ])('refuses %s, naming %s', (pattern, part) => {
    expect(findUnsafeRegexShape(pattern)).toContain(`"${part}"`);
  });

  it('refuses backreferences', () => {
    expect(findUnsafeRegexShape('(a)\\1')).toMatch(/backreference "\\1"/);
    expect(findUnsafeRegexShape('(?<x>a)\\k<x>')).toMatch(/backreference/);
  });
});
