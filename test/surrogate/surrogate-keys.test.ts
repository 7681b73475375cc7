import { describe, expect, it } from 'vitest';
import { parseSurrogateKeys, splitSurrogateKey } from '../../src/modules/surrogate/index.js';
import { fillTagTemplates, limitTags, templatePlaceholders } from '../../src/modules/tags/index.js';

describe('parseSurrogateKeys', () => {
  it('decodes header bytes as UTF-8, and marks bytes that are not UTF-8 so the tag is refused', () => {
    const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    expect(parseSurrogateKeys({ 'surrogate-key': latin1('ü 日本 🙂') })).toEqual(['ü', '日本', '🙂']);
    expect(parseSurrogateKeys({ 'cache-tag': latin1('a,ü') })).toEqual(['a', 'ü']);
    const [bad] = parseSurrogateKeys({ 'surrogate-key': '\u00e9' });
    expect(limitTags([bad as string], { maxTags: 10, maxTagBytes: 100 }).dropped[0]?.reason).toContain(
      'not UTF-8',
    );
  });

  it('splits Surrogate-Key on spaces', () => {
    expect(parseSurrogateKeys({ 'surrogate-key': 'product:1  products   home' })).toEqual([
      'product:1',
      'products',
      'home',
    ]);
  });

  it('splits Cache-Tag on commas, keeping spaces inside a tag for the limits to judge', () => {
    expect(parseSurrogateKeys({ 'cache-tag': ' a , b,,c d ' })).toEqual(['a', 'b', 'c d']);
  });

  it('splits xkey on spaces and commas', () => {
    expect(parseSurrogateKeys({ xkey: 'a b,c , d' })).toEqual(['a', 'b', 'c', 'd']);
  });

  it('reads every header, in the order Surrogate-Key, Cache-Tag, xkey', () => {
    expect(parseSurrogateKeys({ xkey: 'x', 'cache-tag': 'c', 'surrogate-key': 's' })).toEqual([
      's',
      'c',
      'x',
    ]);
  });

  it('counts every instance of a repeated header', () => {
    expect(parseSurrogateKeys({ 'surrogate-key': ['a b', 'c'], 'cache-tag': ['d', 'e,f'] })).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
      'f',
    ]);
  });

  it('drops duplicates, keeping the first-seen order', () => {
    expect(parseSurrogateKeys({ 'surrogate-key': 'b a b', 'cache-tag': 'a,c', xkey: 'c b' })).toEqual([
      'b',
      'a',
      'c',
    ]);
  });

  it('keeps tags exact: case and punctuation are part of the tag', () => {
    expect(
      parseSurrogateKeys({
        'surrogate-key': 'Product:1 product:1 /api/routes/2026 /api/routes/2026/programme',
      }),
    ).toEqual(['Product:1', 'product:1', '/api/routes/2026', '/api/routes/2026/programme']);
  });

  it('finds nothing in a response without tag headers, or with empty ones', () => {
    expect(parseSurrogateKeys({ 'content-type': 'text/html' })).toEqual([]);
    expect(parseSurrogateKeys({ 'surrogate-key': '   ', 'cache-tag': ' , ,', xkey: '' })).toEqual([]);
  });

  it('splitSurrogateKey reads a purge request header the same way', () => {
    expect(splitSurrogateKey(' a  b a ')).toEqual(['a', 'b']);
    expect(splitSurrogateKey(['a', 'b c'])).toEqual(['a', 'b', 'c']);
    expect(splitSurrogateKey(undefined)).toEqual([]);
  });
});

describe('fillTagTemplates', () => {
  it('fills each placeholder from the named groups', () => {
    expect(fillTagTemplates(['product:{id}', 'products', '{shop}/{id}'], { id: '42', shop: 'eu' })).toEqual([
      'product:42',
      'products',
      'eu/42',
    ]);
  });

  it('leaves out a template whose group did not take part in the match', () => {
    expect(fillTagTemplates(['product:{id}', 'products'], { id: undefined })).toEqual(['products']);
    expect(fillTagTemplates(['product:{id}'], {})).toEqual([]);
  });

  it('percent-decodes values as UTF-8, keeping a value as sent when its decoding is no usable tag', () => {
    expect(fillTagTemplates(['p:{id}'], { id: 'caf%C3%A9' })).toEqual(['p:café']);
    expect(fillTagTemplates(['p:{id}'], { id: 'a%20b' })).toEqual(['p:a%20b']);
    expect(fillTagTemplates(['p:{id}'], { id: '100%' })).toEqual(['p:100%']);
    expect(fillTagTemplates(['p:{id}'], { id: '%C3' })).toEqual(['p:%C3']);
  });

  it('lists the placeholders of a template', () => {
    expect(templatePlaceholders('a:{x}:{y}')).toEqual(['x', 'y']);
    expect(templatePlaceholders('plain')).toEqual([]);
  });
});

describe('limitTags', () => {
  const limits = { maxTags: 3, maxTagBytes: 8 };

  it('keeps tags within the limits untouched', () => {
    expect(limitTags(['a', 'b'], limits)).toEqual({ tags: ['a', 'b'], dropped: [] });
  });

  it('drops tags past the count, saying which limit', () => {
    const { tags, dropped } = limitTags(['a', 'b', 'c', 'd', 'e'], limits);
    expect(tags).toEqual(['a', 'b', 'c']);
    expect(dropped).toEqual([
      { tag: 'd', reason: 'more than MAX_TAGS_PER_RESPONSE=3 tags' },
      { tag: 'e', reason: 'more than MAX_TAGS_PER_RESPONSE=3 tags' },
    ]);
  });

  it('drops tags over the byte limit, counting UTF-8 bytes', () => {
    const { tags, dropped } = limitTags(['12345678', '123456789', 'ééééé'], limits);
    expect(tags).toEqual(['12345678']);
    expect(dropped.map((d) => d.reason)).toEqual([
      'the tag is 9 bytes long; the limit is MAX_TAG_BYTES=8',
      'the tag is 10 bytes long; the limit is MAX_TAG_BYTES=8',
    ]);
  });

  it('drops tags no purge could name, before counting', () => {
    const { tags, dropped } = limitTags(['a b', 'x\ty', 'c\u0001', 'ok1', 'ok2', 'ok3'], limits);
    expect(tags).toEqual(['ok1', 'ok2', 'ok3']);
    expect(dropped.map((d) => d.reason)).toEqual([
      'the tag contains a space; a tag is one word without whitespace, commas or control characters',
      'the tag contains whitespace (U+0009); a tag is one word without whitespace, commas or control characters',
      'the tag contains a control character (U+0001); a tag is one word without whitespace, commas or control characters',
    ]);
  });
});
