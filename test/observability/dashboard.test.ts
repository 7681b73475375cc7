import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/proxy.js';
import {
  allPanels,
  type Dashboard,
  loadDashboard,
  metricNames,
  panelExpressions,
  substitute,
  variableSelectors,
} from './dashboard.js';
import { scrape } from './exposition.js';
import { promtoolCheckExpressions, requireTool } from './tools.js';
import { mixedWorkload, type Rig, startRig } from './workload.js';

/** Panels read the dashboard's datasource variable, which defaults to the provisioned uid `prometheus`. */
const DATASOURCE = { type: 'prometheus', uid: '$' + '{datasource}' };

/** What the dashboard must show (issue #7), as title patterns. */
const REQUIRED_PANELS = [
  /^Hit ratio$/,
  /^Requests by cache status$/,
  /^Latency p50 \/ p95 \/ p99 by route$/,
  /^Upstream errors by reason$/,
  /^Stale served by reason$/,
  /^Revalidations by result$/,
  /^Collapsed requests$/,
  /^Invalidations by kind and mode$/,
  /^Invalidated entries by kind$/,
  /^Store operation latency/,
  /^Store errors by operation$/,
  /^Memory store bytes$/,
  /^Memory store entries$/,
  /^In-flight requests$/,
  /^Route reloads$/,
];

describe('the Grafana dashboard', () => {
  let dashboard: Dashboard;
  let rig: Rig;
  beforeAll(async () => {
    requireTool('promtool');
    dashboard = loadDashboard();
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('is a current-schema dashboard whose every panel reads the Prometheus datasource variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBe('tagcache');
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus', current: { value: 'prometheus' } });
    const panels = allPanels(dashboard).filter((p) => p.type !== 'row');
    expect(new Set(allPanels(dashboard).map((p) => p.id)).size).toBe(allPanels(dashboard).length);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual(DATASOURCE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource, p.title).toEqual(p.datasource);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    for (const wanted of REQUIRED_PANELS)
      expect(
        panels.map((p) => p.title).some((t) => wanted.test(t)),
        String(wanted),
      ).toBe(true);
  });

  it('computes latency percentiles by route from the request duration histogram', () => {
    const latency = allPanels(dashboard).find((p) => p.title === 'Latency p50 / p95 / p99 by route');
    const exprs = (latency?.targets ?? []).map((t) => t.expr);
    for (const q of ['0.5', '0.95', '0.99']) {
      expect(
        exprs.some((e) =>
          e.startsWith(
            `histogram_quantile(${q}, sum by (le, route) (rate(tagcache_request_duration_seconds_bucket{`,
          ),
        ),
        q,
      ).toBe(true);
    }
  });

  it('reads only metrics the proxy exports', async () => {
    await mixedWorkload(rig);
    const m = await scrape(rig.proxy.adminUrl);
    // A name exists when /metrics declares its family: histograms add _bucket, _sum and _count.
    const exported = new Set<string>();
    for (const [family, type] of m.types) {
      exported.add(family);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(family + s);
    }
    const used = [...panelExpressions(dashboard).map((p) => p.expr), ...variableSelectors(dashboard)].flatMap(
      metricNames,
    );
    expect(used.length).toBeGreaterThan(20);
    expect([...new Set(used)].filter((name) => !exported.has(name))).toEqual([]);
    // Every tagcache metric is on the dashboard somewhere.
    const shown = new Set(used.map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    const families = [...m.types.keys()].filter((f) => !/^tagcache_(process|nodejs)_/.test(f));
    expect(families.filter((f) => !shown.has(f))).toEqual([]);
  });

  it('has only expressions that Prometheus parses', async () => {
    const exprs = [
      ...panelExpressions(dashboard).map((p) => substitute(p.expr)),
      ...variableSelectors(dashboard).map(substitute),
    ];
    for (const e of exprs) expect(e).not.toContain('$');
    const result = await promtoolCheckExpressions(exprs);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(result.code).toBe(0);
  });

  it('ships a Prometheus config that scrapes tagcache:9145 and Grafana provisioning that finds both', () => {
    const promConfig = join(ROOT, 'docker/prometheus.yml');
    const check = spawnSync(requireTool('promtool'), ['check', 'config', promConfig], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const text = readFileSync(promConfig, 'utf8');
    expect(text).toContain("targets: ['tagcache:9145']");
    expect(text).toMatch(/metrics_path: \/metrics/);

    const datasource = readFileSync(
      join(ROOT, 'docker/grafana/provisioning/datasources/prometheus.yml'),
      'utf8',
    );
    expect(datasource).toMatch(/^\s+uid: prometheus$/m);
    expect(datasource).toMatch(/^\s+type: prometheus$/m);
    expect(datasource).toMatch(/^\s+url: http:\/\/prometheus:9090$/m);
    const provider = readFileSync(join(ROOT, 'docker/grafana/provisioning/dashboards/tagcache.yml'), 'utf8');
    expect(provider).toMatch(/^\s+path: \/var\/lib\/grafana\/dashboards$/m);
    expect(provider).toMatch(/^\s+type: file$/m);
  });
});
