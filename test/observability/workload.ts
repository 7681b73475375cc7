import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect } from 'vitest';
import { fetchRaw, type SimpleResponse } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy, writeRoutes } from '../support/proxy.js';
import { scrape } from './exposition.js';
import { freePort } from './tools.js';

export const TOKEN = 'test-token-0123456789';

/** Tags carry an `obs-` prefix no route name has, so a tag in a label value cannot hide. */
export const TAG_PREFIX = 'obs-';

/** The route table the workload runs on; route names are the only values the `route` label may take. */
export function routeTable(downUrl: string) {
  return {
    routes: [
      { name: 'product', pattern: '^/products/(?<id>\\d+)$', tags: [`${TAG_PREFIX}product:{id}`] },
      { name: 'edge', pattern: '^/edge/' },
      { name: 'slow', pattern: '^/slow/' },
      { name: 'down', pattern: '^/down/', upstream: downUrl },
    ],
    default: { name: 'other' },
  };
}

export const ROUTE_NAMES = ['product', 'edge', 'slow', 'down', 'other'];

/** A real origin, and a proxy (memory store unless env says otherwise) in front of it. */
export interface Rig {
  readonly origin: Origin;
  readonly proxy: RunningProxy;
  /** The routes.json the proxy reads; reloads re-read it. */
  readonly routesFile: string;
  readonly routes: ReturnType<typeof routeTable>;
  get(path: string, headers?: Record<string, string>): Promise<SimpleResponse>;
  invalidate(body: unknown): Promise<SimpleResponse>;
  close(): Promise<void>;
}

/** Backend headers time out after this; the `slow` route never answers. */
const HEADERS_TIMEOUT_MS = 1000;

export async function startRig(env: Record<string, string> = {}): Promise<Rig> {
  const origin = await startOrigin();
  // A port nothing listens on: connecting is refused (ECONNREFUSED), the `connect` reason.
  const downUrl = `http://127.0.0.1:${await freePort()}`;
  const routes = routeTable(downUrl);
  const routesFile = writeRoutes(routes);
  const proxy = await startProxy(
    { UPSTREAM_URL: origin.url, UPSTREAM_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), ...env },
    routesFile,
  );
  return {
    origin,
    proxy,
    routesFile,
    routes,
    get: (path, headers = {}) => fetchRaw(proxy.url + path, { headers }),
    invalidate: (body) =>
      fetchRaw(`${proxy.adminUrl}/invalidate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    async close() {
      await proxy.close();
      await origin.close();
      rmSync(dirname(routesFile), { recursive: true, force: true });
    },
  };
}

let counter = 0;
/** A path no earlier step used, so each step starts cold whatever ran before it. */
export function fresh(prefix: string): string {
  return `${prefix}${++counter}-${process.pid}`;
}
let productId = 1000;
export function freshProduct(): { path: string; id: number } {
  const id = ++productId;
  return { path: `/products/${id}`, id };
}

function expectCache(res: SimpleResponse, cache: string, status = 200): void {
  expect({ status: res.status, cache: res.headers['x-cache'] }).toEqual({ status, cache });
}

const FRESH_60 = { 'cache-control': 'max-age=60' };

/** `misses` cold products, each read `1 + hitsEach` times: one MISS then HITs. */
export async function hitsAndMisses(rig: Rig, misses: number, hitsEach: number): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < misses; i++) {
    const { path } = freshProduct();
    rig.origin.on(path, respond(200, FRESH_60, 'product'));
    expectCache(await rig.get(path), 'MISS');
    for (let h = 0; h < hitsEach; h++) expectCache(await rig.get(path), 'HIT');
    paths.push(path);
  }
  return paths;
}

/** MISS, then STALE under stale-while-revalidate; resolves once the background refresh reached the origin. */
export async function staleWhileRevalidate(rig: Rig): Promise<string> {
  const path = fresh('/edge/swr-');
  rig.origin.on(path, respond(200, { 'cache-control': 'max-age=0, stale-while-revalidate=60' }));
  expectCache(await rig.get(path), 'MISS');
  expectCache(await rig.get(path), 'STALE');
  await expect.poll(() => rig.origin.count(path)).toBe(2);
  return path;
}

/** MISS, then the backend answers 503 and the stale entry stands in (stale-if-error). */
export async function staleIfError(rig: Rig): Promise<string> {
  const path = fresh('/edge/sie-');
  rig.origin.on(path, (_req, res, n) => {
    if (n === 1) res.writeHead(200, { 'cache-control': 'max-age=0, stale-if-error=600' }).end('good');
    else res.writeHead(503, { 'cache-control': 'no-store' }).end('down');
  });
  expectCache(await rig.get(path), 'MISS');
  const stale = await rig.get(path);
  expectCache(stale, 'STALE');
  expect(stale.text()).toBe('good');
  return path;
}

/** MISS, then a conditional revalidation the backend answers 304: REVALIDATED. */
export async function revalidateNotModified(rig: Rig): Promise<string> {
  const path = fresh('/edge/etag-');
  rig.origin.on(path, (req, res) => {
    if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=0' }).end();
    } else {
      res.writeHead(200, { etag: '"v1"', 'cache-control': 'max-age=0' }).end('v1');
    }
  });
  expectCache(await rig.get(path), 'MISS');
  expectCache(await rig.get(path), 'REVALIDATED');
  return path;
}

/** MISS, then a revalidation the backend answers with a new 200: the entry is replaced. */
export async function revalidateReplaced(rig: Rig): Promise<string> {
  const path = fresh('/edge/replace-');
  rig.origin.on(path, (_req, res, n) => {
    res.writeHead(200, { etag: `"v${n}"`, 'cache-control': 'max-age=0' }).end(`v${n}`);
  });
  expectCache(await rig.get(path), 'MISS');
  const second = await rig.get(path);
  expectCache(second, 'MISS');
  expect(second.text()).toBe('v2');
  expect(rig.origin.count(path)).toBe(2);
  return path;
}

/**
 * `n` concurrent cold requests for one key while the backend holds its body:
 * one goes upstream, the others wait for its entry. The backend is released
 * only once all `n` are inside the proxy (the in-flight gauge says so).
 */
export async function collapsed(rig: Rig, n: number): Promise<{ path: string; peakInFlight: number }> {
  const path = fresh('/edge/collapse-');
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  rig.origin.on(path, (_req, res) => {
    // Headers now (no headers timeout), the body once the gate opens: the entry exists only then.
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '9' });
    res.flushHeaders();
    void gate.then(() => res.end('collapsed'));
  });
  const answers = Promise.all(Array.from({ length: n }, () => rig.get(path)));
  let peakInFlight = 0;
  await expect
    .poll(async () => {
      peakInFlight = (await scrape(rig.proxy.adminUrl)).value('tagcache_requests_in_flight');
      return peakInFlight;
    })
    .toBe(n);
  release();
  const all = await answers;
  expect(all.map((a) => a.text())).toEqual(Array(n).fill('collapsed'));
  expect(all.filter((a) => a.headers['x-cache'] === 'MISS')).toHaveLength(1);
  expect(rig.origin.count(path)).toBe(1);
  return { path, peakInFlight };
}

/** One failure of each reason: connect (refused), timeout (no headers), reset (socket cut), 5xx. */
export async function upstreamFailures(rig: Rig): Promise<void> {
  expect((await rig.get(fresh('/down/'))).status).toBe(502);

  const slow = fresh('/slow/');
  // Never answers; the proxy gives up after UPSTREAM_HEADERS_TIMEOUT_MS and origin.close() cuts the socket.
  rig.origin.on(slow, () => undefined);
  expect((await rig.get(slow)).status).toBe(504);

  const reset = fresh('/edge/reset-');
  rig.origin.on(reset, (req) => req.socket.destroy());
  expect((await rig.get(reset)).status).toBe(502);

  const broken = fresh('/edge/500-');
  rig.origin.on(broken, respond(500, { 'cache-control': 'no-store' }, 'broken'));
  expect((await rig.get(broken)).status).toBe(500);
}

/** Invalidations by tag (hard), by URL (hard) and of everything (soft), each answered 200. */
export async function invalidations(rig: Rig): Promise<{ tagged: number; url: number; all: number }> {
  const [byTag, byUrl] = await hitsAndMisses(rig, 2, 0);
  const tagId = Number(byTag?.split('/').pop());
  const tags = await rig.invalidate({ tags: [`${TAG_PREFIX}product:${tagId}`] });
  expect(tags.status).toBe(200);
  const host = new URL(rig.proxy.url).host;
  const urls = await rig.invalidate({ urls: [`http://${host}${byUrl}`] });
  expect(urls.status).toBe(200);
  const all = await rig.invalidate({ all: true, soft: true });
  expect(all.status).toBe(200);
  const entries = (r: SimpleResponse) => (JSON.parse(r.text()) as { entries: number }).entries;
  return { tagged: entries(tags), url: entries(urls), all: entries(all) };
}

/** A cached product, then a POST to it the backend accepts: the cached entry goes. */
export async function unsafeMethod(rig: Rig): Promise<string> {
  const [path] = await hitsAndMisses(rig, 1, 1);
  if (path === undefined) throw new Error('no product was cached');
  const upstreamGet = respond(200, FRESH_60, 'product');
  rig.origin.on(path, (req, res, n) => {
    if (req.method === 'POST') {
      req.resume();
      res.writeHead(204).end();
    } else upstreamGet(req, res, n);
  });
  const post = await fetchRaw(rig.proxy.url + path, { method: 'POST', body: '{"price":2}' });
  expect(post.status).toBe(204);
  expectCache(await rig.get(path), 'MISS');
  return path;
}

/** One reload of the same table (success) and one of a broken file (failure; the old table stays). */
export function reloadRoutes(rig: Rig): void {
  expect(rig.proxy.app.ops.reloadRoutes()).toBe(true);
  writeFileSync(rig.routesFile, '{"routes": [ this is not json');
  try {
    expect(rig.proxy.app.ops.reloadRoutes()).toBe(false);
  } finally {
    writeFileSync(rig.routesFile, JSON.stringify(rig.routes));
  }
}

/** Every step once: what the promtool and dashboard tests scrape after. */
export async function mixedWorkload(rig: Rig): Promise<void> {
  await hitsAndMisses(rig, 3, 2);
  await staleWhileRevalidate(rig);
  await staleIfError(rig);
  await revalidateNotModified(rig);
  await revalidateReplaced(rig);
  await collapsed(rig, 4);
  await upstreamFailures(rig);
  await invalidations(rig);
  await unsafeMethod(rig);
  reloadRoutes(rig);
}
