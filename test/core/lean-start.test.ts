import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { operatorTunesV8 } from '../../src/utils/lean-start.js';
import { ROOT } from '../support/proxy.js';
import { requireBuild } from './child.js';

/** Runs an ES module in a fresh node (V8 flags are per process) and parses what it prints. */
function inNode(script: string, nodeArgs: string[] = []): Record<string, number> {
  requireBuild();
  const out = execFileSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
    env: { ...process.env, NODE_OPTIONS: '' },
    encoding: 'utf8',
  });
  return JSON.parse(out) as Record<string, number>;
}

const LEAN = `import { leanStart } from ${JSON.stringify(join(ROOT, 'dist/src/utils/lean-start.js'))};`;

describe('leanStart', () => {
  // %GetOptimizationStatus: bit 6 is "optimised by TurboFan" (Maglev, on by default from Node 22, is bit 5).
  const TURBOFANNED = 1 << 6;
  const optimisation = `${LEAN}
    function hot(n) { let s = 0; for (let i = 0; i < n; i++) s += i % 7; return s; }
    const run = () => { for (let i = 0; i < 3000; i++) hot(1000); return %GetOptimizationStatus(hot); };
    let during;
    await leanStart(async () => { during = run(); }, async () => {});
    console.log(JSON.stringify({ during, after: run() }));`;

  it('loads with TurboFan off and serves with it on', () => {
    const { during, after } = inNode(optimisation, ['--allow-natives-syntax']);
    expect((during ?? 0) & TURBOFANNED).toBe(0);
    expect((after ?? 0) & TURBOFANNED).toBe(TURBOFANNED);
  });

  it('leaves an operator who turned TurboFan off as they chose', () => {
    const { after } = inNode(optimisation, ['--allow-natives-syntax', '--no-opt']);
    expect((after ?? 0) & TURBOFANNED).toBe(0);
  });

  it('holds the young generation while loading and lets it grow after', () => {
    const { first, during, after } = inNode(`${LEAN}
      import { getHeapSpaceStatistics } from 'node:v8';
      const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const kept = [];
      const survive = () => { for (let i = 0; i < 300000; i++) kept.push({ i, s: 'k' + i }); };
      const first = young();
      let during;
      await leanStart(async () => { survive(); during = young(); }, async () => {});
      survive();
      console.log(JSON.stringify({ first, during, after: young() }));`);
    expect(during).toBeLessThanOrEqual(2 * (first ?? 0));
    expect(after).toBeGreaterThan(4 * (first ?? 0));
  });

  it('compacts what loading left in old space before the app starts', () => {
    const { physical } = inNode(`${LEAN}
      import { getHeapSpaceStatistics } from 'node:v8';
      const old = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
      let kept;
      await leanStart(
        async () => {
          // 20 MiB that survive into old space, then all but every 20th object becomes garbage.
          let all = [];
          for (let i = 0; i < 400000; i++) all.push({ i, s: 'x' + i });
          await new Promise((r) => setTimeout(r, 10));
          kept = all.filter((_, i) => i % 20 === 0);
        },
        async () => {
          const space = old();
          console.log(JSON.stringify({ physical: space.physical_space_size }));
        },
      );`);
    // ~1 MiB kept of ~25 allocated; uncompacted (or uncollected), old space holds 30 MiB or more.
    expect(physical).toBeLessThan(12 * 2 ** 20);
  });

  it('never leaves gc() on the global', () => {
    const { type } = inNode(`${LEAN}
      await leanStart(async () => {}, async () => {});
      console.log(JSON.stringify({ type: typeof globalThis.gc === 'undefined' ? 0 : 1 }));`);
    expect(type).toBe(0);
  });
});

describe('operatorTunesV8', () => {
  it('sees the flags leanStart would change, on the command line or in NODE_OPTIONS', () => {
    expect(operatorTunesV8(['--no-opt'], undefined)).toBe(true);
    expect(operatorTunesV8([], '--max-old-space-size=200 --jitless')).toBe(true);
    expect(operatorTunesV8(['--max-semi-space-size=1'], undefined)).toBe(true);
    expect(operatorTunesV8(['--semi_space_growth_factor=3'], undefined)).toBe(true);
    expect(operatorTunesV8(['--wasm-tiering-budget=1000'], undefined)).toBe(true);
  });

  it('ignores the others', () => {
    expect(operatorTunesV8([], undefined)).toBe(false);
    expect(operatorTunesV8(['--enable-source-maps', '--max-old-space-size=512'], '')).toBe(false);
    expect(operatorTunesV8(['--optimize-for-size-not-a-flag'], '--title=tagcache')).toBe(false);
  });
});
