import { describe, expect, it } from 'vitest';
import { parseRoutes } from '../../src/modules/router/index.js';
import { isTagcacheError } from '../../src/utils/errors.js';

/** The TC_ROUTES_INVALID message parseRoutes throws for this input. */
function problem(json: unknown): string {
  try {
    parseRoutes(json, 'routes.json');
  } catch (err) {
    if (isTagcacheError(err, 'TC_ROUTES_INVALID')) return err.message;
    throw err;
  }
  throw new Error(`accepted ${JSON.stringify(json)}`);
}

const oneRoute = (fields: Record<string, unknown>) => ({
  routes: [{ name: 'product', pattern: '^/products/(?<id>\\d+)$', ...fields }],
});

describe('parseRoutes: what a valid file compiles to', () => {
  it('fills the defaults of every optional field', () => {
    const table = parseRoutes({ routes: [{ name: 'a', pattern: '^/a' }] }, 'routes.json');
    expect(table.routes).toHaveLength(1);
    const route = table.routes[0];
    expect(route).toMatchObject({
      name: 'a',
      cache: true,
      defaultTtlSeconds: undefined,
      staleWhileRevalidateSeconds: undefined,
      staleIfErrorSeconds: undefined,
      tags: [],
      upstreams: undefined,
      cacheKeyQuery: 'all',
      cacheSetCookie: false,
    });
    expect(route?.pattern.source).toBe('^\\/a');
    expect(table.fallback.name).toBe('default');
  });

  it('keeps every field it is given', () => {
    const table = parseRoutes(
      {
        routes: [
          {
            name: 'product',
            pattern: '^/products/(?<id>\\d+)$',
            cache: false,
            defaultTtl: 300,
            staleWhileRevalidate: 60,
            staleIfError: 86400,
            tags: ['product:{id}', 'products'],
            upstream: ['http://127.0.0.1:9000', 'https://backend.example:8443/'],
            cacheKeyQuery: ['page', 'sort'],
            cacheSetCookie: true,
          },
        ],
        default: { name: 'other', defaultTtl: 5, upstream: 'http://127.0.0.1:9001' },
      },
      'routes.json',
    );
    const route = table.routes[0];
    expect(route).toMatchObject({
      cache: false,
      defaultTtlSeconds: 300,
      staleWhileRevalidateSeconds: 60,
      staleIfErrorSeconds: 86400,
      tags: ['product:{id}', 'products'],
      cacheKeyQuery: ['page', 'sort'],
      cacheSetCookie: true,
    });
    expect(route?.upstreams?.map((u) => u.origin)).toEqual([
      'http://127.0.0.1:9000',
      'https://backend.example:8443',
    ]);
    expect(table.fallback).toMatchObject({ name: 'other', defaultTtlSeconds: 5 });
    expect(table.fallback.upstreams?.map((u) => u.origin)).toEqual(['http://127.0.0.1:9001']);
  });

  it('accepts each query-key rule', () => {
    expect(parseRoutes(oneRoute({ cacheKeyQuery: 'all' }), 'f').routes[0]?.cacheKeyQuery).toBe('all');
    expect(parseRoutes(oneRoute({ cacheKeyQuery: 'none' }), 'f').routes[0]?.cacheKeyQuery).toBe('none');
    expect(
      parseRoutes(oneRoute({ cacheKeyQuery: ['q', 'q', 'page'] }), 'f').routes[0]?.cacheKeyQuery,
    ).toEqual(['q', 'page']);
  });

  it('accepts the object form of cacheKeyQuery, with keep defaulting to all', () => {
    const rule = parseRoutes(
      oneRoute({ cacheKeyQuery: { sort: true, ignore: ['utm_*', 'fbclid', 'utm_*'] } }),
      'f',
    ).routes[0]?.cacheKeyQuery;
    expect(rule).toMatchObject({ keep: 'all', ignore: ['utm_*', 'fbclid'], sort: true });
    const ignores = (rule as { ignores: (name: string) => boolean }).ignores;
    expect(['utm_source', 'utm_', 'fbclid'].every(ignores)).toBe(true);
    expect(['utm', 'xutm_a', 'fbclid2', 'page'].some(ignores)).toBe(false);
    expect(
      parseRoutes(oneRoute({ cacheKeyQuery: { keep: ['page'] } }), 'f').routes[0]?.cacheKeyQuery,
    ).toMatchObject({ keep: ['page'], ignore: [], sort: false, ignores: undefined });
  });

  it('a glob with many stars cannot backtrack on a long name', async () => {
    const { globMatch } = await import('../../src/modules/router/query-rule.js');
    expect(globMatch('a*a*a*a*a*a*a*b', 'a'.repeat(8000))).toBe(false);
    expect(globMatch('*x*', 'abxcd')).toBe(true);
  });

  it('accepts ttl and ttlOverrides', () => {
    const route = parseRoutes(oneRoute({ ttl: 30, ttlOverrides: ['private', 'no-store'] }), 'f').routes[0];
    expect(route).toMatchObject({ ttlSeconds: 30, ttlOverrides: ['private', 'no-store'] });
    expect(parseRoutes(oneRoute({}), 'f').routes[0]).toMatchObject({
      ttlSeconds: undefined,
      ttlOverrides: [],
    });
  });

  it('accepts an empty route list, leaving everything to the default', () => {
    const table = parseRoutes({ routes: [] }, 'routes.json');
    expect(table.match('/anything').route.name).toBe('default');
  });

  it('accepts the routes.json the proxy ships with', async () => {
    const { loadRouteTable } = await import('../../src/modules/router/index.js');
    const table = loadRouteTable(new URL('../../routes.json', import.meta.url).pathname);
    expect(table.match('/products/42')).toMatchObject({ route: { name: 'product' }, params: { id: '42' } });
    expect(table.match('/search').route.cache).toBe(false);
    expect(table.match('/static/app.css').route.name).toBe('assets');
    expect(table.match('/about').route.name).toBe('other');
  });
});

describe('parseRoutes: every error names the file and the route', () => {
  it('a pattern that is not a regular expression', () => {
    expect(problem(oneRoute({ pattern: '(' }))).toBe(
      'routes.json: route "product": pattern "(" is not a valid regular expression (Unterminated group)',
    );
  });

  it('a missing or empty pattern', () => {
    expect(problem({ routes: [{ name: 'a' }] })).toMatch(/^routes\.json: route "a": pattern is required/);
    expect(problem({ routes: [{ name: 'a', pattern: '' }] })).toBe(
      'routes.json: route "a": pattern "" must be a non-empty string',
    );
    expect(problem({ routes: [{ name: 'a', pattern: 5 }] })).toBe(
      'routes.json: route "a": pattern 5 must be a non-empty string',
    );
  });

  it('an unknown field, on a route, on the default and at the top', () => {
    expect(problem(oneRoute({ maxAge: 5 }))).toBe(
      'routes.json: route "product": unknown field "maxAge"; expected one of name, pattern, cache, defaultTtl, ttl, ttlOverrides, staleWhileRevalidate, staleIfError, tags, upstream, cacheKeyQuery, cacheSetCookie, rateLimit, compress',
    );
    expect(problem({ routes: [], default: { name: 'other', pattern: '^/' } })).toMatch(
      /^routes\.json: default route "other": unknown field "pattern"/,
    );
    expect(problem({ routes: [], extra: true })).toBe(
      'routes.json: unknown field "extra"; expected one of routes, default',
    );
  });

  it('a duplicate name, naming both places', () => {
    const json = {
      routes: [
        { name: 'a', pattern: '^/a' },
        { name: 'b', pattern: '^/b' },
        { name: 'a', pattern: '^/c' },
      ],
    };
    expect(problem(json)).toBe(
      'routes.json: route "a": name is used twice (routes[0] and routes[2]); names must be unique because they are the route metric label',
    );
    expect(problem({ routes: [{ name: 'other', pattern: '^/a' }], default: { name: 'other' } })).toMatch(
      /^routes\.json: default route "other": name is used twice \(routes\[0\] and default\)/,
    );
  });

  it('a missing or unusable name, naming the route by its place', () => {
    expect(problem({ routes: [{ pattern: '^/a' }] })).toMatch(/^routes\.json: routes\[0\]: name is required/);
    expect(
      problem({
        routes: [
          { name: 'a', pattern: '^/a' },
          { name: 'has space', pattern: '^/b' },
        ],
      }),
    ).toBe(
      'routes.json: routes[1]: name "has space" must be 1 to 64 of A-Z a-z 0-9 _ . : - (it is the route metric label)',
    );
    expect(problem({ routes: [{ name: 'x'.repeat(65), pattern: '^/b' }] })).toMatch(
      /^routes\.json: routes\[0\]: name "x+/,
    );
  });

  it('wrong types of every field', () => {
    expect(problem(oneRoute({ cache: 'no' }))).toBe(
      'routes.json: route "product": cache "no" must be true or false',
    );
    expect(problem(oneRoute({ compress: 'no' }))).toBe(
      'routes.json: route "product": compress "no" must be true or false',
    );
    expect(parseRoutes(oneRoute({ compress: false }), 'routes.json').routes[0]?.compress).toBe(false);
    expect(parseRoutes(oneRoute({}), 'routes.json').routes[0]?.compress).toBe(true);
    expect(problem(oneRoute({ cacheSetCookie: 1 }))).toBe(
      'routes.json: route "product": cacheSetCookie 1 must be true or false',
    );
    expect(problem(oneRoute({ defaultTtl: -1 }))).toBe(
      'routes.json: route "product": defaultTtl -1 must be a whole number of seconds from 0 to 2147483648',
    );
    expect(problem(oneRoute({ staleWhileRevalidate: 1.5 }))).toMatch(
      /staleWhileRevalidate 1\.5 must be a whole number/,
    );
    expect(problem(oneRoute({ staleIfError: '60' }))).toMatch(/staleIfError "60" must be a whole number/);
    expect(problem(oneRoute({ tags: 'products' }))).toMatch(
      /route "product": tags "products" must be an array/,
    );
    expect(problem(oneRoute({ tags: ['ok', 5] }))).toBe(
      'routes.json: route "product": tags[1] 5 must be a non-empty string',
    );
    expect(problem(oneRoute({ cacheKeyQuery: 'some' }))).toMatch(
      /route "product": cacheKeyQuery "some" must be "all", "none", an array/,
    );
    expect(problem(oneRoute({ cacheKeyQuery: [] }))).toMatch(
      /cacheKeyQuery \[\] keeps no parameter; write "none"/,
    );
    expect(problem(oneRoute({ cacheKeyQuery: ['a', 3] }))).toMatch(/cacheKeyQuery \["a",3\] must be/);
    expect(problem(oneRoute({ cacheKeyQuery: { sort: true, drop: ['a'] } }))).toBe(
      'routes.json: route "product": cacheKeyQuery has unknown field "drop"; expected one of keep, ignore, sort',
    );
    expect(problem(oneRoute({ cacheKeyQuery: { ignore: 'utm_*' } }))).toMatch(
      /route "product": cacheKeyQuery.ignore "utm_\*" must be an array of names such as \["utm_\*"/,
    );
    expect(problem(oneRoute({ cacheKeyQuery: { ignore: ['*'] } }))).toMatch(
      /route "product": cacheKeyQuery.ignore\[0\] "\*" must be a parameter name or glob/,
    );
    expect(problem(oneRoute({ cacheKeyQuery: { ignore: ['a b'] } }))).toMatch(
      /cacheKeyQuery.ignore\[0\] "a b"/,
    );
    expect(problem(oneRoute({ cacheKeyQuery: { keep: 'some' } }))).toMatch(
      /route "product": cacheKeyQuery.keep "some" must be "all", "none" or an array/,
    );
    expect(problem(oneRoute({ cacheKeyQuery: { keep: [] } }))).toMatch(
      /cacheKeyQuery.keep \[\] keeps no parameter/,
    );
    expect(problem(oneRoute({ cacheKeyQuery: { sort: 'yes' } }))).toMatch(
      /route "product": cacheKeyQuery.sort "yes" must be true or false/,
    );
    expect(problem(oneRoute({ ttl: -5 }))).toMatch(
      /route "product": ttl -5 must be a whole number of seconds/,
    );
    expect(problem(oneRoute({ ttlOverrides: ['private'] }))).toBe(
      'routes.json: route "product": ttlOverrides needs "ttl": it says which backend directives the forced ttl overrides',
    );
    expect(problem(oneRoute({ ttl: 5, ttlOverrides: ['set-cookie'] }))).toMatch(
      /route "product": ttlOverrides \["set-cookie"\] must be an array of "private", "no-store", "no-cache"/,
    );
    expect(problem({ routes: ['^/a'] })).toBe(
      'routes.json: routes[0]: expected an object with at least "name" and "pattern", got string "^/a"',
    );
  });

  it('a bad upstream, saying what an origin looks like', () => {
    expect(problem(oneRoute({ upstream: 'ftp://files' }))).toBe(
      'routes.json: route "product": upstream "ftp://files": expected an http:// or https:// URL with no path, query or credentials, such as http://127.0.0.1:3000',
    );
    expect(problem(oneRoute({ upstream: ['http://a:1', 'http://b:2/path'] }))).toMatch(
      /route "product": upstream "http:\/\/b:2\/path": expected/,
    );
    expect(problem(oneRoute({ upstream: [] }))).toMatch(
      /route "product": upstream \[\] must name at least one origin/,
    );
    expect(problem(oneRoute({ upstream: 8080 }))).toMatch(
      /route "product": upstream 8080 must be an origin string/,
    );
  });

  it('a tag placeholder that is not a named group of the pattern', () => {
    expect(problem(oneRoute({ tags: ['product:{sku}'] }))).toBe(
      'routes.json: route "product": tags[0] "product:{sku}": placeholder {sku} is not a named group of the pattern (the pattern\'s named groups are id)',
    );
    expect(problem({ routes: [{ name: 'a', pattern: '^/a/(\\d+)', tags: ['a:{1}'] }] })).toMatch(
      /route "a": tags\[0\] "a:\{1\}": placeholder \{1\} is not a named group of the pattern \(the pattern has no named groups\)/,
    );
    expect(problem({ routes: [], default: { tags: ['x:{id}'] } })).toMatch(
      /^routes\.json: default route: tags\[0\] "x:\{id\}": placeholder \{id\} .*the default route has no pattern/,
    );
  });

  it('a tag template holding what no tag may hold', () => {
    expect(problem(oneRoute({ tags: ['product {id}'] }))).toMatch(
      /route "product": tags\[0\] "product \{id\}" contains whitespace, a comma or a control character/,
    );
    expect(problem(oneRoute({ tags: ['a,b'] }))).toMatch(/tags\[0\] "a,b" contains whitespace, a comma/);
  });

  it('a file that is not an object with a routes array', () => {
    expect(problem([])).toBe(
      'routes.json: expected a JSON object with "routes" (an array) and optionally "default", got an array',
    );
    expect(problem(null)).toMatch(/got null$/);
    expect(problem({})).toBe('routes.json: "routes" must be an array of routes, got nothing');
    expect(problem({ routes: {} })).toBe('routes.json: "routes" must be an array of routes, got an object');
  });

  it('a pattern with nested repetition, which would backtrack exponentially', () => {
    expect(problem(oneRoute({ pattern: '^/(a+)+$' }))).toBe(
      'routes.json: route "product": pattern "^/(a+)+$" is unsafe: the repeated part "(a+)+" repeats something inside it (nested quantifiers backtrack exponentially on hostile paths); rewrite it with one level of repetition',
    );
    expect(problem(oneRoute({ pattern: '^/x/(\\w+\\s?)*$' }))).toMatch(
      /route "product": pattern .* is unsafe/,
    );
    expect(problem(oneRoute({ pattern: '^/(?<a>\\d)\\k<a>' }))).toMatch(
      /route "product": pattern .* is unsafe: it uses the backreference "\\k<a>"/,
    );
  });
});
