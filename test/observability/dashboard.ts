import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/proxy.js';

export const DASHBOARD_FILE = join(ROOT, 'docker/grafana/dashboards/tagcache.json');

export interface Target {
  readonly expr: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}

export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: {
    readonly list: readonly {
      name: string;
      type: string;
      query: string | { query: string };
      current?: { value: unknown };
    }[];
  };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL expression of every panel, as written (with Grafana variables). */
export function panelExpressions(d: Dashboard): { panel: string; expr: string }[] {
  return allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}

/** The label_values(...) queries of the template variables, as PromQL selectors. */
export function variableSelectors(d: Dashboard): string[] {
  return d.templating.list.flatMap((v) => {
    if (v.type !== 'query') return [];
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.+),\s*[a-zA-Z_]+\)$/.exec(q);
    return m?.[1] === undefined ? [] : [m[1]];
  });
}

/**
 * An expression as Prometheus would receive it from Grafana with every
 * variable at "All": what promtool and a real server can parse.
 */
export function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range', '1h')
    .replaceAll('$__interval', '15s')
    .replace(/\$\{?(instance|route)\}?/g, '.*');
}

/** The tagcache_* names an expression reads. */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\btagcache_[a-zA-Z0-9_]+/g) ?? [])];
}
