import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HeaderMap } from '../../src/utils/headers.js';
import { canAppendToHead, createHeadPreparer, writeHeadWith } from '../../src/utils/response-head.js';
import { type Listening, listen } from '../support/http.js';

const BODY = Buffer.from('hello, stored world');
const STORED: HeaderMap = {
  'content-type': 'text/plain',
  'content-length': String(BODY.length),
  date: 'Fri, 27 Nov 2026 10:00:00 GMT',
  link: ['</a.css>; rel=preload', '</b.js>; rel=preload'],
  'x-skipped': 'never sent',
  etag: '"v1"',
};

/** Writes raw request bytes on one connection and collects everything until the server closes it or `ms` pass. */
async function exchange(
  port: number,
  raw: string,
  ms = 400,
): Promise<{ text: string; closedByServer: boolean }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  let closedByServer = false;
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => {
    text += c;
  });
  socket.on('end', () => {
    closedByServer = true;
  });
  socket.write(raw);
  await new Promise((r) => setTimeout(r, ms));
  socket.destroy();
  return { text, closedByServer };
}

function heads(text: string): string[][] {
  return text
    .split(BODY.toString())
    .map((part) => part.split('\r\n\r\n')[0] ?? '')
    .filter((h) => h.startsWith('HTTP/1.1'))
    .map((h) => h.split('\r\n'));
}

describe('response head with prepared fields', () => {
  let server: Listening | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const prepare = createHeadPreparer(new Set(['x-skipped']));

  async function serve(): Promise<Listening> {
    server = await listen((req, res) => {
      const head = prepare(STORED);
      if (head === undefined) throw new Error('the stored fields should prepare');
      writeHeadWith(res, 200, head, 'age: 7\r\nx-cache: HIT\r\n');
      res.end(req.method === 'HEAD' ? undefined : BODY);
    });
    return server;
  }

  it('is available on this Node, so hits skip per-field work', () => {
    expect(canAppendToHead).toBe(true);
  });

  it('sends every field once, arrays as separate lines, and keeps pipelined keep-alive answers in order', async () => {
    const { port } = await serve();
    const req = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n';
    const { text, closedByServer } = await exchange(port, req + req + req);
    const all = heads(text);
    expect(all).toHaveLength(3);
    expect(closedByServer).toBe(false);
    for (const lines of all) {
      expect(lines[0]).toBe('HTTP/1.1 200 OK');
      const names = lines.slice(1).map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
      expect(names.filter((n) => n === 'content-length')).toHaveLength(1);
      expect(names.filter((n) => n === 'date')).toHaveLength(1);
      expect(names.filter((n) => n === 'link')).toHaveLength(2);
      expect(names).not.toContain('x-skipped');
      expect(lines).toContain('etag: "v1"');
      expect(lines).toContain('age: 7');
      expect(lines).toContain('x-cache: HIT');
      expect(lines).toContain(`date: ${STORED.date}`);
      expect(lines).toContain('Connection: keep-alive');
    }
    expect(text.split(BODY.toString())).toHaveLength(4);
  });

  it('leaves keep-alive to Node: HTTP/1.0 and Connection: close get the connection closed', async () => {
    const { port } = await serve();
    for (const raw of [
      'GET /a HTTP/1.0\r\nHost: x\r\n\r\n',
      'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ]) {
      const { text, closedByServer } = await exchange(port, raw);
      expect(heads(text)[0]).toContain('Connection: close');
      expect(text.endsWith(BODY.toString())).toBe(true);
      expect(closedByServer).toBe(true);
    }
  });

  it('answers HEAD with the stored length and no body, and the next request still parses', async () => {
    const { port } = await serve();
    const { text } = await exchange(
      port,
      'HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const [head, second] = text.split('\r\n\r\n');
    expect(head).toContain(`content-length: ${BODY.length}`);
    expect(second?.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(text.endsWith(BODY.toString())).toBe(true);
  });

  it('declines fields Node would refuse, so the plain writeHead path reports them', () => {
    expect(prepare({ 'x-bad': 'a\r\nInjected: yes' })).toBeUndefined();
    expect(prepare({ 'bad name': 'x' })).toBeUndefined();
    const good = prepare({ 'x-fine': 'ok', 'content-length': '2' });
    expect(good?.lines).toBe('x-fine: ok\r\n');
    expect(good?.nodeFields).toEqual(['content-length', '2']);
  });
});
