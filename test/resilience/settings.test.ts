import { describe, expect, it } from 'vitest';
import { parseRoutes } from '../../src/modules/router/index.js';
import { loadConfig } from '../../src/utils/config.js';
import { rejected } from '../support/config.js';

describe('resilience settings', () => {
  it('have the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      upstreamUrls: [],
      upstreamBalance: 'least-in-flight',
      upstreamRetries: 1,
      upstreamEjectMs: 10_000,
      breakerConsecutiveFailures: 5,
      breakerErrorRate: 0.5,
      breakerWindowMs: 10_000,
      breakerMinRequests: 20,
      breakerOpenMs: 5_000,
      breakerFailureStatuses: [],
      breakerPanicRps: 1,
      storeBreakerFailures: 5,
      storeBreakerOpenMs: 2_000,
      trustedProxies: [],
      allowedHosts: [],
      maxUrlBytes: 8000,
      maxBodyBytes: 100 * 1024 * 1024,
    });
  });

  it('read lists: several origins, trusted ranges and host patterns', () => {
    const c = loadConfig({
      UPSTREAM_URL: 'http://10.0.0.1:8080, http://10.0.0.2:8080,http://10.0.0.1:8080',
      TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.7, ::1, fd00::/8',
      ALLOWED_HOSTS: 'Example.com, *.example.org.',
    });
    expect(c.upstreamUrls.map((u) => u.origin)).toEqual(['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
    expect(c.upstreamUrl?.origin).toBe('http://10.0.0.1:8080');
    expect(c.trustedProxies.map((r) => `${r.address}/${r.prefix}`)).toEqual([
      '10.0.0.0/8',
      '192.168.1.7/32',
      '::1/128',
      'fd00::/8',
    ]);
    expect(c.allowedHosts).toEqual(['example.com', '*.example.org']);
  });

  it('read the breaker’s failure statuses and panic rate', () => {
    const c = loadConfig({ BREAKER_FAILURE_STATUSES: '502, 503,504', BREAKER_PANIC_RPS: '0.2' });
    expect(c.breakerFailureStatuses).toEqual([502, 503, 504]);
    expect(c.breakerPanicRps).toBe(0.2);
    expect(loadConfig({ BREAKER_FAILURE_STATUSES: 'none', BREAKER_PANIC_RPS: '0' })).toMatchObject({
      breakerFailureStatuses: [],
      breakerPanicRps: 0,
    });
  });

  it.each([
    ['UPSTREAM_URL', 'http://a:1,ftp://b', 'UPSTREAM_URL="http://a:1,ftp://b": expected an http://'],
    ['UPSTREAM_BALANCE', 'random', 'UPSTREAM_BALANCE="random": expected one of least-in-flight, round-robin'],
    ['UPSTREAM_RETRIES', '-1', 'UPSTREAM_RETRIES="-1": expected a whole number from 0 to 10'],
    ['BREAKER_ERROR_RATE', '1', 'BREAKER_ERROR_RATE="1": expected a fraction from 0 (off) to below 1'],
    ['BREAKER_ERROR_RATE', '50%', 'BREAKER_ERROR_RATE="50%"'],
    [
      'BREAKER_FAILURE_STATUSES',
      '200,503',
      'BREAKER_FAILURE_STATUSES="200,503": expected a comma-separated list of statuses from 400 to 599',
    ],
    ['BREAKER_FAILURE_STATUSES', '5xx', 'BREAKER_FAILURE_STATUSES="5xx"'],
    ['BREAKER_PANIC_RPS', '-1', 'BREAKER_PANIC_RPS="-1": expected a number of requests per second from 0'],
    ['BREAKER_PANIC_RPS', '1001', 'BREAKER_PANIC_RPS="1001"'],
    ['BREAKER_OPEN_MS', '0', 'BREAKER_OPEN_MS="0": expected a whole number from 1'],
    [
      'TRUSTED_PROXIES',
      '10.0.0.0/33',
      'TRUSTED_PROXIES="10.0.0.0/33": expected a comma-separated list of IP addresses',
    ],
    ['TRUSTED_PROXIES', 'proxy.local', 'TRUSTED_PROXIES="proxy.local"'],
    [
      'ALLOWED_HOSTS',
      'example.com:8080',
      'ALLOWED_HOSTS="example.com:8080": expected a comma-separated list of host names',
    ],
    ['ALLOWED_HOSTS', 'a.*.example.com', 'ALLOWED_HOSTS="a.*.example.com"'],
    ['MAX_URL_BYTES', '10', 'MAX_URL_BYTES="10": expected a whole number from 256'],
    ['MAX_BODY_BYTES', 'huge', 'MAX_BODY_BYTES="huge": expected a byte size'],
  ])('rejects %s=%s in one line naming it', (name, value, message) => {
    const text = rejected({ [name]: value });
    expect(text).toContain(message);
    expect(text.split('\n')).toHaveLength(1);
  });
});

describe('routes.json rateLimit', () => {
  const withLimit = (rateLimit: unknown) => ({ routes: [{ name: 'api', pattern: '^/api', rateLimit }] });
  const problem = (json: unknown): string => {
    try {
      parseRoutes(json, 'routes.json');
    } catch (err) {
      return (err as Error).message;
    }
    return 'accepted';
  };

  it('reads the limit, with burst defaulting to one second of requests', () => {
    const route = parseRoutes(withLimit({ requestsPerSecond: 2.5 }), 'f').routes[0];
    expect(route?.rateLimit).toEqual({ requestsPerSecond: 2.5, burst: 3, exemptHits: false });
  });

  it.each([
    [{ requestsPerSecond: 0 }, 'route "api": rateLimit.requestsPerSecond 0 must be a number above 0'],
    [{ requestsPerSecond: 5, burst: 0.5 }, 'route "api": rateLimit.burst 0.5 must be a whole number'],
    [
      { requestsPerSecond: 5, exemptHits: 'yes' },
      'route "api": rateLimit.exemptHits "yes" must be true or false',
    ],
    [{ requestsPerSecond: 5, perMinute: 3 }, 'route "api": rateLimit has unknown field "perMinute"'],
    [50, 'route "api": rateLimit 50 must be an object'],
  ])('refuses %j naming the route', (rateLimit, message) => {
    expect(problem(withLimit(rateLimit))).toContain(message);
  });
});
