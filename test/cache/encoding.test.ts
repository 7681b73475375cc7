import { describe, expect, it } from 'vitest';
import { encodingPreference, normaliseAcceptEncoding } from '../../src/modules/cache/encoding.js';

const best = (value: string | undefined) => encodingPreference(value).best;
const order = (value: string | undefined) => encodingPreference(value).order;

describe('Accept-Encoding comes down to br, gzip or identity (RFC 9110 §12.5.3)', () => {
  it('gives identity to a client that sends no Accept-Encoding, or an empty one', () => {
    expect(best(undefined)).toBe('identity');
    expect(best('')).toBe('identity');
    expect(best(' ')).toBe('identity');
  });

  it('prefers br when a browser offers it with gzip, ignoring codings tagcache does not make', () => {
    expect(best('gzip, deflate, br, zstd')).toBe('br');
    expect(order('gzip, deflate, br')).toEqual(['br', 'gzip', 'identity']);
    expect(best('br')).toBe('br');
  });

  it('gives gzip to clients that offer gzip and no br, whatever the order, case and spacing', () => {
    for (const value of [
      'gzip, deflate',
      'gzip,deflate',
      'deflate, gzip',
      'GZIP',
      ' gzip ;  q=1 ',
      'x-gzip',
    ]) {
      expect(best(value), value).toBe('gzip');
    }
  });

  it('honours q-values, and q=0 refuses a coding', () => {
    expect(best('br;q=0.5, gzip;q=0.8')).toBe('gzip');
    expect(order('br;q=0.5, gzip;q=0.8')).toEqual(['gzip', 'br', 'identity']);
    expect(best('br;q=0, gzip')).toBe('gzip');
    expect(best('gzip;q=0, br;q=0')).toBe('identity');
    expect(best('identity, gzip;q=0.5')).toBe('identity');
    expect(best('BR;Q=0.001')).toBe('br');
  });

  it('lets * stand for every coding not named', () => {
    expect(best('*')).toBe('br');
    expect(best('br;q=0, *')).toBe('gzip');
    expect(order('*;q=0')).toEqual([]);
    expect(order('identity, *;q=0')).toEqual(['identity']);
  });

  it('drops identity when the client refuses it with identity;q=0 or *;q=0', () => {
    expect(order('gzip, identity;q=0')).toEqual(['gzip']);
    expect(order('gzip, *;q=0')).toEqual(['gzip']);
  });

  it('voids an item whose q-value is malformed rather than guessing', () => {
    expect(best('br;q=2, gzip')).toBe('gzip');
    expect(best('br;q=abc, gzip')).toBe('gzip');
    expect(best('br;level=5')).toBe('br');
  });

  it('writes a canonical value that parses back to the same preference', () => {
    const values = [
      undefined,
      '',
      'gzip, deflate, br, zstd',
      'gzip',
      'br',
      'br;q=0.5, gzip;q=0.8',
      'identity, gzip;q=0.5, br;q=0.4',
      'gzip, identity;q=0',
      '*;q=0',
      'deflate',
    ];
    for (const value of values) {
      const pref = encodingPreference(value);
      expect(encodingPreference(pref.header).best, String(value)).toBe(pref.best);
      if (pref.order.length > 0)
        expect(encodingPreference(pref.header).order, String(value)).toEqual(pref.order);
    }
    expect(encodingPreference('gzip, deflate, br, zstd').header).toBe('br, gzip');
    expect(encodingPreference('deflate, gzip').header).toBe('gzip');
    expect(encodingPreference(undefined).header).toBe('identity');
  });

  it('rewrites a request to the canonical value, so the backend never sees a coding tagcache cannot decode', () => {
    const headers = { 'accept-encoding': 'gzip, deflate, br, zstd' };
    normaliseAcceptEncoding(headers);
    expect(headers['accept-encoding']).toBe('br, gzip');
    const none: Record<string, string> = {};
    normaliseAcceptEncoding(none);
    expect(none['accept-encoding']).toBe('identity');
  });
});
