import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../support/ports.js';
import { spawnProxy, writeRoutes } from '../support/proxy.js';
import { requireBuild } from './child.js';

const UPSTREAM = 'http://127.0.0.1:9';

interface Outcome {
  readonly code: number | null;
  readonly stderrLines: string[];
  readonly stdout: string;
}

/** Starts `node dist/src/main.js` with env and waits for it to give up. */
async function startWith(
  env: Record<string, string>,
  ports?: { port: number; adminPort: number },
): Promise<Outcome> {
  const proc = await spawnProxy(env, ports ?? (await freePorts()));
  // A child that wrongly starts would never exit; stop it so the assertion, not a timeout, fails.
  const killer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  const code = await proc.exited;
  clearTimeout(killer);
  return {
    code,
    stderrLines: proc.stderr
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== ''),
    stdout: proc.stdout.join(''),
  };
}

/** Exit 1, one stderr line that says `tagcache: …`, and no stack trace anywhere. */
function expectOneLineFailure(out: Outcome, ...mentions: (string | RegExp)[]): string {
  expect(out.code, `stderr: ${out.stderrLines.join('\n')}`).toBe(1);
  expect(out.stderrLines).toHaveLength(1);
  const line = out.stderrLines[0] as string;
  expect(line).toMatch(/^tagcache: /);
  for (const m of mentions) {
    if (typeof m === 'string') expect(line).toContain(m);
    else expect(line).toMatch(m);
  }
  for (const text of [line, out.stdout]) expect(text).not.toMatch(/^\s+at .+[:(]\d+/m);
  return line;
}

function routesFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tagcache-routes-'));
  const file = join(dir, 'routes.json');
  writeFileSync(file, content);
  return file;
}

beforeAll(() => {
  requireBuild();
});

describe('a bad setting stops start-up with one line naming it', () => {
  it.each([
    ['PORT', { PORT: 'abc' }, 'PORT="abc"'],
    ['ADMIN_PORT', { ADMIN_PORT: '70000' }, 'ADMIN_PORT="70000"'],
    ['CACHE_MAX_BYTES', { CACHE_MAX_BYTES: 'lots' }, 'CACHE_MAX_BYTES="lots"'],
    ['MAX_OBJECT_BYTES', { MAX_OBJECT_BYTES: '2GiB', CACHE_MAX_BYTES: '1GiB' }, 'MAX_OBJECT_BYTES='],
    ['UPSTREAM_URL', { UPSTREAM_URL: 'ftp://x' }, 'UPSTREAM_URL="ftp://x"'],
    ['UPSTREAM_URL', { UPSTREAM_URL: 'http://127.0.0.1:3000/api' }, 'UPSTREAM_URL='],
    [
      'UPSTREAM_HEADERS_TIMEOUT_MS',
      { UPSTREAM_HEADERS_TIMEOUT_MS: '-5' },
      'UPSTREAM_HEADERS_TIMEOUT_MS="-5"',
    ],
    ['WORKERS', { WORKERS: '0' }, 'WORKERS="0"'],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud"'],
    ['REDIS_URL', { REDIS_URL: 'http://cache:6379' }, 'REDIS_URL='],
    ['ACCESS_LOG', { ACCESS_LOG: 'maybe' }, 'ACCESS_LOG="maybe"'],
    ['LOCAL_TIER_TTL_MS', { LOCAL_TIER_TTL_MS: '-1' }, 'LOCAL_TIER_TTL_MS="-1"'],
  ] as const)('%s (%j)', async (name, env, mention) => {
    const line = expectOneLineFailure(await startWith({ UPSTREAM_URL: UPSTREAM, ...env }), mention);
    expect(line).toContain(name);
    expect(line).toContain('expected');
  });

  it('INVALIDATE_TOKEN too short, without printing the token', async () => {
    const line = expectOneLineFailure(
      await startWith({ UPSTREAM_URL: UPSTREAM, INVALIDATE_TOKEN: 'hunter2' }),
      'INVALIDATE_TOKEN',
    );
    expect(line).not.toContain('hunter2');
  });

  it('UPSTREAM_URL missing', async () => {
    expectOneLineFailure(await startWith({}), 'UPSTREAM_URL');
  });
});

describe('a bad route table stops start-up with one line naming the route', () => {
  const badPattern = {
    routes: [
      { name: 'fine', pattern: '^/ok' },
      { name: 'broken', pattern: '^/products/(' },
    ],
  };

  it('an invalid pattern names the route and the field', async () => {
    const file = writeRoutes(badPattern);
    expectOneLineFailure(
      await startWith({ UPSTREAM_URL: UPSTREAM, ROUTES_FILE: file }),
      'route "broken"',
      'pattern',
    );
  });

  it('an unknown field names the route', async () => {
    const file = writeRoutes({ routes: [{ name: 'typo', pattern: '^/a', defaultTTL: 5 }] });
    expectOneLineFailure(
      await startWith({ UPSTREAM_URL: UPSTREAM, ROUTES_FILE: file }),
      'route "typo"',
      'defaultTTL',
    );
  });

  it('the same with WORKERS=2 (the primary checks before forking)', async () => {
    const file = writeRoutes(badPattern);
    expectOneLineFailure(
      await startWith({ UPSTREAM_URL: UPSTREAM, ROUTES_FILE: file, WORKERS: '2' }),
      'route "broken"',
    );
  });

  it('a file that is not JSON names the file', async () => {
    const file = routesFile('{ "routes": [ ');
    expectOneLineFailure(await startWith({ UPSTREAM_URL: UPSTREAM, ROUTES_FILE: file }), file);
  });

  it('a missing file names the file', async () => {
    const file = join(tmpdir(), 'tagcache-no-such-dir', 'routes.json');
    expectOneLineFailure(await startWith({ UPSTREAM_URL: UPSTREAM, ROUTES_FILE: file }), file);
  });
});

describe('a port that is taken', () => {
  it('stops start-up with one line naming the address', async () => {
    const squatter = createServer();
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    const taken = (squatter.address() as AddressInfo).port;
    try {
      const { adminPort } = await freePorts();
      expectOneLineFailure(
        await startWith({ UPSTREAM_URL: UPSTREAM }, { port: taken, adminPort }),
        'EADDRINUSE',
        String(taken),
      );
    } finally {
      squatter.close();
    }
  });
});
