import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { attackStores, fromStore, inFlight, purge, sendReflected } from './support.js';

/**
 * Finding 1 of issue 13: a revalidation must ask the backend as the stored
 * response is served — to anyone — so one client's Cookie or Authorization
 * never becomes everybody's page. Finding 10: a client's own request
 * directives or credentials never delete what other clients are served.
 */
const stores = attackStores();
let origin: Origin;
let n = 0;
const path = () => `/poison/${++n}`;
const ALICE = { cookie: 'sid=ALICE' };
const MALLORY = { authorization: 'Bearer MALLORY' };

beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});

describe.each(stores)('on the $name store', (store) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy({ UPSTREAM_URL: origin.url, ...store.env() });
  });
  afterAll(async () => {
    await proxy.close();
  });

  /** Filled anonymously, then made stale by a soft purge of its tag (no waiting for time to pass). */
  async function staleEntry(p: string, cc: string, extra: Record<string, string> = {}) {
    const tag = `t${p.replaceAll('/', '-')}`;
    origin.on(p, (req, res, c) =>
      sendReflected(req, res, c, { 'cache-control': cc, 'surrogate-key': tag, ...extra }),
    );
    const first = await fetchRaw(proxy.url + p);
    expect(first.text()).toBe('hello cookie:- auth:- #1');
    await purge(proxy, { tags: [tag], soft: true });
  }

  /** What every later anonymous visitor is served, once the refresh has landed. */
  async function everyoneGets(p: string): Promise<string> {
    const res = await fromStore(proxy, p);
    expect(res.status).toBe(200);
    return res.text();
  }

  describe('finding 1: revalidation carries no client credentials into the shared entry', () => {
    it.each([
      ['Cookie', ALICE, 'sid=ALICE'],
      ['Authorization', MALLORY, 'MALLORY'],
    ])('a background refresh triggered with %s stores the anonymous answer', async (_n, creds, secret) => {
      const p = path();
      await staleEntry(p, 'public, max-age=3600, stale-while-revalidate=600');
      const stale = await fetchRaw(proxy.url + p, { headers: creds });
      expect(stale.headers['x-cache']).toBe('STALE');
      await expect.poll(() => origin.count(p)).toBe(2);
      await expect.poll(() => everyoneGets(p)).toContain('#2');
      expect(await everyoneGets(p)).toBe('hello cookie:- auth:- #2');
      expect(
        origin.seen.filter((s) => s.url === p).map((s) => s.headers.cookie ?? s.headers.authorization),
      ).not.toContain(secret);
    });

    it.each([
      ['Cookie', ALICE],
      ['Authorization', MALLORY],
    ])('a foreground revalidation triggered with %s stores the anonymous answer', async (_n, creds) => {
      const p = path();
      await staleEntry(p, 'public, max-age=3600');
      const own = await fetchRaw(proxy.url + p, { headers: creds });
      expect(own.status).toBe(200);
      expect(own.text()).toBe('hello cookie:- auth:- #2');
      expect(await everyoneGets(p)).toBe('hello cookie:- auth:- #2');
    });

    it('a HEAD revalidation triggered with a Cookie stores the anonymous answer', async () => {
      const p = path();
      await staleEntry(p, 'max-age=3600');
      const head = await fetchRaw(proxy.url + p, { method: 'HEAD', headers: ALICE });
      expect(head.status).toBe(200);
      expect(origin.count(p)).toBe(2);
      expect(await everyoneGets(p)).toBe('hello cookie:- auth:- #2');
    });

    it('never hands a client the answer the backend gave the revalidation asked without its cookie', async () => {
      const p = path();
      // A backend that starts a session for every visitor without one.
      origin.on(p, (req, res, c) => {
        const headers: Record<string, string> = { 'cache-control': 'max-age=3600', 'surrogate-key': `s${n}` };
        if (req.headers.cookie === undefined) headers['set-cookie'] = 'sid=NEW';
        sendReflected(req, res, c, headers);
      });
      expect((await fetchRaw(proxy.url + p, { headers: ALICE })).text()).toBe(
        'hello cookie:sid=ALICE auth:- #1',
      );
      await purge(proxy, { tags: [`s${n}`], soft: true });
      const alice = await fetchRaw(proxy.url + p, { headers: ALICE });
      // Her own answer: her session kept, not the one started for the cookieless revalidation.
      expect(alice.headers['set-cookie']).toBeUndefined();
      expect(alice.text()).toBe('hello cookie:sid=ALICE auth:- #3');
      expect(origin.seen.filter((s) => s.url === p)[1]?.headers.cookie).toBeUndefined();
    });

    it('collapses the revalidations of many clients with cookies into one', async () => {
      const p = path();
      const tag = `c${n}`;
      let open: () => void = () => undefined;
      const gate = new Promise<void>((r) => {
        open = r;
      });
      origin.on(p, (req, res, c) => {
        const send = () =>
          sendReflected(req, res, c, { 'cache-control': 'max-age=3600', 'surrogate-key': tag });
        if (c === 1) send();
        else void gate.then(send);
      });
      await fetchRaw(proxy.url + p);
      await purge(proxy, { tags: [tag], soft: true });
      const answers = Promise.all(
        Array.from({ length: 20 }, (_, i) => fetchRaw(proxy.url + p, { headers: { cookie: `sid=U${i}` } })),
      );
      await expect.poll(() => inFlight(proxy)).toBe(20);
      open();
      const all = await answers;
      expect(origin.count(p)).toBe(2);
      expect(all.every((a) => a.text() === 'hello cookie:- auth:- #2')).toBe(true);
    });

    it('revalidates with the Cookie when the stored response varies on it', async () => {
      const p = path();
      origin.on(p, (req, res, c) =>
        sendReflected(req, res, c, {
          'cache-control': 'max-age=3600',
          vary: 'Cookie',
          'surrogate-key': `v${n}`,
        }),
      );
      expect((await fetchRaw(proxy.url + p, { headers: ALICE })).text()).toBe(
        'hello cookie:sid=ALICE auth:- #1',
      );
      await purge(proxy, { tags: [`v${n}`], soft: true });
      expect((await fetchRaw(proxy.url + p, { headers: ALICE })).text()).toBe(
        'hello cookie:sid=ALICE auth:- #2',
      );
      // Alice's variant is Alice's alone: an anonymous visitor gets a variant of their own.
      expect((await fetchRaw(proxy.url + p)).text()).toBe('hello cookie:- auth:- #3');
    });

    it('revalidates a response shared among authorised clients with the asking client’s Authorization', async () => {
      const p = path();
      // An API that requires a token and marks its answers shareable among every holder of one.
      origin.on(p, (req, res, c) => {
        if (req.headers.authorization === undefined)
          return void res.writeHead(401, { 'cache-control': 'no-store' }).end('login');
        if (req.headers['if-none-match'] === '"v1"')
          return void res.writeHead(304, { etag: '"v1"', 'cache-control': 'public, max-age=3600' }).end();
        sendReflected(req, res, c, {
          'cache-control': 'public, max-age=3600',
          etag: '"v1"',
          'surrogate-key': `api${n}`,
        });
      });
      const bob = { authorization: 'Bearer BOB' };
      expect((await fetchRaw(proxy.url + p, { headers: bob })).status).toBe(200);
      await purge(proxy, { tags: [`api${n}`], soft: true });
      // An anonymous client cannot ask as the entry was asked: it gets the backend's own answer…
      const anonymous = await fetchRaw(proxy.url + p);
      expect(anonymous.status).toBe(401);
      // …and the shared entry is still there for the next authorised client, who revalidates it.
      const again = await fetchRaw(proxy.url + p, { headers: bob });
      expect(again.status).toBe(200);
      expect(again.headers['x-cache']).toBe('REVALIDATED');
      expect(again.text()).toBe('hello cookie:- auth:Bearer BOB #1');
    });
  });

  describe('finding 10: no client directive or credential evicts what others are served', () => {
    it.each([
      ['Cache-Control: no-store', { 'cache-control': 'no-store' }],
      ['Cache-Control: no-store, no-cache', { 'cache-control': 'no-store, no-cache' }],
      ['Authorization', MALLORY],
      ['Authorization and no-cache', { ...MALLORY, 'cache-control': 'no-cache' }],
      ['Pragma: no-cache and a Cookie', { pragma: 'no-cache', ...ALICE }],
    ])('%s on a stale entry leaves it serving everyone', async (_n, headers) => {
      const p = path();
      await staleEntry(p, 'max-age=3600');
      const attacker = await fetchRaw(proxy.url + p, { headers });
      expect(attacker.status).toBe(200);
      const kept = await fromStore(proxy, p);
      expect(kept.status).toBe(200);
      expect(kept.text()).not.toMatch(/ALICE|MALLORY/);
    });

    it.each([
      ['Authorization and no-cache', { ...MALLORY, 'cache-control': 'no-cache' }],
      ['Authorization and max-age=0', { ...MALLORY, 'cache-control': 'max-age=0' }],
      ['no-store and no-cache', { 'cache-control': 'no-store, no-cache' }],
    ])('%s on a fresh entry leaves it serving everyone', async (_n, headers) => {
      const p = path();
      origin.on(p, (req, res, c) => sendReflected(req, res, c, { 'cache-control': 'max-age=3600' }));
      await fetchRaw(proxy.url + p);
      await fetchRaw(proxy.url + p, { headers });
      const next = await fetchRaw(proxy.url + p);
      expect(next.headers['x-cache']).toBe('HIT');
      expect(next.text()).not.toMatch(/ALICE|MALLORY/);
    });

    it.each([
      ['400', 400],
      ['406', 406],
      ['401', 401],
    ])('a header the backend answers %s to leaves a stale entry serving everyone', async (_n, status) => {
      const p = path();
      const tag = `e${n}`;
      // Like nginx's 400 to an oversized header: an error about the request, not the resource.
      origin.on(p, (req, res, c) => {
        if (req.headers['x-evil'] !== undefined)
          return void res.writeHead(status, { 'cache-control': 'no-store' }).end('refused');
        sendReflected(req, res, c, { 'cache-control': 'max-age=3600', 'surrogate-key': tag });
      });
      await fetchRaw(proxy.url + p);
      await purge(proxy, { tags: [tag], soft: true });
      const attacker = await fetchRaw(proxy.url + p, { headers: { 'x-evil': 'x'.repeat(100) } });
      expect(attacker.status).toBe(status);
      const kept = await fromStore(proxy, p);
      expect(kept.status).toBe(200);
      expect(kept.text()).toBe('hello cookie:- auth:- #1');
    });

    it('a stale entry the backend now answers no-store for is deleted (the backend’s word)', async () => {
      const p = path();
      const tag = `d${n}`;
      origin.on(p, (req, res, c) =>
        sendReflected(req, res, c, {
          'cache-control': c === 1 ? 'max-age=3600' : 'no-store',
          'surrogate-key': tag,
        }),
      );
      await fetchRaw(proxy.url + p);
      await purge(proxy, { tags: [tag], soft: true });
      expect((await fetchRaw(proxy.url + p)).text()).toBe('hello cookie:- auth:- #2');
      expect((await fromStore(proxy, p)).status).toBe(504);
    });

    it('no-store on an entry inside stale-while-revalidate: the background refresh still stores', async () => {
      const p = path();
      await staleEntry(p, 'max-age=3600, stale-while-revalidate=600');
      const attacker = await fetchRaw(proxy.url + p, { headers: { 'cache-control': 'no-store' } });
      expect(attacker.headers['x-cache']).toBe('STALE');
      await expect.poll(() => origin.count(p)).toBe(2);
      await expect.poll(async () => (await fromStore(proxy, p)).text()).toBe('hello cookie:- auth:- #2');
    });

    it('a no-store request does not update the stored entry from its revalidation', async () => {
      const p = path();
      await staleEntry(p, 'max-age=3600');
      await fetchRaw(proxy.url + p, { headers: { 'cache-control': 'no-store' } });
      expect((await fromStore(proxy, p)).text()).toBe('hello cookie:- auth:- #1');
    });

    it('an unsafe method answered 2xx still invalidates (RFC 9111 §4.4)', async () => {
      const p = path();
      origin.on(p, (req, res, c) =>
        req.method === 'POST'
          ? void res.writeHead(204).end()
          : sendReflected(req, res, c, { 'cache-control': 'max-age=3600' }),
      );
      await fetchRaw(proxy.url + p);
      await fetchRaw(proxy.url + p, { method: 'POST', body: 'x' });
      expect((await fromStore(proxy, p)).status).toBe(504);
    });
  });
});
