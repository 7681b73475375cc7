import { once } from 'node:events';
import { get, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamBody } from '../../src/utils/upstream-body.js';
import { fetchRaw, type Listening, listen } from '../support/http.js';

/** A body as the upstream client feeds it, with what it asked of undici. */
function fed() {
  const calls = { resumed: 0, aborted: [] as Error[] };
  const body = new UpstreamBody({
    resume: () => {
      calls.resumed++;
    },
    abort: (err) => {
      calls.aborted.push(err);
    },
  });
  return { body, calls };
}

const servers: Listening[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A real server whose answers are written by `handle`. */
async function serve(handle: (res: ServerResponse) => void): Promise<string> {
  const s = await listen((_req, res) => handle(res));
  servers.push(s);
  return s.url;
}

describe('UpstreamBody', () => {
  it('writes chunks that came before and after the client asked, then ends the answer', async () => {
    const { body } = fed();
    body.deliver(Buffer.from('early '));
    let done: [Error | undefined, number] | undefined;
    const url = await serve((res) => {
      res.writeHead(200);
      body.sendTo(res, (err, bytes) => {
        done = [err, bytes];
      });
      body.deliver(Buffer.from('late'));
      body.complete();
    });
    expect((await fetchRaw(url)).text()).toBe('early late');
    await expect.poll(() => done).toEqual([undefined, 10]);
    expect(body.destroyed).toBe(true);
  });

  it('pauses the backend while the client cannot take more, resumes it on drain, and loses nothing', async () => {
    const chunk = Buffer.alloc(256 * 1024, 'x');
    const total = 120;
    let sent = 0;
    let pauses = 0;
    let resumes = 0;
    let body: UpstreamBody | undefined;
    // As undici does: deliver until told to pause, carry on when resumed.
    const pump = () => {
      while (sent < total) {
        sent++;
        if (!body?.deliver(chunk)) {
          pauses++;
          return;
        }
      }
      body?.complete();
    };
    body = new UpstreamBody({
      resume: () => {
        resumes++;
        pump();
      },
      abort: () => {},
    });
    const url = await serve((res) => {
      res.writeHead(200);
      body?.sendTo(res, () => {});
      pump();
    });
    const got = await fetchRaw(url);
    expect(got.body.length).toBe(total * chunk.length);
    expect(pauses).toBeGreaterThan(0);
    expect(resumes).toBe(pauses);
  });

  it('cuts the backend request when the client goes away mid-body, and says so', async () => {
    const { body, calls } = fed();
    let done: Error | undefined;
    let tapped: Buffer | undefined | 'waiting' = 'waiting';
    body.tap(1 << 20, (whole) => {
      tapped = whole;
    });
    const url = await serve((res) => {
      res.writeHead(200);
      body.sendTo(res, (err) => {
        done = err;
      });
      body.deliver(Buffer.from('part'));
    });
    const res = await new Promise<IncomingMessage>((resolve) => {
      get(url, resolve);
    });
    await once(res, 'data');
    res.destroy();
    await expect.poll(() => calls.aborted.length).toBe(1);
    expect(calls.aborted[0]).toMatchObject({ code: 'UND_ERR_ABORTED' });
    expect(done).toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    expect(tapped).toBeUndefined();
  });

  it('keeps a copy for the cache only when the body ends whole within the limit', () => {
    const whole = fed();
    let copy: Buffer | undefined;
    whole.body.deliver(Buffer.from('ab'));
    whole.body.tap(10, (b) => {
      copy = b;
    });
    whole.body.deliver(Buffer.from('cd'));
    whole.body.complete();
    expect(copy?.toString()).toBe('abcd');

    const big = fed();
    let bigCopy: Buffer | undefined | 'waiting' = 'waiting';
    big.body.tap(3, (b) => {
      bigCopy = b;
    });
    big.body.deliver(Buffer.from('abcd'));
    expect(bigCopy).toBeUndefined();

    const cut = fed();
    let cutCopy: Buffer | undefined | 'waiting' = 'waiting';
    cut.body.tap(10, (b) => {
      cutCopy = b;
    });
    cut.body.deliver(Buffer.from('ab'));
    cut.body.fail(Object.assign(new Error('reset'), { code: 'UND_ERR_SOCKET' }));
    expect(cutCopy).toBeUndefined();
  });

  it('reads as a stream, chunks that came before included, and fails as one', async () => {
    const ok = fed();
    ok.body.deliver(Buffer.from('one '));
    const read = (async () => {
      const parts: Buffer[] = [];
      for await (const c of ok.body) parts.push(c as Buffer);
      return Buffer.concat(parts).toString();
    })();
    ok.body.deliver(Buffer.from('two'));
    ok.body.complete();
    expect(await read).toBe('one two');
    expect(ok.body.unread).toBe(false);

    const bad = fed();
    bad.body.deliver(Buffer.from('x'));
    bad.body.fail(Object.assign(new Error('stalled'), { code: 'UND_ERR_BODY_TIMEOUT' }));
    bad.body.resume();
    const [err] = await once(bad.body, 'error');
    expect(err).toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
  });
});
