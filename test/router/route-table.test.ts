import { describe, expect, it } from 'vitest';
import { RequestContext } from '../../src/modules/pipeline/context.js';
import { matchRoute, parseRoutes, routerStage } from '../../src/modules/router/index.js';
import { createLogger } from '../../src/utils/logger.js';

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

describe('routerStage', () => {
  const log = createLogger({ level: 'silent' });
  const context = (target: string) =>
    new RequestContext({
      id: 't',
      method: 'GET',
      target,
      headers: {},
      scheme: 'http',
      clientIp: '',
      body: null,
      log,
    });

  it("memoises the match on the context and hands over the route's backends", async () => {
    const source = { current: () => table };
    const ctx = context('/products?page=2');
    await routerStage(source)(ctx, async () => {});
    expect(ctx.route?.route.name).toBe('products');
    expect(ctx.origins?.map((o) => o.origin)).toEqual(['http://127.0.0.1:9000', 'http://127.0.0.1:9001']);
    expect(matchRoute(ctx, { current: () => parseRoutes({ routes: [] }, 'x') })).toBe(ctx.route);
  });
});
