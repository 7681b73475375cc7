import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storeCases } from '../cache/stores.js';
import { answered, rawExchange, rawStatus, send } from '../resilience/support.js';
import { fetchRaw, listen } from '../support/http.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { type NaiveOrigin, startNaiveOrigin } from './naive-origin.js';

/**
 * Attacks at the request edge, each as an anonymous client would send it,
 * against a real tagcache and a backend that behaves like common ones. What
 * every test asserts: nothing tagcache refused reaches the backend, and the
 * next, innocent client never gets what the attacker chose.
 */

let origin: NaiveOrigin;
const opened: RunningProxy[] = [];
beforeAll(async () => {
  origin = await startNaiveOrigin();
});
afterAll(async () => {
  await origin?.close();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.close()));
});

async function proxy(env: Record<string, string> = {}): Promise<RunningProxy> {
  const p = await startProxy({ UPSTREAM_URL: origin.url, ACCESS_LOG: 'off', ...env });
  opened.push(p);
  return p;
}

let unique = 0;
/** A path no other test uses, so what the backend saw for it belongs to this test alone. */
function path(name: string): string {
  unique++;
  return `/${name}-${unique}-${Date.now()}`;
}

function request(p: RunningProxy, head: string, body = ''): Promise<string> {
  return rawExchange(p.url, `${head}\r\n\r\n${body}`, 3_000);
}

async function circuitState(p: RunningProxy): Promise<string> {
  const res = await fetchRaw(`${p.adminUrl}/health/ready`);
  const ready = JSON.parse(res.text()) as {
    checks: { upstream: { circuits: Record<string, { state: string }> } };
  };
  return ready.checks.upstream.circuits[new URL(origin.url).host]?.state ?? 'none';
}

describe.each(storeCases())('a shared cache no client can poison ($name store)', (store) => {
  describe('fat GET: a body on GET or HEAD (finding 3)', () => {
    const shapes = [
      { name: 'Content-Length', method: 'GET', framing: 'Content-Length: 9', body: 'EVIL-BODY' },
      {
        name: 'chunked',
        method: 'GET',
        framing: 'Transfer-Encoding: chunked',
        body: '9\r\nEVIL-BODY\r\n0\r\n\r\n',
      },
      { name: 'HEAD with Content-Length', method: 'HEAD', framing: 'Content-Length: 9', body: 'EVIL-BODY' },
    ];
    for (const shape of shapes) {
      it(`refuses ${shape.method} with a ${shape.name} body with 400; the backend never sees it`, async () => {
        const p = await proxy(store.env());
        const target = path('fat');
        const raw = await request(
          p,
          `${shape.method} ${target} HTTP/1.1\r\nHost: shop.example\r\n${shape.framing}`,
          shape.body,
        );
        expect(rawStatus(raw)).toBe(400);
        expect(raw.toLowerCase()).toContain('connection: close');
        expect(origin.reached(target)).toEqual([]);
        const innocent = await fetchRaw(`${p.url}${target}`, { headers: { host: 'shop.example' } });
        expect(innocent.status).toBe(200);
        expect(innocent.text()).not.toContain('EVIL');
        expect(origin.reached(target).map((s) => s.body)).toEqual(['']);
      });
    }

    it('still takes a GET with Content-Length: 0, and a POST with a body', async () => {
      const p = await proxy(store.env());
      const target = path('empty');
      for (const zero of ['0', '00']) {
        const raw = await request(
          p,
          `GET ${target} HTTP/1.1\r\nHost: shop.example\r\nContent-Length: ${zero}\r\nConnection: close`,
        );
        expect(rawStatus(raw)).toBe(200);
      }
      const post = await fetchRaw(`${p.url}${target}`, { method: 'POST', body: 'form=1' });
      expect(post.status).toBe(200);
      expect(post.text()).toContain('body=form=1');
    });
  });

  describe('method-override and host headers (finding 4)', () => {
    const overrides = ['X-HTTP-Method-Override', 'X-Method-Override', 'X-HTTP-Method'];
    for (const header of overrides) {
      it(`does not let ${header}: DELETE turn a cacheable GET into a DELETE`, async () => {
        const p = await proxy(store.env());
        const target = path('override');
        const attack = await fetchRaw(`${p.url}${target}`, { headers: { [header]: 'DELETE' } });
        expect(attack.text()).not.toContain('deleted');
        expect(origin.reached(target).map((s) => s.acted)).toEqual(['GET']);
        expect(origin.reached(target)[0]?.headers[header.toLowerCase()]).toBeUndefined();
        const innocent = await fetchRaw(`${p.url}${target}`);
        expect(innocent.text()).toMatch(/^GET /);
      });
    }

    it('does not let X-Host write another host into a stored page', async () => {
      const p = await proxy(store.env());
      const target = path('xhost');
      await fetchRaw(`${p.url}${target}`, { headers: { 'x-host': 'evil.example' } });
      const innocent = await fetchRaw(`${p.url}${target}`);
      expect(innocent.text()).not.toContain('evil.example');
      expect(origin.reached(target)[0]?.headers['x-host']).toBeUndefined();
    });

    it('keeps a method override on POST, where it is the client’s own business', async () => {
      const p = await proxy(store.env());
      const target = path('post-override');
      const res = await fetchRaw(`${p.url}${target}`, {
        method: 'POST',
        headers: { 'x-http-method-override': 'PUT' },
        body: 'x',
      });
      expect(res.text()).toMatch(/^PUT /);
    });

    it('keeps X-Host from a trusted proxy', async () => {
      const p = await proxy({ ...store.env(), TRUSTED_PROXIES: '127.0.0.1' });
      const target = path('trusted-xhost');
      await fetchRaw(`${p.url}${target}`, { headers: { 'x-host': 'shop.example' } });
      expect(origin.reached(target)[0]?.headers['x-host']).toBe('shop.example');
    });
  });
});

describe('OPTIONS * and errors that are not the backend’s (finding 5)', () => {
  it('answers OPTIONS * itself, and a flood of them never opens the circuit', async () => {
    const p = await proxy({ BREAKER_CONSECUTIVE_FAILURES: '2', BREAKER_ERROR_RATE: '0' });
    const before = origin.seen.length;
    for (let i = 0; i < 10; i++) {
      const raw = await request(p, 'OPTIONS * HTTP/1.1\r\nHost: shop.example\r\nConnection: close');
      expect(rawStatus(raw)).toBe(200);
      expect(raw.toLowerCase()).toMatch(/\r\nallow: [a-z, ]*get/);
    }
    expect(origin.seen.length).toBe(before);
    expect(await circuitState(p)).not.toBe('open');
    const target = path('after-options');
    expect((await fetchRaw(`${p.url}${target}`)).status).toBe(200);
  });

  it('does not count clients that abandon their request body against the backend', async () => {
    const p = await proxy({ BREAKER_CONSECUTIVE_FAILURES: '2', BREAKER_ERROR_RATE: '0' });
    const { port } = new URL(p.url);
    for (let i = 0; i < 6; i++) {
      const target = path('abandon');
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.write(`PUT ${target} HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 100000\r\n\r\npart`);
      // Gone once the backend has the request and waits for the rest of the body.
      await expect.poll(() => origin.arrived.includes(target)).toBe(true);
      socket.destroy();
      await closed;
    }
    const target = path('after-abandon');
    expect((await fetchRaw(`${p.url}${target}`)).status).toBe(200);
    expect(await circuitState(p)).toBe('closed');
  });

  it('does not count answers a client made too large to read by having the backend reflect its fields', async () => {
    const p = await proxy({ BREAKER_CONSECUTIVE_FAILURES: '2', BREAKER_ERROR_RATE: '0' });
    // 12 KB of request field, under MAX_HEADER_BYTES; reflected twice, over what tagcache reads of an answer.
    const echo = 'e'.repeat(12_000);
    for (let i = 0; i < 6; i++) {
      expect((await fetchRaw(`${p.url}${path('echo')}`, { headers: { 'x-echo': echo } })).status).toBe(502);
    }
    const target = path('after-echo');
    expect((await fetchRaw(`${p.url}${target}`)).status).toBe(200);
    expect(await circuitState(p)).toBe('closed');
  });
});

describe('breaker defaults that never refuse good traffic (finding 6)', () => {
  it('by default an origin answering 503 to some URLs keeps answering the others', async () => {
    const p = await proxy();
    for (let i = 0; i < 30; i++) expect((await fetchRaw(`${p.url}/fail/${i}`)).status).toBe(503);
    for (let i = 0; i < 10; i++) {
      const res = await fetchRaw(`${p.url}${path('fine')}`);
      expect(res.status).toBe(200);
    }
    expect(await circuitState(p)).toBe('closed');
  });

  it('with status counting on, a single open origin still gets tried (panic), and an answer closes the circuit', async () => {
    const p = await proxy({
      BREAKER_FAILURE_STATUSES: '503',
      BREAKER_CONSECUTIVE_FAILURES: '2',
      BREAKER_ERROR_RATE: '0',
      // Far longer than the test: only panic traffic can close it.
      BREAKER_OPEN_MS: '600000',
    });
    for (let i = 0; i < 2; i++) await fetchRaw(`${p.url}/fail/trip-${i}`);
    expect(await circuitState(p)).toBe('open');
    const target = path('panic');
    const res = await fetchRaw(`${p.url}${target}`);
    expect(res.status).toBe(200);
    expect(origin.reached(target)).toHaveLength(1);
    expect(await circuitState(p)).toBe('closed');
  });

  it('panic mode sends a backend that keeps failing no more than BREAKER_PANIC_RPS requests a second', async () => {
    let arrived = 0;
    // Resets every connection: a transport failure, which counts by default.
    const resetting = await listen((req) => {
      arrived++;
      req.socket.destroy();
    });
    try {
      const p = await proxy({
        UPSTREAM_URL: resetting.url,
        BREAKER_CONSECUTIVE_FAILURES: '3',
        BREAKER_ERROR_RATE: '0',
        BREAKER_OPEN_MS: '600000',
        BREAKER_PANIC_RPS: '2',
      });
      const started = performance.now();
      const statuses = new Set<number>();
      for (let i = 0; i < 60; i++) statuses.add((await fetchRaw(`${p.url}/dead/${i}`)).status);
      const seconds = (performance.now() - started) / 1000;
      expect([...statuses].sort()).toEqual([502, 503]);
      // Three to open it, then at most two a second (and one at once, as the circuit opens).
      expect(arrived).toBeLessThanOrEqual(3 + 1 + Math.ceil(seconds * 2));
      expect(arrived).toBeGreaterThan(3);
    } finally {
      await resetting.close();
    }
  });
});

describe('framing refusals close the connection (finding 8)', () => {
  for (const coding of ['identity, chunked', 'gzip, chunked', 'chunked, chunked']) {
    it(`never lets a request pipelined after "Transfer-Encoding: ${coding}" reach the backend`, async () => {
      const p = await proxy();
      const smuggled = path('smuggled');
      const raw = await rawExchange(
        p.url,
        `POST /front HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: ${coding}\r\n\r\n0\r\n\r\n` +
          `GET ${smuggled} HTTP/1.1\r\nHost: shop.example\r\n\r\n`,
        5_000,
      );
      expect(rawStatus(raw)).toBe(400);
      expect(raw.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
      expect(origin.reached(smuggled)).toEqual([]);
      expect(origin.reached('/front')).toEqual([]);
    });
  }
});

describe('request lines, header blocks, timeouts and purge bodies (finding 11)', () => {
  it('refuses an HTTP/0.9 request line (no version) with 400', async () => {
    const p = await proxy();
    const target = path('nine');
    const raw = await rawExchange(p.url, `GET ${target}\r\n\r\n`, 3_000);
    expect(rawStatus(raw)).toBe(400);
    expect(origin.reached(target)).toEqual([]);
  });

  it('refuses an HTTP/2.0 request line with 505', async () => {
    const p = await proxy();
    const target = path('two');
    const raw = await request(p, `GET ${target} HTTP/2.0\r\nHost: shop.example`);
    expect(rawStatus(raw)).toBe(505);
    expect(origin.reached(target)).toEqual([]);
  });

  it('counts the whole header block against MAX_HEADER_BYTES: 2,000 small headers get 431', async () => {
    const p = await proxy();
    const target = path('many');
    const headers = Array.from({ length: 2_000 }, (_, i) => `h${i}: 1`).join('\r\n');
    // About 12 KB of names and values, 20 KB on the wire: over the default 16 KiB.
    const raw = await request(p, `GET ${target} HTTP/1.1\r\nHost: shop.example\r\n${headers}`);
    expect(rawStatus(raw)).toBe(431);
    expect(origin.reached(target)).toEqual([]);
    // A header block within the limit still passes.
    const fine = Array.from({ length: 100 }, (_, i) => `h${i}: 1`).join('\r\n');
    const ok = await request(
      p,
      `GET ${target} HTTP/1.1\r\nHost: shop.example\r\n${fine}\r\nConnection: close`,
    );
    expect(rawStatus(ok)).toBe(200);
  });

  it('cuts a client that has not sent its headers within SERVER_HEADERS_TIMEOUT_MS', async () => {
    // Node checks header deadlines every 30 s unless told otherwise: 1 s must not become 30.
    const p = await proxy({ SERVER_HEADERS_TIMEOUT_MS: '1000', SERVER_REQUEST_TIMEOUT_MS: '2000' });
    const raw = await rawExchange(p.url, 'GET / HTTP/1.1\r\nHost: shop.example\r\nX-Slow: 1', 12_000);
    expect(rawStatus(raw)).toBe(408);
  }, 15_000);

  it('answers a 100,000-deep JSON purge body with 400 and a clear JSON error', async () => {
    const p = await proxy();
    for (const body of ['['.repeat(100_000) + ']'.repeat(100_000), `{"tags":${'['.repeat(100_000)}`]) {
      const res = await fetchRaw(`${p.adminUrl}/invalidate`, {
        method: 'POST',
        headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(400);
      const json = JSON.parse(res.text()) as { error: string; message: string };
      expect(json.error).toBe('TC_BAD_INVALIDATION');
      expect(json.message).toMatch(/nest/);
    }
    const still = answered(await send(`${p.adminUrl}/health/live`));
    expect(still.status).toBe(200);
  });
});
