import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/modules/metrics/index.js';
import { ROOT } from '../support/proxy.js';
import { parseExposition } from './exposition.js';

interface DocumentedMetric {
  readonly type: string;
  readonly labels: string[];
}

/** The rows of the README's "## Metrics" table, by metric name. */
function readmeMetrics(): Map<string, DocumentedMetric> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Metrics\n');
  if (start === -1) throw new Error('README.md has no "## Metrics" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const rows = new Map<string, DocumentedMetric>();
  for (const m of section.matchAll(/^\| `(tagcache_[a-z0-9_]+)` \| ([a-z]+) \| ([^|]*) \|/gm)) {
    const labels = [...(m[3] ?? '').matchAll(/`([a-z_]+)`/g)].map((l) => l[1] as string);
    rows.set(m[1] as string, { type: m[2] as string, labels });
  }
  return rows;
}

/** Every family tagcache defines, with its type and (where prom-client keeps them) label names. */
async function definedMetrics(): Promise<Map<string, { type: string; labels: string[] | undefined }>> {
  const metrics = createMetrics(new Registry(), { defaults: false });
  const types = parseExposition(await metrics.registry.metrics()).types;
  const out = new Map<string, { type: string; labels: string[] | undefined }>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const { name, labelNames } = metric as unknown as { name: string; labelNames?: string[] };
    out.set(name, { type: types.get(name) ?? 'untyped', labels: labelNames });
  }
  return out;
}

describe('the README metrics table', () => {
  it('lists every metric tagcache defines, and nothing else', async () => {
    const documented = [...readmeMetrics().keys()].sort();
    const defined = [...(await definedMetrics()).keys()].sort();
    expect(documented.length).toBeGreaterThan(15);
    expect(documented).toEqual(defined);
  });

  it('gives each metric its type and label names', async () => {
    const documented = readmeMetrics();
    for (const [name, { type, labels }] of await definedMetrics()) {
      expect(documented.get(name)?.type, name).toBe(type);
      // Metrics tagcache counts itself (the request pair) keep no label list; metrics-move checks theirs.
      if (labels !== undefined) expect(documented.get(name)?.labels, name).toEqual(labels);
    }
  });
});
