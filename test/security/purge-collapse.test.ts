import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { attackStores, inFlight, purge } from './support.js';

/**
 * Finding 7 of issue 13: a purge's 200 means no later request gets the purged
 * body — not even one that joins a collapsed fetch which went upstream before
 * the purge.
 */
const stores = attackStores();
let origin: Origin;
let n = 0;
const path = () => `/collapse/${++n}`;
const ROUNDS = 5;

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

/** A gate the test opens: the origin's first answer waits on it. */
function gate() {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
}

describe.each(stores)('on the $name store', (store) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy({ UPSTREAM_URL: origin.url, ...store.env() });
  });
  afterAll(async () => {
    await proxy.close();
  });

  /** Two requests inside the proxy, the first upstream and the second waiting on it, the purge between them. */
  async function lateJoiner(
    p: string,
    hold: (res: ServerResponse, c: number, g: ReturnType<typeof gate>) => void,
    purgeBody: Record<string, unknown>,
  ) {
    const g = gate();
    origin.on(p, (_req, res, c) => hold(res, c, g));
    const early = fetchRaw(proxy.url + p);
    await expect.poll(() => origin.count(p)).toBe(1);
    await purge(proxy, purgeBody);
    // Arrives after the purge answered 200; joins the fetch still in flight.
    const late = fetchRaw(proxy.url + p);
    await expect.poll(() => inFlight(proxy)).toBe(2);
    g.open();
    return { early: await early, late: await late };
  }

  it(`a request arriving after a URL purge never gets the body fetched before it (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const p = path();
      const { early, late } = await lateJoiner(
        p,
        (res, c, g) => {
          const send = () => res.writeHead(200, { 'cache-control': 'max-age=3600' }).end(`body #${c}`);
          if (c === 1) void g.opened.then(send);
          else send();
        },
        { urls: [proxy.url + p] },
      );
      expect(early.text()).toBe('body #1');
      expect(late.text()).toBe('body #2');
      expect(late.headers['cache-status']).not.toContain('collapsed');
      // Nor does anyone after them.
      expect((await fetchRaw(proxy.url + p)).text()).toBe('body #2');
    }
  });

  it(`a request arriving after a tag purge never gets the body fetched before it (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const p = path();
      const tag = `tag-${n}`;
      const { early, late } = await lateJoiner(
        p,
        (res, c, g) => {
          // Headers (and so the tag) go out at once; the body waits.
          res.writeHead(200, { 'cache-control': 'max-age=3600', 'surrogate-key': tag });
          res.write(`body `);
          if (c === 1) void g.opened.then(() => res.end(`#${c}`));
          else res.end(`#${c}`);
        },
        { tags: [tag] },
      );
      expect(early.text()).toBe('body #1');
      expect(late.text()).toBe('body #2');
      expect((await fetchRaw(proxy.url + p)).text()).toBe('body #2');
    }
  });

  it('a request arriving after a purge never gets the entry a 304 refreshed from before it', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const p = path();
      const tag = `r304-${n}`;
      const g = gate();
      origin.on(p, (req, res, c) => {
        const headers = { 'cache-control': 'max-age=3600', etag: '"v1"', 'surrogate-key': tag };
        if (c === 1) return void res.writeHead(200, headers).end('old');
        // The revalidation's 304 waits for the gate; anything asked after the purge gets the new page.
        if (c === 2) return void g.opened.then(() => res.writeHead(304, headers).end());
        res.writeHead(200, { ...headers, etag: '"v2"' }).end(req.headers['if-none-match'] ? 'new?' : 'new');
      });
      await fetchRaw(proxy.url + p);
      await purge(proxy, { tags: [tag], soft: true });
      const early = fetchRaw(proxy.url + p);
      await expect.poll(() => origin.count(p)).toBe(2);
      await purge(proxy, { tags: [tag] });
      const late = fetchRaw(proxy.url + p);
      await expect.poll(() => inFlight(proxy)).toBe(2);
      g.open();
      expect((await early).headers['x-cache']).toBe('REVALIDATED');
      expect((await late).text()).toBe('new');
      expect((await fetchRaw(proxy.url + p)).text()).toBe('new');
    }
  });

  it('a stale entry purged while its revalidation fails is not handed to requests arriving after the purge', async () => {
    const p = path();
    const tag = `sie-${n}`;
    const g = gate();
    origin.on(p, (_req, res, c) => {
      if (c === 1)
        return void res
          .writeHead(200, { 'cache-control': 'max-age=3600, stale-if-error=600', 'surrogate-key': tag })
          .end('old');
      // The revalidation waits, then fails; later requests find the backend down too.
      if (c === 2) return void g.opened.then(() => res.writeHead(503).end('down'));
      res.writeHead(503).end('down');
    });
    await fetchRaw(proxy.url + p);
    await purge(proxy, { tags: [tag], soft: true });
    const early = fetchRaw(proxy.url + p);
    await expect.poll(() => origin.count(p)).toBe(2);
    await purge(proxy, { tags: [tag] });
    const late = fetchRaw(proxy.url + p);
    await expect.poll(() => inFlight(proxy)).toBe(2);
    g.open();
    expect((await early).text()).toBe('old');
    const answer = await late;
    expect(answer.text()).not.toBe('old');
    expect(answer.status).toBe(503);
  });
});
