import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyType, type Method } from 'wiremock-captain';
import { fetchRaw, type SimpleResponse } from '../support/http.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { type RunningWireMock, startWireMock } from '../support/wiremock.js';

/** The cache stays out of the way: every request goes to WireMock. */
const BYPASS_ALL = { routes: [], default: { name: 'wiremock', cache: false } };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What WireMock's request journal keeps of a request it received. */
interface Received {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string | string[]>;
  readonly bodyAsBase64?: string;
}

let wm: RunningWireMock;
let proxy: RunningProxy;
let n = 0;
const path = (label: string) => `/${label}/${++n}`;

beforeAll(async () => {
  wm = await startWireMock();
  // The test client stands in for a proxy in front (a load balancer): only a trusted peer's X-Forwarded-* count.
  proxy = await startProxy({ UPSTREAM_URL: wm.url, TRUSTED_PROXIES: '127.0.0.1' }, BYPASS_ALL);
});
afterAll(async () => {
  await proxy?.close();
  await wm?.stop();
});

/** A stub answering `method path` with a text body; header values may repeat (arrays). */
async function stub(
  method: Method,
  p: string,
  response: { status?: number; headers?: Record<string, string | string[]>; body?: string } = {},
): Promise<void> {
  await wm.captain.register(
    { method, endpoint: p },
    {
      status: response.status ?? 200,
      // WireMock takes repeated header values as arrays; the captain's type only names scalars.
      headers: { 'cache-control': 'no-store', 'content-type': 'text/plain', ...response.headers } as Record<
        string,
        string
      >,
      body: response.body ?? `answer for ${p}`,
    },
    { responseBodyType: BodyType.Body },
  );
}

/** The one request WireMock journalled for `method path`, header names lower-cased. */
async function received(method: Method, p: string): Promise<Received> {
  const list = (await wm.captain.getRequestsForAPI(method, p)) as { request: Received }[];
  expect(list, `WireMock saw ${list.length} ${method} ${p}`).toHaveLength(1);
  const got = (list[0] as { request: Received }).request;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(got.headers)) headers[name.toLowerCase()] = value;
  return { ...got, headers };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Sends a request as raw lines and resolves with the response head, read until the server closes. */
function rawRequest(lines: string[], to = proxy.url): Promise<string> {
  const { hostname, port } = new URL(to);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1').split('\r\n\r\n')[0] ?? ''));
    socket.on('error', reject);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

function get(p: string, headers: Record<string, string> = {}): Promise<SimpleResponse> {
  return fetchRaw(proxy.url + p, { headers });
}

describe('request headers the backend receives', () => {
  it('forwards custom end-to-end headers unchanged', async () => {
    const p = path('custom');
    await stub('GET', p);
    const res = await get(p, {
      'x-custom': 'one',
      'accept-language': 'de-CH, en;q=0.5',
      authorization: 'Bearer end-to-end',
      cookie: 'a=1; b=2',
    });
    expect(res.status).toBe(200);
    const seen = await received('GET', p);
    expect(seen.headers).toMatchObject({
      'x-custom': 'one',
      'accept-language': 'de-CH, en;q=0.5',
      authorization: 'Bearer end-to-end',
      cookie: 'a=1; b=2',
    });
  });

  it('passes traceparent and tracestate exactly as received', async () => {
    const p = path('trace');
    await stub('GET', p);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const tracestate = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
    await get(p, { traceparent, tracestate });
    const seen = await received('GET', p);
    expect(seen.headers.traceparent).toBe(traceparent);
    expect(seen.headers.tracestate).toBe(tracestate);
  });

  it('generates an X-Request-Id when the client sent none, sends it upstream and returns it', async () => {
    const p = path('rid-new');
    await stub('GET', p);
    const res = await get(p);
    const id = res.headers['x-request-id'];
    expect(id).toMatch(UUID);
    expect((await received('GET', p)).headers['x-request-id']).toBe(id);
  });

  it("keeps the client's sane X-Request-Id", async () => {
    const p = path('rid-kept');
    await stub('GET', p);
    const res = await get(p, { 'x-request-id': 'client-id.42:abc' });
    expect(res.headers['x-request-id']).toBe('client-id.42:abc');
    expect((await received('GET', p)).headers['x-request-id']).toBe('client-id.42:abc');
  });

  it('replaces an X-Request-Id that is not sane (spaces, too long)', async () => {
    for (const bad of ['has spaces in it', 'x'.repeat(200)]) {
      const p = path('rid-bad');
      await stub('GET', p);
      const res = await get(p, { 'x-request-id': bad });
      expect(res.headers['x-request-id']).toMatch(UUID);
      expect((await received('GET', p)).headers['x-request-id']).toBe(res.headers['x-request-id']);
    }
  });

  it('sets X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Via', async () => {
    const p = path('xff-new');
    await stub('GET', p);
    await get(p);
    const seen = await received('GET', p);
    const proxyHost = new URL(proxy.url).host;
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(proxyHost);
    expect(seen.headers.via).toBe('1.1 tagcache');
    // The backend is addressed by its own name unless PRESERVE_HOST is on.
    expect(seen.headers.host).toBe(new URL(wm.url).host);
  });

  it('appends to X-Forwarded-For and Via, and keeps X-Forwarded-Proto/Host set by a proxy in front', async () => {
    const p = path('xff-append');
    await stub('GET', p);
    await get(p, {
      'x-forwarded-for': '203.0.113.7, 198.51.100.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'www.example.com',
      via: '1.1 edge-lb',
    });
    const seen = await received('GET', p);
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7, 198.51.100.2, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe('www.example.com');
    expect(seen.headers.via).toBe('1.1 edge-lb, 1.1 tagcache');
  });

  it('strips hop-by-hop headers and those the client named in Connection', async () => {
    const p = path('hop-req');
    await stub('GET', p);
    // Raw bytes: Node's client refuses some of these fields (Trailer without chunking), a real client may not.
    const hopByHop = [
      'x-secret',
      'keep-alive',
      'te',
      'trailer',
      'upgrade',
      'proxy-authorization',
      'proxy-connection',
    ];
    const lines = (target: string, upgrade: boolean) => [
      `GET ${target} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Connection: x-secret, close',
      'X-Secret: must not leave the proxy',
      'Keep-Alive: timeout=77',
      'TE: trailers',
      'Trailer: x-checksum',
      ...(upgrade ? ['Upgrade: websocket'] : []),
      'Proxy-Authorization: Basic cHJveHk6c2VjcmV0',
      'Proxy-Connection: keep-alive',
      'X-Kept: yes',
    ];
    // Control: sent straight to WireMock these fields are journalled, so their absence below means something.
    // (Jetty answers any request carrying Upgrade with 400, so a forwarded Upgrade would fail the 200 below.)
    const direct = path('hop-req-direct');
    await stub('GET', direct);
    expect(await rawRequest(lines(direct, false), wm.url)).toMatch(/^HTTP\/1\.1 200 /);
    expect(Object.keys((await received('GET', direct)).headers)).toEqual(
      expect.arrayContaining(hopByHop.filter((h) => h !== 'upgrade')),
    );

    expect(await rawRequest(lines(p, true))).toMatch(/^HTTP\/1\.1 200 /);
    const seen = await received('GET', p);
    for (const name of hopByHop) expect(seen.headers, name).not.toHaveProperty(name);
    // Connection is the proxy's own hop: whatever the pool says, never the client's tokens.
    expect(String(seen.headers.connection ?? '')).not.toContain('x-secret');
    expect(seen.headers['x-kept']).toBe('yes');
  });
});

describe('response headers the client receives', () => {
  it("passes the backend's end-to-end headers, repeated ones included, and appends Via", async () => {
    const p = path('resp-headers');
    await stub('GET', p, {
      headers: {
        'x-backend': 'b1',
        etag: '"v1"',
        'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT',
        'set-cookie': ['a=1; Path=/', 'b=2; Path=/'],
        via: '1.1 origin-shield',
        'content-language': 'fr',
      },
      body: 'hello',
    });
    const res = await get(p);
    expect(res.status).toBe(200);
    expect(res.text()).toBe('hello');
    expect(res.headers).toMatchObject({
      'x-backend': 'b1',
      etag: '"v1"',
      'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT',
      'content-type': 'text/plain',
      'content-language': 'fr',
      'cache-control': 'no-store',
      via: '1.1 origin-shield, 1.1 tagcache',
      'x-cache': 'BYPASS',
    });
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });

  it('strips hop-by-hop response headers and those the backend named in Connection', async () => {
    const p = path('hop-resp');
    await stub('GET', p, {
      headers: {
        connection: 'x-backend-secret',
        'x-backend-secret': 'must not reach the client',
        'keep-alive': 'timeout=77',
        'proxy-authenticate': 'Basic realm="backend"',
        trailer: 'x-checksum',
        upgrade: 'h2c',
        'x-kept': 'yes',
      },
    });
    const hopByHop = ['x-backend-secret', 'proxy-authenticate', 'trailer', 'upgrade'];
    // Control: WireMock itself sends these fields, so their absence below is the proxy's doing.
    const direct = await fetchRaw(wm.url + p);
    expect(Object.keys(direct.headers)).toEqual(expect.arrayContaining([...hopByHop, 'keep-alive']));
    expect(direct.headers['keep-alive']).toBe('timeout=77');

    const res = await get(p);
    expect(res.status).toBe(200);
    for (const name of hopByHop) {
      expect(res.headers, name).not.toHaveProperty(name);
    }
    // The client's connection is the proxy's own hop: its Connection and Keep-Alive, never the backend's.
    expect(res.headers['keep-alive']).not.toBe('timeout=77');
    expect(String(res.headers.connection ?? '')).not.toContain('x-backend-secret');
    expect(res.headers['x-kept']).toBe('yes');
  });
});

describe('request bodies', () => {
  it('forwards a POST body with its length and type intact', async () => {
    const p = path('post');
    await stub('POST', p, { status: 201 });
    const body = JSON.stringify({ name: 'tagcache', tags: ['a', 'b'], emoji: 'ü✓' });
    const res = await fetchRaw(proxy.url + p, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
    });
    expect(res.status).toBe(201);
    const seen = await received('POST', p);
    expect(Buffer.from(seen.bodyAsBase64 ?? '', 'base64').toString('utf8')).toBe(body);
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    // Jetty (inside WireMock) upper-cases the charset it journals; the proxy sent it as given.
    expect(String(seen.headers['content-type']).toLowerCase()).toBe('application/json; charset=utf-8');
  });

  it('forwards a 1 MiB binary PUT body byte for byte', async () => {
    const p = path('put');
    await stub('PUT', p, { status: 204, body: '' });
    const body = randomBytes(1024 * 1024);
    const res = await fetchRaw(proxy.url + p, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    expect(res.status).toBe(204);
    const seen = await received('PUT', p);
    expect(sha256(Buffer.from(seen.bodyAsBase64 ?? '', 'base64'))).toBe(sha256(body));
    expect(seen.headers['content-length']).toBe(String(body.length));
  });

  it('forwards a chunked PUT body (no Content-Length) intact', async () => {
    const p = path('put-chunked');
    await stub('PUT', p, { status: 200 });
    const chunks = Array.from({ length: 16 }, () => randomBytes(17_000));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${proxy.url}${p}`,
        { method: 'PUT', agent: false, headers: { 'content-type': 'application/octet-stream' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      // No length given: Node frames it chunked, one chunk per write.
      for (const c of chunks) req.write(c);
      req.end();
    });
    expect(status).toBe(200);
    const seen = await received('PUT', p);
    expect(sha256(Buffer.from(seen.bodyAsBase64 ?? '', 'base64'))).toBe(sha256(Buffer.concat(chunks)));
  });
});

describe('status codes', () => {
  it.each([
    200, 201, 202, 203, 204, 206, 301, 302, 307, 400, 401, 403, 404, 409, 410, 418, 429, 500, 502, 503,
  ])('passes %i through with its body', async (status) => {
    const p = path(`status-${status}`);
    const empty = status === 204;
    await stub('GET', p, {
      status,
      body: empty ? '' : `status ${status}`,
      headers: status >= 300 && status < 400 ? { location: '/elsewhere' } : {},
    });
    const res = await get(p);
    expect(res.status).toBe(status);
    expect(res.text()).toBe(empty ? '' : `status ${status}`);
    if (status >= 300 && status < 400) expect(res.headers.location).toBe('/elsewhere');
    expect(res.headers['x-cache']).toBe('BYPASS');
  });
});
