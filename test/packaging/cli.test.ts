import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { closedPortUrl } from '../support/ports.js';
import { ROOT, type RunningProxy, startProxy, writeRoutes } from '../support/proxy.js';
import { ensureBuilt, runCli } from './tools.js';

/**
 * The publisher's CLI as `npx tagcache` runs it (node dist/src/cli.js, a
 * child process) against a real proxy with the memory store in front of a
 * real origin. Whether a purge worked is read from the proxy's answers and
 * the origin's request counts, not from the CLI's own words alone.
 */

const TOKEN = 'cli-test-token-0123456789';
const TAGGED = (tags: string, etag: string) => ({
  'cache-control': 's-maxage=300',
  'surrogate-key': tags,
  etag,
});

describe('tagcache purge', () => {
  let origin: Origin;
  let proxy: RunningProxy;
  let env: Record<string, string>;

  beforeAll(async () => {
    await ensureBuilt();
    origin = await startOrigin();
    for (const id of [1, 2, 3, 4, 5, 6]) {
      const etag = `"p${id}"`;
      origin.on(`/products/${id}`, (req, res, n) => {
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, TAGGED(`product:${id} products`, etag)).end();
          return;
        }
        const body = `product ${id} #${n}`;
        res.writeHead(200, {
          ...TAGGED(`product:${id} products`, etag),
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      });
    }
    proxy = await startProxy({ UPSTREAM_URL: origin.url, INVALIDATE_TOKEN: TOKEN });
    env = { TAGCACHE_TOKEN: TOKEN, TAGCACHE_ADMIN_URL: proxy.adminUrl };
  });
  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
  });

  const xcache = async (path: string) => (await fetchRaw(`${proxy.url}${path}`)).headers['x-cache'];
  /** GETs until the proxy answers from its store: the entry is stored after the client's answer. */
  const warm = async (...paths: string[]) => {
    for (const path of paths) {
      await fetchRaw(`${proxy.url}${path}`);
      await expect.poll(() => xcache(path)).toBe('HIT');
    }
  };

  it('purges by tag: the entries carrying it are gone, the others stay', async () => {
    await warm('/products/1', '/products/2');
    const purged = await runCli(['purge', '--tag', 'product:1'], env);
    expect(purged.stderr).toBe('');
    expect(purged.stdout).toMatch(/^purged 1 entry \(hard\) for 1 tag in \d+(\.\d+)? ms\n$/);
    expect(purged.code).toBe(0);
    const before = origin.count('/products/1');
    expect(await xcache('/products/1')).toBe('MISS');
    expect(origin.count('/products/1')).toBe(before + 1);
    expect(await xcache('/products/2')).toBe('HIT');
  });

  it('purges several tags in one request', async () => {
    await warm('/products/3', '/products/4');
    const purged = await runCli(['purge', '--tag', 'product:3', '-t', 'product:4'], env);
    expect(purged.stdout).toMatch(/^purged 2 entries \(hard\) for 2 tags in /);
    expect(purged.code).toBe(0);
    expect(await xcache('/products/3')).toBe('MISS');
    expect(await xcache('/products/4')).toBe('MISS');
  });

  it('--soft marks entries stale: the next request revalidates instead of refetching', async () => {
    await warm('/products/5');
    const purged = await runCli(['purge', '--tag', 'product:5', '--soft'], env);
    expect(purged.stdout).toMatch(/^purged 1 entry \(soft\) for 1 tag in /);
    expect(purged.code).toBe(0);
    expect(await xcache('/products/5')).toBe('REVALIDATED');
    expect(origin.seen.at(-1)).toMatchObject({ url: '/products/5', headers: { 'if-none-match': '"p5"' } });
  });

  it('purges by URL', async () => {
    await warm('/products/6');
    const purged = await runCli(['purge', '--url', `${proxy.url}/products/6`], env);
    expect(purged.stdout).toMatch(/^purged 1 entry \(hard\) for 1 URL in /);
    expect(purged.code).toBe(0);
    expect(await xcache('/products/6')).toBe('MISS');
  });

  it('purges by prefix, and a tag on one host', async () => {
    await warm('/products/1', '/products/2');
    const prefixed = await runCli(['purge', '--prefix', `${proxy.url}/products/1`], env);
    expect(prefixed.stdout).toMatch(/^purged 1 entry \(hard\) for 1 prefix in /);
    expect(await xcache('/products/1')).toBe('MISS');
    expect(await xcache('/products/2')).toBe('HIT');
    const elsewhere = await runCli(['purge', '--tag', 'product:2', '--host', 'elsewhere.example'], env);
    expect(elsewhere.stdout).toMatch(/^purged 0 entries \(hard\) for 1 tag in /);
    expect(await xcache('/products/2')).toBe('HIT');
    const here = await runCli(['purge', '--tag', 'product:2', '--host', new URL(proxy.url).host], env);
    expect(here.stdout).toMatch(/^purged 1 entry \(hard\) for 1 tag in /);
    expect(await xcache('/products/2')).toBe('MISS');
  });

  it('--all purges everything', async () => {
    await warm('/products/1', '/products/2');
    const purged = await runCli(['purge', '--all'], env);
    expect(purged.stdout).toMatch(/^purged \d+ entries \(hard\) for everything in /);
    expect(purged.code).toBe(0);
    expect(await xcache('/products/1')).toBe('MISS');
    expect(await xcache('/products/2')).toBe('MISS');
  });

  describe('fails with the reason, and a non-zero exit', () => {
    it('a wrong token: the server says so', async () => {
      const refused = await runCli(['purge', '--tag', 'products'], {
        ...env,
        TAGCACHE_TOKEN: 'not-the-token-0123456789',
      });
      expect(refused.stderr).toBe(
        'tagcache: 401 TC_UNAUTHORIZED: the bearer token is not one tagcache knows (INVALIDATE_TOKEN or INVALIDATE_TOKENS_FILE)\n',
      );
      expect(refused.stdout).toBe('');
      expect(refused.code).toBe(1);
    });

    it('a request the server refuses as malformed', async () => {
      const refused = await runCli(['purge', '--url', '/products/1'], env);
      expect(refused.stderr).toMatch(/^tagcache: 400 TC_BAD_INVALIDATION: urls\[0\]: .*absolute/);
      expect(refused.code).toBe(1);
    });

    it('an admin port nobody listens on', async () => {
      const url = await closedPortUrl();
      const port = new URL(url).port;
      const refused = await runCli(['purge', '--tag', 'products'], { ...env, TAGCACHE_ADMIN_URL: url });
      expect(refused.stderr).toContain(
        `tagcache: cannot reach the admin API at ${url}: connect ECONNREFUSED 127.0.0.1:${port}\n`,
      );
      expect(refused.code).toBe(1);
    });

    it('an admin URL that is the proxy port, not the admin port', async () => {
      const refused = await runCli(['purge', '--tag', 'products'], { ...env, TAGCACHE_ADMIN_URL: proxy.url });
      expect(refused.stderr).toMatch(/^tagcache: 404 Not Found from http:\/\/127\.0\.0\.1:\d+\/invalidate/);
      expect(refused.stderr).toContain('TAGCACHE_ADMIN_URL');
      expect(refused.code).toBe(1);
    });

    it('no TAGCACHE_TOKEN', async () => {
      const refused = await runCli(['purge', '--tag', 'products'], { TAGCACHE_ADMIN_URL: proxy.adminUrl });
      expect(refused.stderr).toBe(
        "tagcache: TAGCACHE_TOKEN is not set: export the proxy's INVALIDATE_TOKEN as TAGCACHE_TOKEN\n",
      );
      expect(refused.code).toBe(2);
    });

    it.each([
      [['purge', '--tags', 'a'], 'tagcache: unknown option "--tags"'],
      [
        ['purge'],
        'tagcache: say what to purge: --tag <tag>, --url <url>, --prefix <url> (each repeatable) or --all',
      ],
      [
        ['purge', '--all', '--tag', 'a'],
        'tagcache: --all purges everything; do not combine it with --tag, --url or --prefix',
      ],
      [
        ['purge', '--tag', 'a', '--url', 'https://x.example/'],
        'tagcache: purge by --tag, by --url or by --prefix in one call, not several',
      ],
      [
        ['purge', '--prefix', 'https://x.example/', '--url', 'https://x.example/'],
        'tagcache: purge by --tag, by --url or by --prefix in one call, not several',
      ],
      [
        ['purge', '--url', 'https://x.example/', '--host', 'x.example'],
        'tagcache: --host limits a purge by --tag to one host',
      ],
      [['purge', '--tag'], 'tagcache: --tag needs a value'],
      [['purge', 'products'], 'tagcache: unexpected argument "products"'],
      [['prune'], 'tagcache: unknown command "prune"'],
    ])('bad arguments %j: usage, exit 2, no request', async (args, message) => {
      const seen = origin.seen.length;
      const refused = await runCli(args, env);
      expect(refused.stderr.split('\n')[0]).toBe(message);
      expect(refused.stderr).toContain('Usage: tagcache');
      expect(refused.code).toBe(2);
      expect(origin.seen.length).toBe(seen);
    });
  });
});

describe('tagcache help', () => {
  beforeAll(ensureBuilt);

  it.each([['--help'], ['help'], ['-h']])('%s prints the commands and exits 0', async (flag) => {
    const help = await runCli([flag]);
    expect(help.stdout).toMatch(/^Usage: tagcache <command>/);
    expect(help.stdout).toContain('check-routes');
    expect(help.code).toBe(0);
  });

  it.each([[['help', 'purge']], [['purge', '--help']]])('%j prints the options of purge', async (args) => {
    const help = await runCli(args);
    expect(help.stdout).toContain('TAGCACHE_ADMIN_URL');
    expect(help.stdout).toContain('--soft');
    expect(help.code).toBe(0);
  });
});

describe('tagcache check-routes', () => {
  beforeAll(ensureBuilt);

  it('accepts the route table the proxy ships with', async () => {
    const checked = await runCli(['check-routes', join(ROOT, 'routes.json')]);
    expect(checked.stdout).toMatch(/^ok: 5 routes and the default route "other" \(.*routes\.json\)\n$/);
    expect(checked.code).toBe(0);
  });

  it('checks $ROUTES_FILE when no file is named', async () => {
    const file = writeRoutes({ routes: [{ name: 'a', pattern: '^/a' }] });
    const checked = await runCli(['check-routes'], { ROUTES_FILE: file });
    expect(checked.stdout).toBe(`ok: 1 route and the default route "default" (${file})\n`);
  });

  const check = async (table: unknown) => {
    const file = writeRoutes(table);
    const checked = await runCli(['check-routes', file]);
    expect(checked.code).toBe(1);
    expect(checked.stdout).toBe('');
    return { file, lines: checked.stderr.trimEnd().split('\n') };
  };

  it('a bad regular expression, named by its route', async () => {
    const { file, lines } = await check({ routes: [{ name: 'broken', pattern: '^/a(' }] });
    expect(lines).toEqual([
      `tagcache: ${file}: route "broken": pattern "^/a(" is not a valid regular expression (Unterminated group)`,
      `tagcache: ${file}: 1 problem; the proxy would refuse this table`,
    ]);
  });

  it('an unknown field, named by its route', async () => {
    const { lines } = await check({ routes: [{ name: 'typo', pattern: '^/b', maxAge: 5 }] });
    expect(lines[0]).toMatch(/: route "typo": unknown field "maxAge"; expected one of name, pattern, /);
  });

  it('a name used twice', async () => {
    const { lines } = await check({
      routes: [
        { name: 'dup', pattern: '^/a' },
        { name: 'dup', pattern: '^/b' },
      ],
    });
    expect(lines[0]).toMatch(/: route "dup": name is used twice \(routes\[0\] and routes\[1\]\)/);
  });

  it('every problem of a file at once, each with its route', async () => {
    const { lines } = await check({
      routes: [
        { name: 'broken', pattern: '(a+)+$' },
        { name: 'ok', pattern: '^/ok' },
        { pattern: '^/nameless' },
        { name: 'dup', pattern: '^/d' },
        { name: 'typo', pattern: '^/t', defaultTTL: 5 },
        { name: 'dup', pattern: '^/e' },
      ],
      default: { name: 'other', tags: 'x' },
    });
    expect(lines.map((l) => l.replace(/^tagcache: [^:]+: /, ''))).toEqual([
      expect.stringMatching(/^route "broken": pattern "\(a\+\)\+\$" is unsafe: /),
      expect.stringMatching(/^routes\[2\]: name is required/),
      expect.stringMatching(/^route "typo": unknown field "defaultTTL"/),
      expect.stringMatching(/^default route "other": tags "x" must be an array/),
      expect.stringMatching(/^route "dup": name is used twice \(routes\[3\] and routes\[5\]\)/),
      '5 problems; the proxy would refuse this table',
    ]);
  });

  it('a file that is not JSON, or not there', async () => {
    const file = writeRoutes({});
    writeFileSync(file, '{"routes": [');
    const notJson = await runCli(['check-routes', file]);
    expect(notJson.stderr).toContain(`tagcache: ${file}: not valid JSON: `);
    expect(notJson.code).toBe(1);
    const missing = await runCli(['check-routes', join(ROOT, 'no-such-routes.json')]);
    expect(missing.stderr).toContain('cannot read the route table: no such file');
    expect(missing.code).toBe(1);
  });
});
