import { describe, expect, it } from 'vitest';
import { decodeBlob, decodeEntry, encodeBlob } from '../../src/modules/store/redis-codec.js';

/** Version 2's layout, spelled out: MAGIC, the JSON part's length, the JSON part, then the Buffers in order. */
function layout(json: string, ...buffers: Buffer[]): Buffer {
  const text = Buffer.from(json);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(text.length);
  return Buffer.concat([Buffer.from([0x74, 0x63, 0x02, 0x00]), length, text, ...buffers]);
}

describe('encodeBlob(): the bytes of entry format 2', () => {
  const entry = {
    id: 'https://example.test/a\nbr',
    key: 'https://example.test/a',
    status: 200,
    headers: { 'content-type': 'text/plain; charset=ütf-8', 'set-cookie': ['a=1', 'b=2'] },
    body: Buffer.from('hello'),
    policy: '{"v":1,"etag":"\\"x\\""}',
    tags: ['t1', 'ⓣ2'],
    url: 'https://example.test/a',
    route: 'r',
    storedAt: 5,
    softPurgedAt: 0,
    forms: { gzip: Buffer.from('gz'), br: Buffer.from('brr'), pending: ['br'], source: undefined },
    absent: undefined,
  };

  it('are MAGIC, the length, the JSON with each Buffer as null, then the Buffers', () => {
    const json = JSON.stringify({
      e: {
        id: entry.id,
        key: entry.key,
        status: 200,
        headers: entry.headers,
        body: null,
        policy: entry.policy,
        tags: entry.tags,
        url: entry.url,
        route: 'r',
        storedAt: 5,
        softPurgedAt: 0,
        forms: { gzip: null, br: null, pending: ['br'] },
      },
      b: [
        [['body'], 5],
        [['forms', 'gzip'], 2],
        [['forms', 'br'], 3],
      ],
    });
    expect(encodeBlob(entry).equals(layout(json, entry.body, entry.forms.gzip, entry.forms.br))).toBe(true);
  });

  it('takes Buffers inside arrays and nested objects, and round-trips through decodeBlob', () => {
    const nested = { a: [1, { b: Buffer.from([0, 255]) }, [Buffer.from('x')]], c: null, d: 'é' };
    const blob = encodeBlob(nested);
    const json = JSON.stringify({
      e: { a: [1, { b: null }, [null]], c: null, d: 'é' },
      b: [
        [['a', 1, 'b'], 2],
        [['a', 2, 0], 1],
      ],
    });
    expect(blob.equals(layout(json, Buffer.from([0, 255]), Buffer.from('x')))).toBe(true);
    expect(decodeBlob(blob)).toEqual(nested);
    expect(decodeBlob(encodeBlob(entry))).toEqual({ ...entry, forms: { ...entry.forms } });
  });
});

describe('decodeEntry(): an HMGET reply of the blob and softPurgedAt', () => {
  const entry = {
    id: 'e1',
    key: 'https://example.test/a',
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: Buffer.from('hello'),
    policy: '{"v":1}',
    tags: [],
    url: 'https://example.test/a',
    route: 'r',
    storedAt: 5,
    softPurgedAt: 0,
  };
  const blob = encodeBlob(entry);

  it('takes softPurgedAt from its own field, not the blob', () => {
    expect(decodeEntry('e1', [blob, Buffer.from('0')])).toEqual(entry);
    expect(decodeEntry('e1', [blob, Buffer.from('1700000000123')])?.softPurgedAt).toBe(1700000000123);
    expect(decodeEntry('e1', [blob, Buffer.from('7')])?.softPurgedAt).toBe(7);
  });

  it('is a miss for a softPurgedAt that is no number, a missing field, another id or another magic', () => {
    expect(decodeEntry('e1', [blob, Buffer.from('x')])).toBeUndefined();
    expect(decodeEntry('e1', [blob, Buffer.from('0x')])).toBeUndefined();
    expect(decodeEntry('e1', [blob, null])).toBeUndefined();
    expect(decodeEntry('e1', [null, Buffer.from('0')])).toBeUndefined();
    expect(decodeEntry('e2', [blob, Buffer.from('0')])).toBeUndefined();
    expect(decodeEntry(undefined, [blob, Buffer.from('0')])?.id).toBe('e1');
    for (let i = 0; i < 4; i++) {
      const foreign = Buffer.from(blob);
      foreign[i] = (foreign[i] ?? 0) ^ 1;
      expect(decodeEntry('e1', [foreign, Buffer.from('0')])).toBeUndefined();
    }
  });
});
