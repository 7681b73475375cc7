import { describe, expect, it } from 'vitest';
import { RequestContext, type Stage } from '../../src/modules/pipeline/context.js';
import { matchRoute, parseRoutes } from '../../src/modules/router/index.js';
import { surrogateStage } from '../../src/modules/surrogate/index.js';
import { compose } from '../../src/utils/compose.js';
import type { HeaderMap } from '../../src/utils/headers.js';
import { createLogger } from '../../src/utils/logger.js';
import { captureLog } from '../support/log.js';

const table = parseRoutes(
  {
    routes: [
      { name: 'product', pattern: '^/products/(?<id>\\d+)$', tags: ['product:{id}', 'products'] },
      { name: 'optional', pattern: '^/shop(?:/(?<id>\\d+))?$', tags: ['shop:{id}', 'shop'] },
    ],
    default: { name: 'other' },
  },
  'routes.json',
);
const routes = { current: () => table };
/** What the proxy handler does at the door before the chain runs. */
const routerStage =
  (source: typeof routes): Stage =>
  (ctx, next) => {
    ctx.route = matchRoute(source, ctx.target);
    return next();
  };
const defaults = { debugHeaders: false, maxTagsPerResponse: 256, maxTagBytes: 1024 };

/** Runs router → surrogate → a backend stand-in answering with `headers`; returns the context and log lines. */
async function run(target: string, headers: HeaderMap, opts: Partial<typeof defaults> = {}) {
  const { log, lines } = captureLog();
  const ctx = new RequestContext({
    id: 'r1',
    method: 'GET',
    target,
    headers: {},
    scheme: 'http',
    clientIp: '',
    body: null,
    log,
  });
  const backend: Stage = async (c) => {
    c.response = { status: 200, headers: { ...headers }, upstreamHeaders: headers, body: Buffer.from('ok') };
  };
  await compose<RequestContext>([routerStage(routes), surrogateStage({ ...defaults, ...opts }), backend])(
    ctx,
  );
  return { ctx, lines, upstreamHeaders: headers };
}

describe('surrogateStage', () => {
  it('collects tags from the route templates and every tag header, without duplicates', async () => {
    const { ctx } = await run('/products/42', {
      'surrogate-key': 'product:42 brand:7',
      'cache-tag': 'sale,products',
      xkey: 'brand:7 home',
    });
    expect(ctx.tags).toEqual(['product:42', 'products', 'brand:7', 'sale', 'home']);
  });

  it('tags a response on a route without templates from its headers alone', async () => {
    const { ctx } = await run('/about', { 'surrogate-key': 'page:about' });
    expect(ctx.tags).toEqual(['page:about']);
  });

  it('adds nothing when neither the route nor the response has tags', async () => {
    const { ctx } = await run('/about', { 'content-type': 'text/html' });
    expect(ctx.tags).toEqual([]);
  });

  it('skips a template whose optional group did not match', async () => {
    expect((await run('/shop', {})).ctx.tags).toEqual(['shop']);
    expect((await run('/shop/3', {})).ctx.tags).toEqual(['shop:3', 'shop']);
  });

  it('removes the tag headers and Surrogate-Control from what the client gets, not from upstreamHeaders', async () => {
    const headers = {
      'content-type': 'text/html',
      'surrogate-key': 'a',
      'cache-tag': 'b',
      xkey: 'c',
      'surrogate-control': 'max-age=60',
    };
    const { ctx, upstreamHeaders } = await run('/about', headers);
    expect(ctx.response?.headers).toEqual({ 'content-type': 'text/html' });
    expect(upstreamHeaders).toEqual(headers);
    expect(ctx.response?.upstreamHeaders).toEqual(headers);
  });

  it('keeps them with DEBUG_HEADERS on', async () => {
    const headers = { 'surrogate-key': 'a', 'cache-tag': 'b', xkey: 'c', 'surrogate-control': 'max-age=60' };
    const { ctx } = await run('/about', headers, { debugHeaders: true });
    expect(ctx.response?.headers).toEqual(headers);
    expect(ctx.tags).toEqual(['a', 'b', 'c']);
  });

  it('never mutates the backend headers even when a stage handed them over as the client headers', async () => {
    const log = createLogger({ level: 'silent' });
    const ctx = new RequestContext({
      id: 'r',
      method: 'GET',
      target: '/x',
      headers: {},
      scheme: 'http',
      clientIp: '',
      body: null,
      log,
    });
    const shared: HeaderMap = { 'surrogate-key': 'a', 'surrogate-control': 'max-age=5' };
    const backend: Stage = async (c) => {
      c.response = { status: 200, headers: shared, upstreamHeaders: shared, body: null };
    };
    await compose<RequestContext>([routerStage(routes), surrogateStage(defaults), backend])(ctx);
    expect(ctx.response?.headers).toEqual({});
    expect(shared).toEqual({ 'surrogate-key': 'a', 'surrogate-control': 'max-age=5' });
  });

  it('drops tags past the limits with one warning, keeping the route tags first', async () => {
    const { ctx, lines } = await run(
      '/products/1',
      { 'surrogate-key': `a b ${'x'.repeat(20)} c d e` },
      { maxTagsPerResponse: 4, maxTagBytes: 16 },
    );
    expect(ctx.tags).toEqual(['product:1', 'products', 'a', 'b']);
    expect(ctx.response?.status).toBe(200);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      msg: 'surrogate keys dropped',
      route: 'product',
      path: '/products/1',
      kept: 4,
      dropped: 4,
      sample: [
        { tag: 'x'.repeat(20), reason: 'the tag is 20 bytes long; the limit is MAX_TAG_BYTES=16' },
        { tag: 'c', reason: 'more than MAX_TAGS_PER_RESPONSE=4 tags' },
        { tag: 'd', reason: 'more than MAX_TAGS_PER_RESPONSE=4 tags' },
        { tag: 'e', reason: 'more than MAX_TAGS_PER_RESPONSE=4 tags' },
      ],
    });
  });

  it('rethrows when the backend failed and leaves the context untagged', async () => {
    const log = createLogger({ level: 'silent' });
    const ctx = new RequestContext({
      id: 'r',
      method: 'GET',
      target: '/products/1',
      headers: {},
      scheme: 'http',
      clientIp: '',
      body: null,
      log,
    });
    const failing: Stage = async () => {
      throw new Error('backend down');
    };
    await expect(
      compose<RequestContext>([routerStage(routes), surrogateStage(defaults), failing])(ctx),
    ).rejects.toThrow('backend down');
    expect(ctx.tags).toEqual([]);
  });
});
