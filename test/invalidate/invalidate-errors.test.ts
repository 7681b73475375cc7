import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenSource } from '../../src/modules/access/index.js';
import { createMemoryStore, type MemoryStore } from '../../src/modules/store/memory-store.js';
import { fetchRaw, type SimpleResponse } from '../support/http.js';
import { captureLog } from '../support/log.js';
import { type AdminServer, entryFor, json, startAdmin, TOKEN } from './admin-server.js';

describe('POST /invalidate refuses what it cannot carry out', () => {
  let store: MemoryStore;
  let admin: AdminServer;
  const entry = entryFor('http://shop.example/products/1', ['product:1']);

  beforeAll(async () => {
    store = createMemoryStore({ maxBytes: 1024 * 1024 });
    await store.put(entry, 60_000);
    admin = await startAdmin(store, { maxItems: 3, maxTagBytes: 16, maxBodyBytes: 4096 });
  });
  afterAll(async () => {
    // Nothing refused may have touched the store.
    expect(store.get(entry.id)).toBeDefined();
    await admin.close();
    await store.close();
  });

  const expectError = (res: SimpleResponse, status: number, error: string, message: string | RegExp) => {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = json(res);
    expect(body.error).toBe(error);
    if (typeof message === 'string') expect(body.message).toBe(message);
    else expect(body.message).toMatch(message);
  };
  const bad = async (body: string, message: string | RegExp) =>
    expectError(await admin.post(body), 400, 'TC_BAD_INVALIDATION', message);

  describe('400 with a message that says what is wrong', () => {
    it('bad JSON', () => bad('{"tags": [', /^the body is not valid JSON: /));

    it('a body that is not an object', async () => {
      await bad(
        '["a"]',
        /^the body must be a JSON object such as \{"tags":\["product:1"\]\}.*; got an array \["a"\]$/,
      );
      await bad('null', /got null$/);
      await bad('"a"', /got string "a"$/);
    });

    it('an unknown field', () =>
      bad(
        '{"tags":["a"],"hard":true}',
        'unknown field "hard"; expected one of "tags", "urls", "prefixes" or "all", and optionally "soft" (and "host" with "tags")',
      ));

    it('nothing to invalidate', () => bad('{"soft":true}', /^say what to invalidate: send \{"tags"/));

    it('more than one of tags, urls and all', () =>
      bad(
        '{"tags":["a"],"all":true}',
        'send only one of "tags", "urls", "prefixes" or "all"; got "tags" and "all"',
      ));

    it('wrong types', async () => {
      await bad('{"tags":"a"}', '"tags" must be an array of strings; got string "a"');
      await bad('{"tags":["a",1]}', 'tags[1] must be a string; got number 1');
      await bad('{"urls":{"u":1}}', '"urls" must be an array of strings; got an object {"u":1}');
      await bad('{"tags":["a"],"soft":"yes"}', '"soft" must be true or false; got string "yes"');
      await bad('{"all":false}', '"all" must be true; got boolean false');
    });

    it('empty lists', async () => {
      await bad('{"tags":[]}', '"tags" is empty; name at least one');
      await bad('{"urls":[]}', '"urls" is empty; name at least one');
    });

    it('lists over the item limit', async () => {
      await bad(
        '{"tags":["a","b","c","d"]}',
        '"tags" has 4 items; at most 3 are accepted per request (split it into several)',
      );
      expectError(
        await admin.post(undefined, { 'surrogate-key': 'a b c d' }),
        400,
        'TC_BAD_INVALIDATION',
        'the Surrogate-Key header names 4 tags; at most 3 are accepted per request',
      );
    });

    it('a tag over the byte limit', () =>
      bad(
        '{"tags":["0123456789abcdefg"]}',
        'tags[0] "0123456789abcdefg" is 17 bytes long; the limit is MAX_TAG_BYTES=16',
      ));

    it('a tag holding whitespace, a comma or a control character', async () => {
      await bad('{"tags":["ok","a b"]}', /^tags\[1\] "a b" contains a space; a tag is one word/);
      await bad('{"tags":["a,b"]}', /^tags\[0\] "a,b" contains a comma/);
      await bad('{"tags":["a\\u0007"]}', /^tags\[0\] "a\\u0007" contains a control character \(U\+0007\)/);
      await bad('{"tags":[""]}', 'tags[0] "" is empty');
    });

    it('a URL that is not absolute, or not http(s)', async () => {
      await bad(
        '{"urls":["/products/1"]}',
        'urls[0]: URL "/products/1" is not absolute: expected an absolute http:// or https:// URL such as https://example.com/products/1',
      );
      await bad(
        '{"urls":["https://a.example/","ftp://files.example/x"]}',
        /^urls\[1\]: URL "ftp:\/\/files\.example\/x" is not http\(s\)/,
      );
    });

    it('an empty body without a Surrogate-Key header', async () => {
      expectError(
        await admin.post(undefined),
        400,
        'TC_BAD_INVALIDATION',
        /^the body is empty and there is no Surrogate-Key header/,
      );
      expectError(
        await admin.post(undefined, { 'surrogate-key': '   ' }),
        400,
        'TC_BAD_INVALIDATION',
        /^the Surrogate-Key header names no tag/,
      );
    });

    it('both a JSON body and a Surrogate-Key header', async () => {
      expectError(
        await admin.post('{"tags":["a"]}', { 'surrogate-key': 'b' }),
        400,
        'TC_BAD_INVALIDATION',
        'send either a JSON body or a Surrogate-Key header, not both',
      );
    });
  });

  describe('401 without the right bearer token', () => {
    it('no Authorization header', async () => {
      const res = await fetchRaw(`${admin.url}/invalidate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"all":true}',
      });
      expectError(
        res,
        401,
        'TC_UNAUTHORIZED',
        'a bearer token is required: send "Authorization: Bearer <token>" (INVALIDATE_TOKEN or one from INVALIDATE_TOKENS_FILE)',
      );
      expect(res.headers['www-authenticate']).toBe('Bearer realm="tagcache"');
    });

    it('a wrong token, of any length', async () => {
      for (const token of ['nope', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase()]) {
        const res = await admin.post('{"all":true}', { authorization: `Bearer ${token}` });
        expectError(
          res,
          401,
          'TC_UNAUTHORIZED',
          'the bearer token is not one tagcache knows (INVALIDATE_TOKEN or INVALIDATE_TOKENS_FILE)',
        );
        expect(res.headers['www-authenticate']).toBe('Bearer realm="tagcache", error="invalid_token"');
      }
    });

    it('another scheme', async () => {
      const basic = `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`;
      expectError(
        await admin.post('{"all":true}', { authorization: basic }),
        401,
        'TC_UNAUTHORIZED',
        /bearer token is required/,
      );
    });

    it('logs the refusal without the token', async () => {
      await admin.post('{"all":true}', { authorization: 'Bearer a-guess-at-the-token' });
      expect(
        admin.lines.some((l) => l.level === 'warn' && l.msg === 'admin request refused: bad credentials'),
      ).toBe(true);
      expect(JSON.stringify(admin.lines)).not.toContain('a-guess-at-the-token');
    });
  });

  it('405 with Allow: POST for other methods', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetchRaw(`${admin.url}/invalidate`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expectError(res, 405, 'TC_METHOD_NOT_ALLOWED', `${method} is not allowed here; use POST`);
      expect(res.headers.allow).toBe('POST');
    }
  });

  it('413 for a declared body over the limit, closing the connection', async () => {
    const res = await admin.post(`{"tags":["${'a'.repeat(5000)}"]}`);
    expectError(
      res,
      413,
      'TC_BAD_INVALIDATION',
      'the body is larger than 4096 bytes; split the request (at most 3 tags or URLs each)',
    );
    expect(res.headers.connection).toBe('close');
  });

  it('413 for a chunked body that grows past the limit, without reading it all', async () => {
    let bytesRead = 0;
    admin.server.once('request', (req) => {
      req.socket.once('close', () => {
        bytesRead = req.socket.bytesRead;
      });
    });
    const total = 8 * 1024 * 1024;
    const res = await new Promise<SimpleResponse>((resolve, reject) => {
      const req = request(
        `${admin.url}/invalidate`,
        {
          method: 'POST',
          agent: false,
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/json',
            'transfer-encoding': 'chunked',
          },
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => {
            const body = Buffer.concat(chunks);
            resolve({
              status: r.statusCode ?? 0,
              headers: r.headers,
              body,
              text: () => body.toString('utf8'),
            });
          });
        },
      );
      // The server closes mid-upload; the answer is what matters.
      req.on('error', (err) => reject(err));
      let sent = 0;
      const pump = () => {
        while (sent < total && !req.destroyed) {
          sent += 65_536;
          if (!req.write(Buffer.alloc(65_536, 0x61))) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expectError(res, 413, 'TC_BAD_INVALIDATION', /^the body is larger than 4096 bytes/);
    await expect.poll(() => bytesRead).toBeGreaterThan(0);
    expect(bytesRead).toBeLessThan(total);
  });

  it('lets go of a client that hangs up mid-upload, and keeps answering others', async () => {
    await new Promise<void>((resolve) => {
      const req = request(`${admin.url}/invalidate`, {
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': '100',
        },
      });
      req.on('error', () => resolve());
      req.write('{"tags":[', () => setImmediate(() => req.destroy()));
    });
    await expect
      .poll(() => admin.lines.some((l) => l.msg === 'invalidation abandoned by the client'))
      .toBe(true);
    expect((await admin.post('{"tags":["x"]}')).status).toBe(200);
  });

  it('415 for a body that is not JSON', async () => {
    expectError(
      await admin.post('tags=a', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'TC_BAD_INVALIDATION',
      'Content-Type "application/x-www-form-urlencoded"; send the body as application/json',
    );
    const res = await fetchRaw(`${admin.url}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: '{"all":true}',
    });
    expectError(
      res,
      415,
      'TC_BAD_INVALIDATION',
      'Content-Type is missing; send the body as application/json',
    );
  });
});

describe('POST /invalidate while neither INVALIDATE_TOKEN nor INVALIDATE_TOKENS_FILE is set', () => {
  it('answers 503 saying so and how to set it, whatever the credentials', async () => {
    const store = createMemoryStore({ maxBytes: 1024 * 1024 });
    const tokens = createTokenSource({ token: undefined, file: undefined, log: captureLog().log });
    const admin = await startAdmin(store, { tokens });
    try {
      for (const auth of [undefined, `Bearer ${TOKEN}`]) {
        const res = await fetchRaw(`${admin.url}/invalidate`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(auth === undefined ? {} : { authorization: auth }),
          },
          body: '{"all":true}',
        });
        expect(res.status).toBe(503);
        expect(json(res)).toEqual({
          error: 'TC_INVALIDATION_DISABLED',
          message:
            'the admin API is off because no token is configured; set INVALIDATE_TOKEN to a secret of at least 16 printable characters, or INVALIDATE_TOKENS_FILE to a token file, and restart tagcache',
        });
      }
    } finally {
      await admin.close();
      await store.close();
    }
  });
});
