import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody, mediaTypeMatcher } from '../../src/modules/cache/compress.js';
import { formEtag, prepareForStore, variesByEncoding } from '../../src/modules/cache/representation.js';
import { parseRoutes } from '../../src/modules/router/parse-routes.js';
import { loadConfig } from '../../src/utils/config.js';

describe('which media types are compressed', () => {
  const compressible = mediaTypeMatcher(loadConfig({}).compressionTypes);

  it('takes text, JSON, JavaScript, XML, SVG and wasm, with or without parameters, in any case', () => {
    for (const type of [
      'text/html; charset=utf-8',
      'TEXT/CSS',
      'application/json',
      'application/ld+json',
      'application/javascript',
      'application/rss+xml',
      'image/svg+xml',
      'application/wasm',
    ]) {
      expect(compressible(type), type).toBe(true);
    }
  });

  it('leaves images, video, archives and a missing Content-Type alone', () => {
    for (const type of ['image/png', 'video/mp4', 'application/zip', 'application/octet-stream', undefined]) {
      expect(compressible(type), String(type)).toBe(false);
    }
  });

  it('lets * match within one part only', () => {
    const only = mediaTypeMatcher(['text/*']);
    expect(only('text/plain')).toBe(true);
    expect(only('text/plain/x')).toBe(false);
    expect(only('application/text')).toBe(false);
  });
});

describe('entity tags of transformed forms (RFC 9110 §8.8.3)', () => {
  it('keeps the tag of the form the backend sent and makes the others distinct', () => {
    expect(formEtag('"abc"', 'identity', undefined)).toBe('"abc"');
    expect(formEtag('"abc"', 'br', undefined)).toBe('"abc-br"');
    expect(formEtag('"abc"', 'gzip', 'gzip')).toBe('"abc"');
    expect(formEtag('"abc"', 'identity', 'gzip')).toBe('"abc-identity"');
  });

  it('leaves weak tags as they are: equivalent forms may share one', () => {
    expect(formEtag('W/"abc"', 'br', undefined)).toBe('W/"abc"');
  });
});

describe('decoding a backend’s coding', () => {
  it('stops at the size limit: a small gzip bomb is not inflated into memory', async () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(16 * 1024);
    expect(await decodeBody(bomb, 'gzip', 1024 * 1024)).toBeUndefined();
    expect((await decodeBody(bomb, 'gzip', 8 * 1024 * 1024))?.length).toBe(8 * 1024 * 1024);
  });

  it('reads deflate zlib-wrapped or raw, and calls a corrupt body undecodable', async () => {
    const { deflateSync, deflateRawSync } = await import('node:zlib');
    const text = Buffer.from('hello hello hello');
    expect((await decodeBody(deflateSync(text), 'deflate', 1024))?.toString()).toBe('hello hello hello');
    expect((await decodeBody(deflateRawSync(text), 'deflate', 1024))?.toString()).toBe('hello hello hello');
    expect(await decodeBody(Buffer.from('not gzip at all'), 'gzip', 1024)).toBeUndefined();
  });
});

describe('the forms kept with an entry', () => {
  const route = parseRoutes({ routes: [], default: { name: 'all' } }, 'routes.json').fallback;
  const page = Buffer.from('<p>a page that compresses well, like most pages do</p>\n'.repeat(200));
  const settings = (maxBytes: number) => ({
    enabled: true,
    compressible: mediaTypeMatcher(['text/*']),
    minBytes: 1024,
    maxBytes,
  });
  const headers = { 'content-type': 'text/html', etag: '"p1"' };

  it('are gzip and br, made once at store time, with Vary: Accept-Encoding on the stored headers', async () => {
    const prepared = await prepareForStore(headers, page, route, settings(10 * 1024 * 1024));
    expect(gunzipSync(prepared.forms?.gzip ?? Buffer.alloc(0)).equals(page)).toBe(true);
    expect(brotliDecompressSync(prepared.forms?.br ?? Buffer.alloc(0)).equals(page)).toBe(true);
    expect(prepared.headers.vary).toBe('Accept-Encoding');
    expect(prepared.body).toBe(page);
    // Each form owns its memory: a small one carved from Node's shared pool would pin 8 KiB while cached.
    for (const form of [prepared.forms?.gzip, prepared.forms?.br]) {
      expect(form?.buffer.byteLength).toBe(form?.byteLength);
    }
  });

  it('stay within MAX_OBJECT_BYTES with the body: br, the smaller, is kept when only one fits', async () => {
    const all = await prepareForStore(headers, page, route, settings(10 * 1024 * 1024));
    const brLength = all.forms?.br?.length ?? 0;
    const one = await prepareForStore(headers, page, route, settings(page.length + brLength));
    expect(one.forms?.br?.length).toBe(brLength);
    expect(one.forms?.gzip).toBeUndefined();
    const none = await prepareForStore(headers, page, route, settings(page.length + brLength - 1));
    expect(none.forms).toBeUndefined();
  });

  it('are not made for small bodies, other media types, or a response that says no-transform', () => {
    expect(prepareForStore(headers, Buffer.from('short'), route, settings(1 << 20))).toMatchObject({
      forms: undefined,
    });
    expect(prepareForStore({ 'content-type': 'image/png' }, page, route, settings(1 << 20))).toMatchObject({
      forms: undefined,
    });
    expect(
      prepareForStore(
        { ...headers, 'cache-control': 'max-age=60, No-Transform' },
        page,
        route,
        settings(1 << 20),
      ),
    ).toMatchObject({ forms: undefined });
  });
});

describe('variesByEncoding(): whether a Vary field names Accept-Encoding', () => {
  it.each([
    ['Accept-Encoding', true],
    ['Accept-Language, accept-encoding', true],
    ['Origin,\tACCEPT-ENCODING , Cookie', true],
    [['Origin', ' Accept-Encoding '], true],
    ['Accept-Encodings', false],
    ['X-Accept-Encoding', false],
    ['Accept-Encoding-X, Origin', false],
    ['', false],
    [undefined, false],
  ] as const)('%j: %s', (vary, expected) => {
    expect(variesByEncoding(vary as string | string[] | undefined)).toBe(expected);
  });
});
