import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { closedPortUrl } from '../support/ports.js';
import { type LoggedLine, type LoggingProxy, startLoggingProxy } from './logging-proxy.js';

const TOKEN = 'SECRETTOKEN-abcdef0123';
const SECRETS = ['SECRET123', 'SECRET456', 'SECRET789', TOKEN, 'WRONGSECRET999'];
const CREDENTIALS = { authorization: 'Bearer SECRET123', cookie: 'sid=SECRET456' };

describe('logs', () => {
  let origin: Origin;
  let proxy: LoggingProxy;
  let n = 0;
  const path = (prefix: string) => `${prefix}${++n}`;

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startLoggingProxy(
      {
        UPSTREAM_URL: origin.url,
        LOG_LEVEL: 'trace',
        INVALIDATE_TOKEN: TOKEN,
        MAX_TAGS_PER_RESPONSE: '2',
      },
      {
        routes: [
          { name: 'product', pattern: '^/products/(?<id>\\d+)$', tags: ['product:{id}'] },
          { name: 'down', pattern: '^/down/', upstream: await closedPortUrl() },
        ],
        default: { name: 'other' },
      },
    );
  });
  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
  });

  /** The access line of the request the proxy answered with this X-Request-Id (written after the answer). */
  async function accessLine(id: unknown): Promise<LoggedLine> {
    await expect.poll(() => proxy.lines.some((l) => l.msg === 'request' && l.id === id)).toBe(true);
    return proxy.lines.find((l) => l.msg === 'request' && l.id === id) as LoggedLine;
  }

  it('writes one access line per request with id, method, path, route, status, cache, bytes and durations', async () => {
    const p = path('/products/');
    origin.on(p, respond(200, { 'cache-control': 'max-age=60' }, 'product'));
    const miss = await fetchRaw(`${proxy.url}${p}?utm=1`);
    const line = await accessLine(miss.headers['x-request-id']);
    expect(line).toMatchObject({
      level: 'info',
      method: 'GET',
      path: p,
      route: 'product',
      status: 200,
      cache: 'MISS',
      bytes: miss.body.length,
      upstream: new URL(origin.url).host,
    });
    expect(line.ms).toEqual(expect.any(Number));
    expect(line.upstreamMs).toEqual(expect.any(Number));
    expect(proxy.lines.filter((l) => l.msg === 'request' && l.id === line.id)).toHaveLength(1);
    // The logger's ISO time, as on every other line: a log pipeline parses one field one way.
    expect(line.time).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/));

    const hit = await fetchRaw(`${proxy.url}${p}?utm=1`);
    const hitLine = await accessLine(hit.headers['x-request-id']);
    expect(hitLine).toMatchObject({ cache: 'HIT', status: 200, bytes: hit.body.length, route: 'product' });
    // No backend took part, so no backend fields.
    expect(hitLine.upstream).toBeUndefined();
    expect(hitLine.upstreamMs).toBeUndefined();
  });

  it('writes a path that needs JSON escapes as valid JSON', async () => {
    // Sent as raw bytes: Node's client would percent-encode them. llhttp takes '"' and '\\' in a target
    // (and refuses bytes above 0x7f, so paths are ASCII).
    const p = `/odd/${++n}/a"b\\c`;
    origin.on(p, respond(200, { 'cache-control': 'no-store' }, 'odd'));
    const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1');
    socket.write(
      Buffer.from(
        `GET ${p} HTTP/1.1\r\nHost: odd.test\r\nX-Request-Id: odd-path-${n}\r\nConnection: close\r\n\r\n`,
        'latin1',
      ),
    );
    socket.resume();
    await once(socket, 'end');
    expect((await accessLine(`odd-path-${n}`)).path).toBe(p);
  });

  it('logs a failed request at error, with its id and what went wrong', async () => {
    const res = await fetchRaw(`${proxy.url}${path('/down/')}`);
    expect(res.status).toBe(502);
    const line = await accessLine(res.headers['x-request-id']);
    expect(line).toMatchObject({ level: 'error', status: 502, route: 'down', cache: 'MISS' });
    expect(line.err).toMatch(/^TC_UPSTREAM_UNREACHABLE: /);
  });

  it('puts the request id on the warnings a request causes', async () => {
    const p = path('/products/');
    origin.on(p, respond(200, { 'cache-control': 'max-age=60', 'surrogate-key': 'k1 k2 k3 k4' }));
    const res = await fetchRaw(proxy.url + p);
    const id = res.headers['x-request-id'];
    await expect
      .poll(() => proxy.lines.some((l) => l.msg === 'surrogate keys dropped' && l.id === id))
      .toBe(true);
  });

  it('puts on a failed background revalidation the id the backend saw for it', async () => {
    const p = path('/swr-fail/');
    origin.on(p, (req, res, count) => {
      if (count === 1)
        res.writeHead(200, { 'cache-control': 'max-age=0, stale-while-revalidate=60' }).end('ok');
      else req.socket.destroy();
    });
    await fetchRaw(proxy.url + p);
    const stale = await fetchRaw(proxy.url + p);
    expect(stale.headers['x-cache']).toBe('STALE');
    await expect.poll(() => origin.count(p)).toBe(2);
    const backendId = origin.seen.filter((s) => s.url === p)[1]?.headers['x-request-id'];
    expect(backendId).toEqual(expect.any(String));
    await expect
      .poll(() => proxy.lines.find((l) => l.msg === 'revalidation failed' && l.id === backendId))
      .toMatchObject({ level: 'warn', route: 'other', err: 'TC_UPSTREAM_RESET' });
    // The refresh runs under an id of its own that names the client request which set it off.
    const clientId = stale.headers['x-request-id'];
    expect((await accessLine(clientId)).cache).toBe('STALE');
    expect(backendId).not.toBe(clientId);
    expect(backendId).toMatch(new RegExp(`^${String(clientId)}\\b`));
  });

  it('never logs the token, Authorization, Cookie or Set-Cookie, even at trace level', async () => {
    const p = path('/products/');
    origin.on(p, respond(200, { 'cache-control': 'max-age=60', 'set-cookie': 's=SECRET789; HttpOnly' }));
    await fetchRaw(proxy.url + p, { headers: CREDENTIALS });
    await fetchRaw(proxy.url + p, { headers: CREDENTIALS });
    await fetchRaw(`${proxy.url}${path('/down/')}`, { headers: CREDENTIALS });
    // A background revalidation that fails, set off by a client with credentials.
    const swr = path('/swr-creds/');
    origin.on(swr, (req, res, count) => {
      if (count === 1) {
        res.writeHead(200, { 'cache-control': 'max-age=0, stale-while-revalidate=60' }).end('ok');
      } else req.socket.destroy();
    });
    await fetchRaw(proxy.url + swr, { headers: { cookie: CREDENTIALS.cookie } });
    await fetchRaw(proxy.url + swr, { headers: CREDENTIALS });

    const invalidate = (authorization: string, body: string) =>
      fetchRaw(`${proxy.adminUrl}/invalidate`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json', cookie: CREDENTIALS.cookie },
        body,
      });
    expect((await invalidate(`Bearer ${TOKEN}`, '{"tags":["product:1"]}')).status).toBe(200);
    expect((await invalidate(`Bearer ${TOKEN}`, '{"tags":')).status).toBe(400);
    expect((await invalidate('Bearer WRONGSECRET999', '{"tags":["a"]}')).status).toBe(401);
    expect((await invalidate(`Basic ${TOKEN}`, '{"tags":["a"]}')).status).toBe(401);

    // Wait for the lines these requests cause, so the check below is not vacuous.
    await expect.poll(() => proxy.lines.filter((l) => l.msg === 'revalidation failed').length).toBe(2);
    await expect
      .poll(() => proxy.lines.some((l) => l.msg === 'admin request refused: bad credentials'))
      .toBe(true);
    expect(proxy.lines.some((l) => l.level === 'debug')).toBe(true);
    const text = proxy.raw.join('');
    for (const secret of SECRETS) expect(text, secret).not.toContain(secret);
  });
});
