import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { readText } from './files.js';
import { hasProgram, run } from './tools.js';

/** The example alert rules are valid, fire when they should, and watch metrics tagcache exposes. */

const PROMTOOL_ADVICE =
  'promtool is not installed: it comes with Prometheus (Debian/Ubuntu: sudo apt-get install prometheus; ' +
  'elsewhere the release tarball from https://prometheus.io/download/); `npm test` installs it when it can';

async function promtool(args: string[]) {
  if (!(await hasProgram('promtool'))) throw new Error(PROMTOOL_ADVICE);
  return run('promtool', args);
}

describe('docker/alerts.yml', () => {
  it('passes promtool check rules', async () => {
    const checked = await promtool(['check', 'rules', 'docker/alerts.yml']);
    expect(checked.stderr + checked.stdout).toMatch(/SUCCESS: \d+ rules found/);
    expect(checked.code).toBe(0);
  });

  it('fires on the situations its unit tests feed it (promtool test rules)', async () => {
    const tested = await promtool(['test', 'rules', 'test/packaging/alert-rules.promtool.yml']);
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
  });

  it('is loaded by the compose Prometheus config, which promtool accepts with its rule files', async () => {
    // rule_files resolve next to prometheus.yml: docker/alerts.yml here, /etc/prometheus/alerts.yml in compose.
    const checked = await promtool(['check', 'config', 'docker/prometheus.yml']);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    expect(checked.stdout + checked.stderr).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('has an alert for each thing the README says to watch', () => {
    const names = [...readText('docker/alerts.yml').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    expect(names).toEqual(
      expect.arrayContaining([
        'TagcacheDown',
        'TagcacheHitRatioLow',
        'TagcacheHigh5xxRate',
        'TagcacheUpstreamErrors',
        'TagcacheStoreErrors',
        'TagcacheCacheLatencyHigh',
      ]),
    );
  });
});

describe('the metrics the alert rules use', () => {
  let origin: Origin;
  let proxy: RunningProxy;

  beforeAll(async () => {
    origin = await startOrigin();
    origin.on('/a', respond(200, { 'cache-control': 's-maxage=60', 'surrogate-key': 'a' }));
    proxy = await startProxy({ UPSTREAM_URL: origin.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
  });

  it('are all exposed by a running tagcache', async () => {
    await fetchRaw(`${proxy.url}/a`);
    await fetchRaw(`${proxy.url}/a`);
    const exposition = (await fetchRaw(`${proxy.adminUrl}/metrics`)).text();
    const exposed = new Set([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]));
    const used = new Set(
      [...readText('docker/alerts.yml').matchAll(/\b(tagcache_[a-z0-9_]+)/g)].map((m) =>
        // A histogram is exposed under its base name; queries use its series.
        (m[1] ?? '').replace(/_(bucket|count|sum)$/, ''),
      ),
    );
    expect(used.size).toBeGreaterThanOrEqual(4);
    expect([...used].filter((name) => !exposed.has(name))).toEqual([]);
  });
});
