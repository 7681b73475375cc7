import CachePolicy from 'http-cache-semantics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hcsVerdict } from '../../src/modules/cache/hcs-verdict.js';

const DATE = 'Tue, 14 Nov 2023 22:13:20 GMT';

function fresh(status: number, authorization: string | undefined, headers: Record<string, string>) {
  const p = new CachePolicy(
    { method: 'GET', url: '/', headers: authorization === undefined ? {} : { authorization } },
    { status, headers },
    { shared: true },
  );
  return { storable: p.storable(), maxAge: p.maxAge() };
}

describe('hcsVerdict(): http-cache-semantics asked once per distinct input', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const cases: [number, string | undefined, Record<string, string>][] = [
    [200, undefined, { 'cache-control': 'max-age=60', date: DATE }],
    [200, undefined, { 'cache-control': 'max-age=60' }],
    [200, 'Bearer x', { 'cache-control': 'max-age=60', date: DATE }],
    [200, 'Bearer x', { 'cache-control': 'public, max-age=60', date: DATE }],
    [200, undefined, { 'cache-control': 'no-cache', date: DATE }],
    [200, undefined, { date: DATE, expires: 'Tue, 14 Nov 2023 23:13:20 GMT' }],
    [200, undefined, { date: DATE, 'last-modified': 'Tue, 14 Nov 2023 12:13:20 GMT' }],
    [404, undefined, { date: DATE }],
    [200, undefined, { 'cache-control': 'max-age=60', vary: '*', date: DATE }],
    [200, undefined, { 'cache-control': 'max-age=60', vary: '', date: DATE }],
  ];

  it.each(cases)('status %i, authorization %s, %j: as a CachePolicy says, asked again or not', (s, a, h) => {
    const expected = fresh(s, a, h);
    expect(hcsVerdict(s, a, h)).toEqual(expected);
    expect(hcsVerdict(s, a, { ...h })).toEqual(expected);
  });

  it('tells apart inputs asked one right after the other that differ only in Authorization or status', () => {
    // The last input is checked before the memo: a check that missed a field would hand the
    // authorised request the unauthorised verdict (storable), or one status another's.
    const headers = { 'cache-control': 'max-age=60', date: DATE };
    const pairs: [number, string | undefined][][] = [
      [
        [200, undefined],
        [200, 'Bearer x'],
      ],
      [
        [200, 'Bearer x'],
        [200, undefined],
      ],
      [
        [200, undefined],
        [299, undefined],
      ],
      [
        [299, undefined],
        [200, undefined],
      ],
    ];
    for (const pair of pairs) {
      for (const [status, authorization] of pair) {
        expect(hcsVerdict(status, authorization, { ...headers })).toEqual(
          fresh(status, authorization, headers),
        );
      }
    }
  });

  it('follows the clock when there is no Date to measure an Expires against', () => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.parse(DATE));
    const headers = { expires: 'Tue, 14 Nov 2023 22:14:20 GMT' };
    expect(hcsVerdict(200, undefined, headers).maxAge).toBe(60);
    vi.setSystemTime(Date.parse(DATE) + 30_000);
    expect(hcsVerdict(200, undefined, headers).maxAge).toBe(30);
  });
});
