import { once } from 'node:events';
import { type IncomingMessage, request } from 'node:http';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type Origin, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';

/**
 * The `undici` fast path (undici's Pool from its internal file) against its
 * public index, and the rest of the write path with every fast path on and
 * off: each case runs both ways and must see the same thing a
 * client (and a backend) can see — streaming, backpressure, and a client
 * that goes away cancelling the backend request.
 */

const MiB = 1024 * 1024;

/** Opens a GET and resolves at its response headers; the body is left unread (paused). */
function open(url: string): Promise<{ res: IncomingMessage; destroy(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.pause();
      resolve({ res, destroy: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads the rest of a response body, counting bytes. */
async function drain(res: IncomingMessage): Promise<number> {
  let n = 0;
  res.on('data', (c: Buffer) => {
    n += c.length;
  });
  res.resume();
  await once(res, 'end');
  return n;
}

/** Resolves with the next chunk of a paused response. */
async function nextChunk(res: IncomingMessage): Promise<string> {
  res.resume();
  const [chunk] = (await once(res, 'data')) as [Buffer];
  res.pause();
  return chunk.toString();
}

/** A backend that writes `total` bytes as fast as the proxy takes them, and says how far it got. */
function bigBody(origin: Origin, path: string, total: number) {
  const state = { written: 0, closedEarly: false, blocked: false };
  origin.on(path, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'no-store', 'content-length': String(total) });
    res.once('close', () => {
      if (!res.writableFinished) state.closedEarly = true;
    });
    const chunk = Buffer.alloc(64 * 1024, 97);
    const pump = () => {
      while (state.written < total) {
        state.written += chunk.length;
        if (!res.write(chunk)) {
          state.blocked = true;
          res.once('drain', () => {
            state.blocked = false;
            pump();
          });
          return;
        }
      }
      res.end();
    };
    pump();
  });
  return state;
}

describe.each([
  { name: 'FAST_PATHS=on', value: 'on' },
  { name: 'FAST_PATHS=off', value: 'off' },
])('client-visible streaming and aborts through the proxy, $name', ({ value }) => {
  let origin: Origin;
  let proxy: RunningProxy;

  afterEach(async () => {
    await proxy?.close();
    await origin?.close();
  });

  async function start(): Promise<void> {
    origin = await startOrigin();
    proxy = await startProxy({ UPSTREAM_URL: origin.url, FAST_PATHS: value, COMPRESSION: 'off' });
  }

  it('streams each chunk to the client as the backend sends it', async () => {
    await start();
    const next = new PassThrough();
    origin.on('/stream', (_req, res) => {
      res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/plain' });
      // The proxy answers at the body's first bytes (the cache looks at them first).
      res.write('one');
      next.on('data', (c: Buffer) => {
        if (c.toString() === 'END') res.end();
        else res.write(c);
      });
    });
    const { res } = await open(`${proxy.url}/stream`);
    expect(res.statusCode).toBe(200);
    expect(await nextChunk(res)).toBe('one');
    next.write('two');
    expect(await nextChunk(res)).toBe('two');
    next.write('END');
    expect(await drain(res)).toBe(0);
  });

  it('holds a backend that sends faster than the client reads, then delivers every byte', async () => {
    await start();
    const total = 64 * MiB;
    const state = bigBody(origin, '/big', total);
    const { res } = await open(`${proxy.url}/big`);
    // The client reads nothing: the backend must end up blocked well short of the whole body.
    await expect.poll(() => state.blocked, { timeout: 20_000 }).toBe(true);
    expect(state.written).toBeLessThan(total);
    expect(await drain(res)).toBe(total);
  });

  it('cancels the backend request when the client goes away mid-body', async () => {
    await start();
    const state = bigBody(origin, '/cut', 64 * MiB);
    const { res, destroy } = await open(`${proxy.url}/cut`);
    await nextChunk(res);
    destroy();
    await expect.poll(() => state.closedEarly, { timeout: 20_000 }).toBe(true);
  });

  it('cancels the backend request when the client goes away before the backend answered', async () => {
    await start();
    let backendClosed = false;
    let arrived = false;
    origin.on('/slow', (req, res) => {
      arrived = true;
      // Never answers: only the proxy giving up can close this.
      req.socket.once('close', () => {
        backendClosed = true;
      });
      res.once('close', () => {
        backendClosed = true;
      });
    });
    const req = request(`${proxy.url}/slow`, { agent: false });
    req.on('error', () => {});
    req.end();
    await expect.poll(() => arrived).toBe(true);
    req.destroy();
    await expect.poll(() => backendClosed, { timeout: 20_000 }).toBe(true);
  });
});
