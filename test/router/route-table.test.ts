import { describe, expect, it } from 'vitest';
import { matchRoute, parseRoutes } from '../../src/modules/router/index.js';

const table = parseRoutes(
  {
    routes: [
      { name: 'product', pattern: '^/products/(?<id>\\d+)$', tags: ['product:{id}', 'products'] },
      {
        name: 'products',
        pattern: '^/products',
        upstream: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'],
      },
      { name: 'assets', pattern: '\\.(?:css|js)$', staleIfError: 86400 },
    ],
    default: { name: 'other' },
  },
  'routes.json',
);

describe('route table', () => {
  it('the first matching route wins', () => {
    expect(table.match('/products/7').route.name).toBe('product');
    expect(table.match('/products/7/reviews').route.name).toBe('products');
    expect(table.match('/products/app.css').route.name).toBe('products');
    expect(table.match('/static/app.css').route.name).toBe('assets');
  });

  it('the default route takes what no pattern matches', () => {
    expect(table.match('/').route.name).toBe('other');
  });

  it('named groups become the match params', () => {
    expect(table.match('/products/42').params).toEqual({ id: '42' });
    expect(table.match('/static/app.css').params).toEqual({});
  });

  it('a path past 2048 characters goes to the default without running any pattern', () => {
    expect(table.match(`/products/${'1'.repeat(2100)}`).route.name).toBe('other');
  });

  it('compiles each pattern once: a match reuses the route objects', () => {
    expect(table.match('/products/1').route).toBe(table.match('/products/2').route);
  });
});

describe('matchRoute', () => {
  const source = { current: () => table };

  it('matches the normalised path, as the cache key does: no other route by dot segments or escapes', () => {
    expect(matchRoute(source, '/products?page=2').route.name).toBe('products');
    expect(matchRoute(source, '/x/../products/7').route.name).toBe('product');
    expect(matchRoute(source, '/%70roducts/7').route.name).toBe('product');
  });

  it("hands over the route's backends with the match", () => {
    const { route } = matchRoute(source, '/products?page=2');
    expect(route.upstreams?.map((o) => o.origin)).toEqual(['http://127.0.0.1:9000', 'http://127.0.0.1:9001']);
  });
});
