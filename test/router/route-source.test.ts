import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/modules/metrics/registry.js';
import {
  createRouteSource,
  loadRouteTable,
  type ReloadableRouteSource,
} from '../../src/modules/router/index.js';
import { isTagcacheError } from '../../src/utils/errors.js';
import { createLogger } from '../../src/utils/logger.js';
import { captureLog } from '../support/log.js';

const routesWith = (...names: string[]) =>
  JSON.stringify({ routes: names.map((name) => ({ name, pattern: `^/${name}` })) });

describe('route source', () => {
  let dir: string;
  let file: string;
  let source: ReloadableRouteSource | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tagcache-routes-'));
    file = join(dir, 'routes.json');
  });
  afterEach(() => {
    source?.close();
    source = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (watch: boolean) => {
    const metrics = createMetrics(new Registry(), { defaults: false });
    const { log, lines } = captureLog();
    source = createRouteSource({ file, log, metrics, watch });
    const reloads = async (result: 'success' | 'failure') =>
      (await metrics.routeReloads.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
    return { source, reloads, lines };
  };
  const names = (s: ReloadableRouteSource) => s.current().routes.map((r) => r.name);

  it('loads the file at once', () => {
    writeFileSync(file, routesWith('a', 'b'));
    const { source } = open(false);
    expect(names(source)).toEqual(['a', 'b']);
  });

  it('refuses to start on a missing file or bad JSON, naming the file', () => {
    expect(() => loadRouteTable(file)).toThrow(`${file}: cannot read the route table: no such file`);
    writeFileSync(file, '{"routes": [');
    let thrown: unknown;
    try {
      open(false);
    } catch (err) {
      thrown = err;
    }
    expect(isTagcacheError(thrown, 'TC_ROUTES_INVALID')).toBe(true);
    expect((thrown as Error).message).toMatch(new RegExp(`^${file}: not valid JSON: `));
  });

  it('reloads when the file is rewritten in place', async () => {
    writeFileSync(file, routesWith('a'));
    const { source, reloads, lines } = open(true);
    writeFileSync(file, routesWith('a', 'b'));
    await expect.poll(() => names(source)).toEqual(['a', 'b']);
    expect(await reloads('success')).toBe(1);
    expect(lines.find((l) => l.msg === 'route table reloaded')).toMatchObject({
      level: 'info',
      routes: ['a', 'b'],
    });
  });

  it('reloads when an editor saves by renaming a new file over the old one', async () => {
    writeFileSync(file, routesWith('a'));
    const { source } = open(true);
    const temp = join(dir, '.routes.json.swp');
    writeFileSync(temp, routesWith('c'));
    renameSync(temp, file);
    await expect.poll(() => names(source)).toEqual(['c']);
    // The watch survives the rename: a second save is seen too.
    writeFileSync(temp, routesWith('d'));
    renameSync(temp, file);
    await expect.poll(() => names(source)).toEqual(['d']);
  });

  it('reloads when a Kubernetes ConfigMap volume swaps its ..data link', async () => {
    // The layout kubelet writes: routes.json -> ..data/routes.json, ..data -> a timestamped directory.
    mkdirSync(join(dir, 'v1'));
    writeFileSync(join(dir, 'v1', 'routes.json'), routesWith('a'));
    symlinkSync('v1', join(dir, '..data'));
    symlinkSync(join('..data', 'routes.json'), file);
    const { source } = open(true);
    expect(names(source)).toEqual(['a']);
    mkdirSync(join(dir, 'v2'));
    writeFileSync(join(dir, 'v2', 'routes.json'), routesWith('b'));
    symlinkSync('v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await expect.poll(() => names(source)).toEqual(['b']);
  });

  it('a bad change keeps the old table, logs why with the route, and counts a failure', async () => {
    writeFileSync(file, routesWith('a'));
    const { source, reloads, lines } = open(true);
    writeFileSync(file, JSON.stringify({ routes: [{ name: 'broken', pattern: '(' }] }));
    await expect.poll(() => reloads('failure')).toBe(1);
    expect(names(source)).toEqual(['a']);
    const line = lines.find((l) => l.level === 'error');
    expect(line?.err).toBe(
      `${file}: route "broken": pattern "(" is not a valid regular expression (Unterminated group)`,
    );
    expect(await reloads('success')).toBe(0);
    // Putting the good file back is a reload again, so the operator sees it was accepted.
    writeFileSync(file, routesWith('a'));
    await expect.poll(() => reloads('success')).toBe(1);
    expect(names(source)).toEqual(['a']);
  });

  it('a change event that leaves the file as it was is no reload', async () => {
    writeFileSync(file, routesWith('a'));
    const other = join(dir, 'other.json');
    writeFileSync(other, routesWith('x'));
    const { reloads } = open(true);
    // A second source in the same directory: once it has seen its own later change, ours has had its event.
    const sentinel = createRouteSource({
      file: other,
      log: createLogger({ level: 'silent' }),
      metrics: createMetrics(new Registry(), { defaults: false }),
    });
    try {
      writeFileSync(file, routesWith('a'));
      writeFileSync(other, routesWith('y'));
      await expect.poll(() => names(sentinel)).toEqual(['y']);
      expect(await reloads('success')).toBe(0);
      expect(await reloads('failure')).toBe(0);
    } finally {
      sentinel.close();
    }
  });

  it('reload() re-reads the file at once, as SIGHUP does', async () => {
    writeFileSync(file, routesWith('a'));
    const { source, reloads } = open(false);
    writeFileSync(file, routesWith('b'));
    expect(names(source)).toEqual(['a']);
    expect(source.reload()).toBe(true);
    expect(names(source)).toEqual(['b']);
    expect(await reloads('success')).toBe(1);
  });

  it('reload() of a bad or vanished file answers false and keeps the old table', async () => {
    writeFileSync(file, routesWith('a'));
    const { source, reloads, lines } = open(false);
    writeFileSync(file, JSON.stringify({ routes: [{ name: 'a', pattern: '^/a', maxAge: 1 }] }));
    expect(source.reload()).toBe(false);
    rmSync(file);
    expect(source.reload()).toBe(false);
    expect(names(source)).toEqual(['a']);
    expect(await reloads('failure')).toBe(2);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.err)).toEqual([
      `${file}: route "a": unknown field "maxAge"; expected one of name, pattern, cache, defaultTtl, ttl, ttlOverrides, staleWhileRevalidate, staleIfError, tags, upstream, cacheKeyQuery, cacheSetCookie, rateLimit, compress`,
      `${file}: cannot read the route table: no such file; set ROUTES_FILE to the route table (a JSON file)`,
    ]);
  });

  it('stops watching once closed', async () => {
    writeFileSync(file, routesWith('a'));
    const { source } = open(true);
    // A second watcher of the same file shows when the change has been seen.
    const sentinel = createRouteSource({
      file,
      log: createLogger({ level: 'silent' }),
      metrics: createMetrics(new Registry(), { defaults: false }),
    });
    try {
      source.close();
      writeFileSync(file, routesWith('b'));
      await expect.poll(() => names(sentinel)).toEqual(['b']);
      expect(names(source)).toEqual(['a']);
    } finally {
      sentinel.close();
    }
  });
});
