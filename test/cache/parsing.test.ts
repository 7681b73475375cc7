import { describe, expect, it } from 'vitest';
import { entityTags, isNotModified } from '../../src/modules/cache/conditional.js';
import { parseDirectives, secondsOf } from '../../src/modules/cache/directives.js';
import { parseHttpDate } from '../../src/modules/cache/http-date.js';
import { ageValue, correctedInitialAge } from '../../src/modules/cache/policy.js';
import { selectRange } from '../../src/modules/cache/range.js';
import { parseSfDictionary } from '../../src/modules/cache/targeted.js';
import { variantKey, varyNames } from '../../src/modules/cache/vary.js';

describe('Cache-Control parsing (RFC 9111 §5.2)', () => {
  it('lower-cases directive names', () => {
    expect(secondsOf(parseDirectives('Max-Age=60'), 'max-age')).toBe(60);
  });
  it('accepts the quoted form of a value', () => {
    expect(secondsOf(parseDirectives('max-age="60"'), 'max-age')).toBe(60);
  });
  it('keeps commas inside quoted values', () => {
    const d = parseDirectives('no-cache="set-cookie, x-foo", max-age=5');
    expect(d.map.get('no-cache')).toBe('set-cookie, x-foo');
    expect(secondsOf(d, 'max-age')).toBe(5);
  });
  it('uses the first of duplicate directives and notes the conflict', () => {
    const d = parseDirectives('max-age=10, max-age=3600');
    expect(secondsOf(d, 'max-age')).toBe(10);
    expect(d.conflicting.has('max-age')).toBe(true);
  });
  it('treats an invalid delta-seconds as zero (stale), not as absent', () => {
    expect(secondsOf(parseDirectives('max-age=abc'), 'max-age')).toBe(0);
    expect(secondsOf(parseDirectives('max-age=-1'), 'max-age')).toBe(0);
    expect(secondsOf(parseDirectives('max-age=1.5'), 'max-age')).toBe(0);
    expect(secondsOf(parseDirectives('public'), 'max-age')).toBeUndefined();
  });
  it('caps huge values at 2^31', () => {
    expect(secondsOf(parseDirectives('max-age=99999999999999'), 'max-age')).toBe(2_147_483_648);
  });
  it('ignores empty items and whitespace', () => {
    const d = parseDirectives(' , public ,, max-age = 5 ,');
    expect(d.map.has('public')).toBe(true);
    expect(secondsOf(d, 'max-age')).toBe(5);
  });
});

describe('CDN-Cache-Control as a Structured Fields dictionary (RFC 9213, RFC 8941)', () => {
  it('parses tokens, integers and booleans', () => {
    const d = parseSfDictionary('max-age=60, no-store, stale-while-revalidate=30');
    expect(d?.map.get('max-age')).toBe('60');
    expect(d?.map.get('no-store')).toBe(true);
  });
  it('rejects the whole field when one member is malformed', () => {
    expect(parseSfDictionary('Max-Age=60')).toBeUndefined();
    expect(parseSfDictionary('max-age=60,')).toBeUndefined();
    expect(parseSfDictionary('max-age=6 0')).toBeUndefined();
  });
  it('drops parameters and honours ?0', () => {
    const d = parseSfDictionary('max-age=60;a=1, no-store=?0');
    expect(d?.map.get('max-age')).toBe('60');
    expect(d?.map.has('no-store')).toBe(false);
  });
});

describe('HTTP-date (RFC 9110 §5.6.7)', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);
  it('accepts IMF-fixdate, RFC 850 and asctime', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(t);
  });
  it('rejects everything else', () => {
    for (const bad of [
      '0',
      '-1',
      'yesterday',
      '2024-01-01T00:00:00Z',
      'Sun, 06 Nov 1994 08:49:37 PST',
      'Sun, 31 Feb 1994 08:49:37 GMT',
      '',
    ]) {
      expect(parseHttpDate(bad)).toBeNaN();
    }
  });
});

describe('Age (RFC 9111 §5.1, §4.2.3)', () => {
  it('reads delta-seconds and ignores anything else', () => {
    expect(ageValue({ age: '30' })).toBe(30);
    expect(ageValue({ age: '-30' })).toBe(0);
    expect(ageValue({ age: 'abc' })).toBe(0);
    expect(ageValue({ age: '1.5' })).toBe(0);
    expect(ageValue({ age: ['10', '20'] })).toBe(10);
    expect(ageValue({ age: '10, 20' })).toBe(10);
  });
  it('corrects the initial age by the response delay and apparent age', () => {
    const now = Math.floor(Date.now() / 1000) * 1000; // Date has whole seconds
    const date = new Date(now - 100_000).toUTCString();
    expect(correctedInitialAge({ date }, now - 1000, now)).toBeCloseTo(100, 0);
    expect(correctedInitialAge({ age: '50' }, now - 2000, now)).toBeCloseTo(52, 3);
  });
});

describe('Vary (RFC 9111 §4.1)', () => {
  it('normalises names: case, order, duplicates, whitespace', () => {
    expect(varyNames({ vary: ' Accept-Encoding ,accept-language, ACCEPT-ENCODING' })).toEqual([
      'accept-encoding',
      'accept-language',
    ]);
    expect(varyNames({ vary: ['a', 'b, *'] })).toBe('*');
    expect(varyNames({ vary: ' , ' })).toBeUndefined();
  });
  it('tells an absent field from an empty one', () => {
    expect(variantKey(['x'], {})).not.toBe(variantKey(['x'], { x: '' }));
  });
  it('normalises whitespace around commas in values', () => {
    expect(variantKey(['accept'], { accept: 'a,  b' })).toBe(variantKey(['accept'], { accept: 'a, b' }));
  });
});

describe('Conditional requests (RFC 9110 §13)', () => {
  it('splits entity tags with commas inside quotes', () => {
    expect(entityTags('"a,b", W/"c", *')).toEqual(['"a,b"', 'W/"c"', '*']);
  });
  it('answers If-None-Match by weak comparison', () => {
    expect(isNotModified({ 'if-none-match': 'W/"x"' }, { etag: '"x"' })).toBe(true);
    expect(isNotModified({ 'if-none-match': '"y"' }, { etag: '"x"' })).toBe(false);
    expect(isNotModified({ 'if-none-match': '*' }, {})).toBe(true);
  });
  it('lets If-None-Match decide over If-Modified-Since', () => {
    const stored = { etag: '"x"', 'last-modified': 'Sun, 06 Nov 1994 08:49:37 GMT' };
    expect(
      isNotModified({ 'if-none-match': '"y"', 'if-modified-since': 'Mon, 07 Nov 1994 08:49:37 GMT' }, stored),
    ).toBe(false);
    expect(isNotModified({ 'if-modified-since': 'Mon, 07 Nov 1994 08:49:37 GMT' }, stored)).toBe(true);
    expect(isNotModified({ 'if-modified-since': 'Sat, 05 Nov 1994 08:49:37 GMT' }, stored)).toBe(false);
  });
});

describe('Range (RFC 9110 §14)', () => {
  it('selects single ranges of each form', () => {
    expect(selectRange({ range: 'bytes=0-9' }, {}, 100)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(selectRange({ range: 'bytes=90-' }, {}, 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(selectRange({ range: 'bytes=-10' }, {}, 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(selectRange({ range: 'bytes=50-500' }, {}, 100)).toEqual({ kind: 'partial', start: 50, end: 99 });
  });
  it('says when a range cannot be satisfied', () => {
    expect(selectRange({ range: 'bytes=100-' }, {}, 100)).toEqual({ kind: 'unsatisfiable' });
    expect(selectRange({ range: 'bytes=-0' }, {}, 100)).toEqual({ kind: 'unsatisfiable' });
  });
  it('answers the whole response for several ranges, other units or a failed If-Range', () => {
    expect(selectRange({ range: 'bytes=0-1,5-6' }, {}, 100).kind).toBe('full');
    expect(selectRange({ range: 'items=0-1' }, {}, 100).kind).toBe('full');
    expect(selectRange({ range: 'bytes=0-1', 'if-range': '"old"' }, { etag: '"new"' }, 100).kind).toBe(
      'full',
    );
    expect(selectRange({ range: 'bytes=0-1', 'if-range': '"same"' }, { etag: '"same"' }, 100).kind).toBe(
      'partial',
    );
    expect(selectRange({ range: 'bytes=0-1', 'if-range': 'W/"same"' }, { etag: 'W/"same"' }, 100).kind).toBe(
      'full',
    );
  });
});
