import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from '../support/http.js';
import { parseExposition } from './exposition.js';
import { promtoolCheckMetrics, requireTool } from './tools.js';
import { mixedWorkload, type Rig, startRig } from './workload.js';

describe('the /metrics exposition after a mixed workload', () => {
  let rig: Rig;
  beforeAll(async () => {
    // Fail before any work when the tool is missing: the message says how to install it.
    requireTool('promtool');
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('passes promtool check metrics with no warnings and no errors', async () => {
    await mixedWorkload(rig);
    const res = await fetchRaw(`${rig.proxy.adminUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text();

    const result = promtoolCheckMetrics(text);
    expect({ stdout: result.stdout, stderr: result.stderr }).toEqual({ stdout: '', stderr: '' });
    expect(result.code).toBe(0);

    // What promtool leaves to convention: one prefix, and _total on counters only.
    const m = parseExposition(text);
    expect(m.types.size).toBeGreaterThan(20);
    for (const [family, type] of m.types) {
      expect(family).toMatch(/^tagcache_[a-z0-9_]+$/);
      if (type === 'counter') expect(family).toMatch(/_total$/);
      else expect(family).not.toMatch(/_total$/);
    }
    // Every family the workload moves has samples, so promtool saw them all, not just their HELP.
    for (const family of [
      'tagcache_stale_served_total',
      'tagcache_revalidations_total',
      'tagcache_upstream_errors_total',
    ])
      expect(m.has(family), family).toBe(true);
  });
});
