import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { hasProgram, type RunResult, run } from './tools.js';

/**
 * Where a Docker engine answers: builds the image, starts the compose stack
 * (and the cluster profile), and sends traffic through it. Skipped, saying
 * so, where none does — the consistency and compose-config tests cover what
 * can be checked without one. Building the image takes minutes: this file's
 * timeouts are the image build's, not a test's.
 */

const PROJECT = 'tagcache-packaging-test';
const TOKEN = 'demo-token-change-me-0123456789';
const PROXY = 'http://127.0.0.1:8080';
const ADMIN = 'http://127.0.0.1:9145';
const BUILD_TIMEOUT_MS = 15 * 60_000;

async function whyNoEngine(): Promise<string | undefined> {
  if (!(await hasProgram('docker', ['--version'])))
    return 'no Docker engine is available: `docker` is not installed';
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 });
  if (info.code !== 0) {
    const reason = (info.stderr.trim().split('\n').at(-1) ?? '').trim();
    return `no Docker engine is available (docker info: ${reason || `exit ${info.code}`}); the image build and the stack run are skipped`;
  }
  const v2 = await run('docker', ['compose', 'version', '--short']);
  if (v2.code !== 0)
    return 'a Docker engine answers but the Compose v2 plugin (`docker compose`) is missing; it is needed for `up --wait`';
  return undefined;
}

const skipped = await whyNoEngine();
if (skipped !== undefined) process.stderr.write(`packaging: docker stack test skipped: ${skipped}\n`);

function compose(args: string[], timeoutMs = BUILD_TIMEOUT_MS): Promise<RunResult> {
  return run('docker', ['compose', '-p', PROJECT, '-f', 'docker-compose.yml', ...args], {
    env: { ...process.env, INVALIDATE_TOKEN: TOKEN },
    timeoutMs,
  });
}

function expectOk(result: RunResult, what: string): void {
  expect(result.code, `${what}:\n${result.stdout}\n${result.stderr}`).toBe(0);
}

describe.skipIf(skipped !== undefined)('the compose stack on a Docker engine', () => {
  beforeAll(async () => {
    expectOk(await compose(['build']), 'docker compose build');
    expectOk(
      await compose(['up', '--detach', '--wait', '--wait-timeout', '180']),
      'docker compose up --wait',
    );
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => {
    await compose(['--profile', 'cluster', 'down', '--volumes', '--remove-orphans'], 120_000);
  }, 180_000);

  it('caches through the proxy and purges by tag', async () => {
    expect((await fetchRaw(`${PROXY}/products/1`)).headers['x-cache']).toBe('MISS');
    // Redis gets the entry after the client got its answer.
    await expect.poll(async () => (await fetchRaw(`${PROXY}/products/1`)).headers['x-cache']).toBe('HIT');
    const purge = await fetchRaw(`${ADMIN}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: ['product:1'] }),
    });
    expect(purge.status, purge.text()).toBe(200);
    expect((await fetchRaw(`${PROXY}/products/1`)).headers['x-cache']).toBe('MISS');
  });

  it('is scraped by Prometheus, which loaded the alert rules', async () => {
    await expect
      .poll(
        async () => {
          const res = await fetchRaw('http://127.0.0.1:9090/api/v1/targets?state=active');
          const body = JSON.parse(res.text()) as {
            data: { activeTargets: { health: string; labels: { job: string } }[] };
          };
          return body.data.activeTargets.filter((t) => t.labels.job === 'tagcache').map((t) => t.health);
        },
        { timeout: 60_000, interval: 1_000 },
      )
      .toEqual(['up']);
    const rules = JSON.parse((await fetchRaw('http://127.0.0.1:9090/api/v1/rules')).text()) as {
      data: { groups: { rules: { name: string }[] }[] };
    };
    expect(rules.data.groups.flatMap((g) => g.rules.map((r) => r.name))).toContain('TagcacheDown');
  });

  it('serves the provisioned dashboard in Grafana to anonymous viewers', async () => {
    const search = await fetchRaw('http://127.0.0.1:3000/api/search?query=tagcache');
    expect(search.status).toBe(200);
    expect(JSON.parse(search.text())).not.toEqual([]);
  });

  it(
    'runs tagcache on the three-master Redis Cluster in the cluster profile',
    async () => {
      // No --wait: some Compose versions count redis-cluster-init, which exits once the cluster exists, as failed.
      expectOk(
        await compose(['--profile', 'cluster', 'up', '--detach', 'tagcache-cluster']),
        'docker compose --profile cluster up tagcache-cluster',
      );
      await expect
        .poll(
          async () => (await fetchRaw('http://127.0.0.1:9146/health/ready').catch(() => undefined))?.status,
          {
            timeout: 180_000,
            interval: 1_000,
          },
        )
        .toBe(200);
      expect((await fetchRaw('http://127.0.0.1:8081/products/7')).headers['x-cache']).toBe('MISS');
      await expect
        .poll(async () => (await fetchRaw('http://127.0.0.1:8081/products/7')).headers['x-cache'])
        .toBe('HIT');
    },
    BUILD_TIMEOUT_MS,
  );
});

describe.runIf(skipped !== undefined)('the compose stack without a Docker engine', () => {
  it('is skipped', (ctx) => {
    ctx.skip(skipped);
  });
});
