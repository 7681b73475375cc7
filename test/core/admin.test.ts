import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fetchRaw, type SimpleResponse } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { closedPortUrl } from '../support/ports.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { parseSamples, scrape } from './prom.js';

let origin: Origin;
let proxy: RunningProxy;
let downProxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  const closed = await closedPortUrl();
  proxy = await startProxy(
    { UPSTREAM_URL: origin.url },
    {
      routes: [
        { name: 'down', pattern: '^/down', upstream: closed },
        { name: 'search', pattern: '^/search', cache: false },
      ],
      default: { name: 'pages' },
    },
  );
  downProxy = await startProxy({ UPSTREAM_URL: closed });
});
afterAll(async () => {
  await proxy?.close();
  await downProxy?.close();
  await origin?.close();
});

function json(res: SimpleResponse): Record<string, unknown> {
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(res.text()) as Record<string, unknown>;
}

interface Run {
  readonly code: number | null;
  readonly output: string;
}

/** `promtool check metrics` on an exposition; fails (not skips) when promtool is missing. */
function promtoolCheck(exposition: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error(
              'promtool is not installed, so /metrics cannot be checked: apt-get install prometheus ' +
                '(Debian/Ubuntu; it provides /usr/bin/promtool), or run `bash scripts/setup.sh`',
            )
          : err,
      );
    });
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.on('error', () => undefined); // promtool may exit before reading all; its exit code tells
    child.stdin.end(exposition);
  });
}

describe('health', () => {
  it('GET /health/live answers 200', async () => {
    const res = await fetchRaw(`${proxy.adminUrl}/health/live`);
    expect(res.status).toBe(200);
    expect(json(res)).toEqual({ status: 'live' });
  });

  it('GET /health/ready answers 200 with the store and upstream checks', async () => {
    const res = await fetchRaw(`${proxy.adminUrl}/health/ready`);
    expect(res.status).toBe(200);
    const body = json(res);
    expect(body).toMatchObject({
      status: 'ready',
      checks: { store: { ok: true }, upstream: { ok: true } },
    });
  });

  it('GET /health/ready stays 200, degraded, with upstream.ok=false when the backend is down', async () => {
    // Every instance shares the backend: failing readiness would take them all out and stop stale serving.
    const res = await fetchRaw(`${downProxy.adminUrl}/health/ready`);
    expect(res.status).toBe(200);
    const body = json(res);
    expect(body).toMatchObject({
      status: 'degraded',
      checks: { store: { ok: true }, upstream: { ok: false } },
    });
    expect((body.checks as { upstream: { error: string } }).upstream.error).toMatch(/ECONNREFUSED/);
  });
});

describe('errors of the admin listener', () => {
  it('an unknown path is a 404 in JSON', async () => {
    const res = await fetchRaw(`${proxy.adminUrl}/nope`);
    expect(res.status).toBe(404);
    const body = json(res);
    expect(body).toMatchObject({ error: 'TC_NOT_FOUND', message: expect.stringContaining('/nope') });
  });

  it.each([
    ['POST', '/metrics'],
    ['DELETE', '/health/live'],
    ['PUT', '/health/ready'],
  ])('%s %s is a 405 in JSON with Allow', async (method, path) => {
    const res = await fetchRaw(`${proxy.adminUrl}${path}`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect(json(res)).toMatchObject({
      error: 'TC_METHOD_NOT_ALLOWED',
      message: expect.stringContaining(method),
    });
  });

  it('GET /invalidate is a 405 with Allow: POST', async () => {
    const res = await fetchRaw(`${proxy.adminUrl}/invalidate`);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(json(res)).toMatchObject({ error: 'TC_METHOD_NOT_ALLOWED' });
  });
});

describe('GET /metrics', () => {
  let exposition: string;

  beforeAll(async () => {
    origin.on('/page', respond(200, { 'cache-control': 'max-age=300' }, 'page'));
    origin.on('/search', respond(200, { 'cache-control': 'no-store' }, 'results'));
    origin.on('/fails', respond(503, { 'cache-control': 'no-store' }, 'backend trouble'));
    const statuses = [];
    for (const path of ['/page', '/page', '/page', '/search', '/down/x', '/fails']) {
      statuses.push((await fetchRaw(proxy.url + path)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 502, 503]);
    // Counted after the last byte: wait until all six are in (expect.poll is for tests, vi.waitFor for hooks).
    await vi.waitFor(async () => {
      const total = parseSamples(await scrape(proxy.adminUrl))
        .filter((s) => s.name === 'tagcache_requests_total')
        .reduce((sum, s) => sum + s.value, 0);
      expect(total).toBe(6);
    });
    exposition = await scrape(proxy.adminUrl);
  });

  it('passes promtool check metrics', async () => {
    const run = await promtoolCheck(exposition);
    expect(run.output).toBe('');
    expect(run.code).toBe(0);
  });

  it('is the Prometheus text format, not cached', async () => {
    const res = await fetchRaw(`${proxy.adminUrl}/metrics`);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers['cache-control']).toBe('no-store');
    const head = await fetchRaw(`${proxy.adminUrl}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('counts requests by route, method, status and cache', () => {
    const samples = parseSamples(exposition).filter((s) => s.name === 'tagcache_requests_total');
    for (const s of samples)
      expect(Object.keys(s.labels).sort()).toEqual(['cache', 'method', 'route', 'status']);
    const count = (labels: Record<string, string>) =>
      samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(count({ route: 'pages', method: 'GET', status: '200', cache: 'MISS' })).toBe(1);
    expect(count({ route: 'pages', method: 'GET', status: '200', cache: 'HIT' })).toBe(2);
    expect(count({ route: 'search', method: 'GET', status: '200', cache: 'BYPASS' })).toBe(1);
    expect(count({ route: 'down', method: 'GET', status: '502', cache: 'MISS' })).toBe(1);
    expect(count({ route: 'pages', method: 'GET', status: '503', cache: 'MISS' })).toBe(1);
  });

  it('times requests in the tagcache_request_duration_seconds histogram by route and cache', () => {
    expect(exposition).toContain('# TYPE tagcache_request_duration_seconds histogram');
    const samples = parseSamples(exposition);
    const buckets = samples.filter((s) => s.name === 'tagcache_request_duration_seconds_bucket');
    for (const s of buckets) expect(Object.keys(s.labels).sort()).toEqual(['cache', 'le', 'route']);
    const count = samples.find(
      (s) =>
        s.name === 'tagcache_request_duration_seconds_count' &&
        s.labels.route === 'pages' &&
        s.labels.cache === 'HIT',
    );
    expect(count?.value).toBe(2);
    const inf = buckets.find(
      (s) => s.labels.route === 'pages' && s.labels.cache === 'HIT' && s.labels.le === '+Inf',
    );
    expect(inf?.value).toBe(2);
  });

  it('counts upstream errors by route and reason', () => {
    const errors = parseSamples(exposition).filter((s) => s.name === 'tagcache_upstream_errors_total');
    expect(errors).toContainEqual({
      name: 'tagcache_upstream_errors_total',
      labels: { route: 'down', reason: 'connect' },
      value: 1,
    });
    expect(errors).toContainEqual({
      name: 'tagcache_upstream_errors_total',
      labels: { route: 'pages', reason: '5xx' },
      value: 1,
    });
  });

  it('names every metric tagcache_*', () => {
    const names = new Set(parseSamples(exposition).map((s) => s.name));
    for (const name of names) expect(name).toMatch(/^tagcache_/);
  });
});
