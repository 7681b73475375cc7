import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { computePolicy } from '../../src/modules/cache/compute-policy.js';
import { type Decision, decide, requestDirectives } from '../../src/modules/cache/decide.js';
import {
  decodePolicy,
  encodePolicy,
  type Policy,
  type PolicyResult,
} from '../../src/modules/cache/policy.js';
import { parseRoutes } from '../../src/modules/router/index.js';
import type { HeaderMap } from '../../src/utils/headers.js';

const ROUTE = parseRoutes({ routes: [], default: { name: 'all' } }, 'routes.json').fallback;
/** A validated entry is kept an hour past its freshness for 304s, as by default. */
const KEEP = { staleKeepSeconds: 3600, staleOnOutageSeconds: 0 };
const T0 = 1_700_000_000_000;
const at = (seconds: number) => T0 + seconds * 1000;

function policyResult(
  headers: HeaderMap,
  requestHeaders: IncomingHttpHeaders = {},
  status = 200,
): PolicyResult {
  return computePolicy(
    { method: 'GET', requestHeaders, status, headers, requestTime: T0, responseTime: T0, route: ROUTE },
    KEEP,
  );
}

function stored(cacheControl: string): Policy {
  const result = policyResult({ 'cache-control': cacheControl, etag: '"v"' });
  if (!result.storable) throw new Error(`not storable: ${result.reason}`);
  return result.policy;
}

const HIT: Decision = { kind: 'hit', stale: false };
const STALE_HIT: Decision = { kind: 'hit', stale: true };
const STALE_REFRESH: Decision = { kind: 'stale-refresh' };
const VALIDATE_STALE: Decision = { kind: 'revalidate', fwd: 'stale' };
const VALIDATE_FOR_REQUEST: Decision = { kind: 'revalidate', fwd: 'request' };

describe('decide(): what a stored response may do for a request (RFC 9111 §4, RFC 5861)', () => {
  const cases: [string, string, IncomingHttpHeaders, number, Decision][] = [
    ['a fresh response is served', 'max-age=60', {}, 10, HIT],
    ['a stale response without stale windows is validated first', 'max-age=60', {}, 61, VALIDATE_STALE],
    [
      'request max-stale=30 takes a response 20 s stale',
      'max-age=60',
      { 'cache-control': 'max-stale=30' },
      80,
      STALE_HIT,
    ],
    [
      'request max-stale=10 does not take one 20 s stale',
      'max-age=60',
      { 'cache-control': 'max-stale=10' },
      80,
      VALIDATE_STALE,
    ],
    [
      'request max-stale without a value takes any staleness',
      'max-age=60',
      { 'cache-control': 'max-stale' },
      100_000,
      STALE_HIT,
    ],
    [
      'request max-stale does not override must-revalidate',
      'max-age=60, must-revalidate',
      { 'cache-control': 'max-stale' },
      80,
      VALIDATE_STALE,
    ],
    [
      'request max-stale does not override s-maxage (proxy-revalidate, §5.2.2.10)',
      's-maxage=60',
      { 'cache-control': 'max-stale' },
      80,
      VALIDATE_STALE,
    ],
    [
      'request min-fresh=30 with 50 s left is served',
      'max-age=60',
      { 'cache-control': 'min-fresh=30' },
      10,
      HIT,
    ],
    [
      'request min-fresh=30 with 20 s left is validated for the request',
      'max-age=60',
      { 'cache-control': 'min-fresh=30' },
      40,
      VALIDATE_FOR_REQUEST,
    ],
    [
      'request max-age=0 validates a fresh response',
      'max-age=60',
      { 'cache-control': 'max-age=0' },
      10,
      VALIDATE_FOR_REQUEST,
    ],
    [
      'request no-cache validates a fresh response',
      'max-age=60',
      { 'cache-control': 'no-cache' },
      10,
      VALIDATE_FOR_REQUEST,
    ],
    [
      'Pragma: no-cache without Cache-Control validates (§5.4)',
      'max-age=60',
      { pragma: 'no-cache' },
      10,
      VALIDATE_FOR_REQUEST,
    ],
    [
      'Pragma: no-cache beside a Cache-Control is ignored (§5.4)',
      'max-age=60',
      { pragma: 'no-cache', 'cache-control': 'max-stale=5' },
      10,
      HIT,
    ],
    [
      'only-if-cached on a stale entry finds nothing it may use (the cache answers 504)',
      'max-age=60',
      { 'cache-control': 'only-if-cached' },
      61,
      VALIDATE_STALE,
    ],
    [
      'only-if-cached on a fresh entry is served',
      'max-age=60',
      { 'cache-control': 'only-if-cached' },
      10,
      HIT,
    ],
    [
      'inside stale-while-revalidate a stale response is served and refreshed',
      'max-age=60, stale-while-revalidate=30',
      {},
      70,
      STALE_REFRESH,
    ],
    [
      'past stale-while-revalidate it is validated first',
      'max-age=60, stale-while-revalidate=30',
      {},
      95,
      VALIDATE_STALE,
    ],
    [
      'response no-cache="set-cookie" is validated on every use (taken as unqualified)',
      'max-age=60, no-cache="set-cookie"',
      {},
      1,
      VALIDATE_STALE,
    ],
  ];

  it.each(cases)('%s', (_sentence, responseCc, request, seconds, expected) => {
    const req = requestDirectives(request);
    expect(decide(stored(responseCc), 0, req, at(seconds))).toEqual(expected);
  });

  it('a soft purge makes a fresh response stale from that moment', () => {
    const p = stored('max-age=60');
    expect(decide(p, at(5), undefined, at(4))).toEqual(HIT);
    expect(decide(p, at(5), undefined, at(6))).toEqual(VALIDATE_STALE);
  });

  it('is a pure function: the same inputs give the same decision', () => {
    const p = stored('max-age=60, stale-while-revalidate=30');
    const req = requestDirectives({ 'cache-control': 'max-stale=5' });
    expect(decide(p, 0, req, at(63))).toEqual(decide(p, 0, req, at(63)));
  });
});

describe('the policy: what a shared cache may store (RFC 9111 §3)', () => {
  const auth = { authorization: 'Bearer x' };
  const cases: [string, HeaderMap, IncomingHttpHeaders, number, true | string][] = [
    ['a 200 with max-age is stored', { 'cache-control': 'max-age=60' }, {}, 200, true],
    [
      'private="x-user" is not stored at all (the named field must not be; the whole is safer)',
      { 'cache-control': 'max-age=60, private="x-user"' },
      {},
      200,
      'private',
    ],
    [
      'no-cache="set-cookie" with a validator is stored, to be validated on each use',
      { 'cache-control': 'max-age=60, no-cache="set-cookie"', etag: '"v"' },
      {},
      200,
      true,
    ],
    [
      'with Authorization and only max-age it is not stored (§3.5)',
      { 'cache-control': 'max-age=60' },
      auth,
      200,
      'authorization',
    ],
    ['with Authorization and s-maxage it is stored', { 'cache-control': 's-maxage=60' }, auth, 200, true],
    [
      'with Authorization and must-revalidate it is stored',
      { 'cache-control': 'max-age=60, must-revalidate' },
      auth,
      200,
      true,
    ],
    [
      'with Authorization and public it is stored',
      { 'cache-control': 'max-age=60, public' },
      auth,
      200,
      true,
    ],
    [
      'a request no-store keeps it out',
      { 'cache-control': 'max-age=60' },
      { 'cache-control': 'no-store' },
      200,
      'no-store',
    ],
    [
      'a 200 carrying Content-Range is whole and stored (RFC 9110 §14.4)',
      { 'cache-control': 'max-age=60', 'content-range': 'bytes 0-3/4' },
      {},
      200,
      true,
    ],
    [
      'a 206 is partial and not stored',
      { 'cache-control': 'max-age=60', 'content-range': 'bytes 0-3/9' },
      {},
      206,
      'partial',
    ],
  ];

  it.each(cases)('%s', (_sentence, headers, request, status, expected) => {
    const result = policyResult(headers, request, status);
    expect(result.storable ? true : result.reason).toBe(expected);
  });

  it('a response stored for a request with Authorization is marked so its revalidations carry one too', () => {
    const result = policyResult({ 'cache-control': 's-maxage=60' }, auth);
    expect(result.storable && result.policy.au).toBe(true);
  });
});

describe('encodePolicy(): the bytes JSON.stringify writes, which stored entries (Redis) keep', () => {
  const cases: [string, HeaderMap, IncomingHttpHeaders][] = [
    ['the fields every policy has', { 'cache-control': 'max-age=60' }, {}],
    [
      'every optional field, with characters JSON escapes',
      {
        'cache-control': 'max-age=60, stale-while-revalidate=5, stale-if-error=7',
        etag: 'W/"a\\"b\u0001"',
        'last-modified': 'Tue, 14 Nov 2023 22:13:20 GMT',
        vary: 'Accept-Language, X-Ünïcode',
        'surrogate-control': 'max-age=600',
        date: 'Tue, 14 Nov 2023 22:13:10 GMT',
        age: '3',
      },
      {},
    ],
    [
      'stored for a request with Authorization',
      { 'cache-control': 'max-age=60' },
      { authorization: 'Bearer x' },
    ],
    ['no-cache, must-revalidate', { 'cache-control': 'public, no-cache, must-revalidate', etag: '"e"' }, {}],
  ];
  it.each(cases)('%s', (_name, headers, requestHeaders) => {
    const result = policyResult(
      { ...headers, 'cache-control': `${headers['cache-control']}, s-maxage=30` },
      requestHeaders,
    );
    if (!result.storable) throw new Error(`not storable: ${result.reason}`);
    const encoded = encodePolicy(result.policy);
    expect(encoded).toBe(JSON.stringify(result.policy));
    expect(decodePolicy(encoded)).toEqual(result.policy);
  });

  it('writes a number JSON cannot hold as JSON does', () => {
    const p = { ...stored('max-age=60'), ia: Number.NaN };
    expect(encodePolicy(p)).toBe(JSON.stringify(p));
  });
});
