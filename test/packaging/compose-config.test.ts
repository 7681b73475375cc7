import { describe, expect, it } from 'vitest';
import { hasProgram, run } from './tools.js';

/**
 * Compose's own validation of docker-compose.yml, with whichever Compose is
 * installed: the v2 plugin (`docker compose`) or Debian's docker-compose
 * (v1.29, which knows the compose-spec schema, profiles and depends_on
 * conditions). No Docker engine is needed: `config` only reads the file.
 */

interface ComposeTool {
  readonly command: string;
  readonly prefix: readonly string[];
  readonly version: string;
}

async function findCompose(): Promise<ComposeTool | string> {
  if (await hasProgram('docker', ['--version'])) {
    const v2 = await run('docker', ['compose', 'version', '--short']);
    if (v2.code === 0) return { command: 'docker', prefix: ['compose'], version: v2.stdout.trim() };
  }
  if (await hasProgram('docker-compose')) {
    const v1 = await run('docker-compose', ['version', '--short']);
    const version = v1.stdout.trim().replace(/^v/, '');
    const [major = 0, minor = 0] = version.split('.').map(Number);
    // Profiles arrived in 1.28; older releases cannot read this file at all.
    if (major === 1 && minor < 28) {
      return `docker-compose ${version} predates compose profiles (1.28); install Compose v2 or docker-compose >= 1.28`;
    }
    return { command: 'docker-compose', prefix: [], version };
  }
  return 'neither `docker compose` (v2) nor `docker-compose` is installed (Debian/Ubuntu: sudo apt-get install docker-compose)';
}

const found = await findCompose();
const unavailable = typeof found === 'string' ? found : undefined;
if (unavailable !== undefined) {
  process.stderr.write(
    `packaging: compose validation skipped: ${unavailable}; the consistency tests still run\n`,
  );
}

describe(`docker compose config${typeof found === 'string' ? '' : ` (${found.command} ${found.version})`}`, () => {
  const compose = (args: string[]) => {
    if (typeof found === 'string') throw new Error(found);
    // A fixed demo token, so a token in the caller's environment cannot change the outcome.
    return run(found.command, [...found.prefix, '-f', 'docker-compose.yml', ...args], {
      env: { ...process.env, INVALIDATE_TOKEN: '' },
    });
  };

  it('validates the default stack', async (ctx) => {
    if (unavailable !== undefined) ctx.skip(unavailable);
    const checked = await compose(['config', '--quiet']);
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);
  });

  it('validates the cluster profile and lists its services', async (ctx) => {
    if (unavailable !== undefined) ctx.skip(unavailable);
    const listed = await compose(['--profile', 'cluster', 'config', '--services']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split('\n').sort()).toEqual(
      [
        'demo-backend',
        'grafana',
        'prometheus',
        'redis',
        'redis-cluster-init',
        'redis-node-1',
        'redis-node-2',
        'redis-node-3',
        'tagcache',
        'tagcache-cluster',
      ].sort(),
    );
  });

  it('resolves the demo token default the README documents', async (ctx) => {
    if (unavailable !== undefined) ctx.skip(unavailable);
    const resolved = await compose(['config']);
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(resolved.stdout).toContain('INVALIDATE_TOKEN: demo-token-change-me-0123456789');
  });
});
