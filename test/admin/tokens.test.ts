import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenSource, parseTokensText } from '../../src/modules/access/index.js';
import { isTagcacheError } from '../../src/utils/errors.js';
import { fetchRaw } from '../support/http.js';
import { captureLog } from '../support/log.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';

const TAGGER = 'tagger-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const ENV = 'env-token-0123456789abcdef';

function tokensFile(entries: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tagcache-tokens-')), 'tokens.json');
  writeFileSync(file, JSON.stringify(entries));
  return file;
}

const hex = (token: string) => createHash('sha256').update(token).digest('hex');

const FILE_ENTRIES = [
  { name: 'cms', sha256: hex(TAGGER), scopes: ['purge:tags'] },
  { name: 'console', token: READER, scopes: ['read'] },
];

describe('scoped tokens (INVALIDATE_TOKENS_FILE)', () => {
  let proxy: RunningProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  const purge = (token: string, body: unknown) =>
    fetchRaw(`${proxy?.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('lets each token do what its scopes say, and answers 403 naming the missing scope otherwise', async () => {
    proxy = await startProxy({ INVALIDATE_TOKEN: ENV, INVALIDATE_TOKENS_FILE: tokensFile(FILE_ENTRIES) });
    expect((await purge(TAGGER, { tags: ['a'] })).status).toBe(200);
    const refusals: [string, unknown, string][] = [
      [TAGGER, { all: true }, 'purge:all'],
      [TAGGER, { urls: ['https://shop.example/a'] }, 'purge:urls'],
      [READER, { tags: ['a'] }, 'purge:tags'],
    ];
    for (const [token, body, scope] of refusals) {
      const res = await purge(token, body);
      expect(res.status).toBe(403);
      const answer = JSON.parse(res.text()) as Record<string, string>;
      expect(answer.error).toBe('TC_FORBIDDEN');
      expect(answer.message).toContain(`"${scope}"`);
      expect(res.headers['www-authenticate']).toContain(`scope="${scope}"`);
    }
    // INVALIDATE_TOKEN keeps every scope next to the file's tokens.
    expect((await purge(ENV, { all: true })).status).toBe(200);
    expect((await purge('not-a-known-token-at-all', { all: true })).status).toBe(401);
  });

  it('logs the token name with each invalidation and refusal, never the token', async () => {
    proxy = await startProxy({ INVALIDATE_TOKENS_FILE: tokensFile(FILE_ENTRIES) });
    await purge(TAGGER, { tags: ['product:1'] });
    await purge(TAGGER, { all: true });
    const { lines } = proxy;
    const line = (msg: string) => lines.find((l) => l.msg === msg);
    await expect.poll(() => line('invalidated')).toMatchObject({ tokenName: 'cms', kind: 'tags' });
    await expect
      .poll(() => line('admin request refused: missing scope'))
      .toMatchObject({ tokenName: 'cms', scope: 'purge:all' });
    const all = JSON.stringify(proxy.lines);
    expect(all).not.toContain(TAGGER);
    expect(all).not.toContain(hex(TAGGER));
  });

  it('with INVALIDATE_TOKEN unset, only the file tokens work', async () => {
    proxy = await startProxy({ INVALIDATE_TOKEN: '', INVALIDATE_TOKENS_FILE: tokensFile(FILE_ENTRIES) });
    expect((await purge(ENV, { tags: ['a'] })).status).toBe(401);
    expect((await purge(TAGGER, { tags: ['a'] })).status).toBe(200);
  });

  it('a bad file stops start-up with one error naming the setting and the entry', async () => {
    const file = tokensFile([{ name: 'cms', token: TAGGER, scopes: ['purge:everything'] }]);
    const err = await startProxy({ INVALIDATE_TOKENS_FILE: file }).catch((e: unknown) => e);
    expect(isTagcacheError(err, 'TC_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toBe(
      `INVALIDATE_TOKENS_FILE ${file}: token "cms": unknown scope "purge:everything"; scopes are "purge:tags", "purge:urls", "purge:prefixes", "purge:all", "read"`,
    );
    expect((err as Error).message).not.toContain(TAGGER);
  });
});

describe('the token file is checked entry by entry', () => {
  const refused = (entries: unknown) => {
    try {
      parseTokensText(JSON.stringify(entries), 't.json');
    } catch (err) {
      return (err as Error).message;
    }
    return 'accepted';
  };
  it.each([
    [{ name: 'a' }, 'not an array', 'must be a JSON array'],
    [[{ name: 'a', scopes: ['read'] }], 'neither hash nor token', 'give exactly one of "sha256" and "token"'],
    [[{ name: 'a', token: 'short', scopes: ['read'] }], 'a short token', 'at least 16 printable'],
    [[{ name: 'a', sha256: 'abc', scopes: ['read'] }], 'a bad digest', '64 hex digits'],
    [[{ name: 'a', token: TAGGER, scopes: [] }], 'no scopes', '"scopes" must be a non-empty array'],
    [
      [
        { name: 'a', token: TAGGER, scopes: ['read'] },
        { name: 'a', token: READER, scopes: ['read'] },
      ],
      'a repeated name',
      'the name is used twice',
    ],
    [
      [
        { name: 'a', token: TAGGER, scopes: ['read'] },
        { name: 'b', sha256: hex(TAGGER), scopes: ['read'] },
      ],
      'one token twice',
      'the same token is listed twice',
    ],
    [[{ name: 'a b', token: TAGGER, scopes: ['read'] }], 'a bad name', '"name" must be'],
    [
      [{ name: 'a', token: TAGGER, scopes: ['read'], admin: true }],
      'an unknown field',
      'unknown field "admin"',
    ],
  ])('refuses %j (%s)', (entries, _why, message) => {
    expect(refused(entries)).toContain(message);
  });
});

describe('the token file is reloaded when it changes', () => {
  it('swaps in a good file, keeps the old set on a bad one and logs why', async () => {
    const file = tokensFile([{ name: 'cms', token: TAGGER, scopes: ['purge:tags'] }]);
    const { log, lines } = captureLog();
    const source = createTokenSource({ token: undefined, file, log, watch: true });
    try {
      expect(source.current()?.authenticate(TAGGER)?.name).toBe('cms');
      writeFileSync(file, JSON.stringify([{ name: 'console', token: READER, scopes: ['read'] }]));
      await expect
        .poll(() => source.current()?.authenticate(READER)?.name, { timeout: 10_000 })
        .toBe('console');
      expect(source.current()?.authenticate(TAGGER)).toBeUndefined();
      writeFileSync(file, '[{"name": "broken"');
      await expect
        .poll(() => lines.some((line) => line.msg === 'token file rejected; the previous tokens stay'), {
          timeout: 10_000,
        })
        .toBe(true);
      expect(source.current()?.authenticate(READER)?.name).toBe('console');
    } finally {
      source.close();
    }
  });
});
