import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, type SimpleResponse } from '../support/http.js';
import { type Origin, respond, startOrigin } from '../support/origin.js';
import { accepts, type ChildProxy, explained, jsonLines, startChild } from './child.js';
import { scrape, sumOf } from './prom.js';

const TOKEN = 'shutdown-test-token-0123456789';
/** Log lines of a child reach stdout in batches (about once a second). */
const LOG_WAIT = { timeout: 10_000, interval: 100 };

let origin: Origin;
const children: ChildProxy[] = [];
/** Answers held back by a test, let go in afterAll at the latest. */
const held: (() => void)[] = [];

beforeAll(async () => {
  origin = await startOrigin();
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop(2_000)));
});
afterAll(async () => {
  for (const release of held) release();
  await origin?.close();
});

async function start(env: Record<string, string>): Promise<ChildProxy> {
  const child = await startChild({ UPSTREAM_URL: origin.url, ...env });
  children.push(child);
  return child;
}

/** A script that answers only when the returned function is called. */
function gated(path: string, body: string): () => void {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  held.push(release);
  origin.on(path, (_req, res) => {
    void gate.then(() => res.writeHead(200, { 'cache-control': 'no-store' }).end(body));
  });
  return release;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH: no such process
  }
}

describe('SIGTERM with one process', () => {
  it('lets the in-flight request finish, refuses new connections, then exits 0', async () => {
    // Grace far above the test timeout: an exit in time means it drained, not that the grace ran out.
    const child = await start({ SHUTDOWN_GRACE_MS: '60000' });
    await explained(child, async () => {
      const release = gated('/slow', 'slow done');
      const inFlight = fetchRaw(`${child.url}/slow`);
      await expect.poll(() => origin.count('/slow')).toBe(1);

      child.child.kill('SIGTERM');
      await expect.poll(() => accepts(child.url), { timeout: 5_000 }).toBe(false);
      // Still draining: the answer has not been sent yet.
      expect(child.child.exitCode).toBeNull();

      release();
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(res.text()).toBe('slow done');
      expect(await child.exited).toBe(0);
      expect(child.stderr.join('')).toBe('');
      // Its access line was in the last batch, flushed before the exit rather than lost with it.
      expect(jsonLines(child).filter((l) => l.msg === 'request' && l.path === '/slow')).toHaveLength(1);
    });
  }, 20_000);

  it('exits 0 once SHUTDOWN_GRACE_MS has passed even when a request is still waiting', async ({
    annotate,
  }) => {
    const child = await start({ SHUTDOWN_GRACE_MS: '1000' });
    await explained(child, async () => {
      gated('/slower-than-grace', 'too late');
      const inFlight: Promise<SimpleResponse | Error> = fetchRaw(`${child.url}/slower-than-grace`).catch(
        (err: Error) => err,
      );
      await expect.poll(() => origin.count('/slower-than-grace')).toBe(1);

      const signalled = performance.now();
      child.child.kill('SIGTERM');
      expect(await child.exited).toBe(0);
      await annotate(
        `exited ${Math.round(performance.now() - signalled)} ms after SIGTERM (SHUTDOWN_GRACE_MS=1000)`,
      );
      // Cut off at the deadline: the client sees the connection close without an answer.
      const outcome = await inFlight;
      expect(outcome).toBeInstanceOf(Error);
    });
  }, 20_000);
});

describe('WORKERS=2', () => {
  it('serves on the shared port, aggregates /metrics, relays /invalidate and stops every process', async () => {
    const child = await start({ WORKERS: '2', INVALIDATE_TOKEN: TOKEN });
    await explained(child, async () => {
      const workers = () =>
        jsonLines(child)
          .filter((l) => l.msg === 'tagcache listening')
          .map((l) => l.pid as number);
      await expect.poll(() => new Set(workers()).size, LOG_WAIT).toBe(2);
      const workerPids = [...new Set(workers())];
      expect(workerPids).not.toContain(child.pid);

      // Requests on a route that bypasses the cache, each on a new connection.
      origin.on('/search/shared', respond(200, { 'cache-control': 'no-store' }, 'found'));
      const N = 20;
      for (let i = 0; i < N; i++) {
        expect((await fetchRaw(`${child.url}/search/shared?i=${i}`)).status).toBe(200);
      }
      // The primary's /metrics sums what each worker counted.
      await expect
        .poll(
          async () => sumOf(await scrape(child.adminUrl), 'tagcache_requests_total', { route: 'search' }),
          {
            timeout: 5_000,
          },
        )
        .toBe(N);
      expect(sumOf(await scrape(child.adminUrl), 'tagcache_requests_total')).toBe(N);
      // Both workers answered some of them.
      await expect
        .poll(
          () =>
            new Set(
              jsonLines(child)
                .filter((l) => l.msg === 'request' && l.route === 'search')
                .map((l) => l.pid),
            ).size,
          LOG_WAIT,
        )
        .toBe(2);

      // Each worker has its own memory store, so each caches the product once…
      origin.on('/products/7', respond(200, { 'cache-control': 'max-age=3600' }, 'product 7'));
      for (let i = 0; i < 10; i++) await fetchRaw(`${child.url}/products/7`);
      // Linux cluster scheduling is round-robin: consecutive connections alternate between the workers.
      expect(origin.count('/products/7'), 'one backend fetch per worker').toBe(2);
      // …and a purge through the primary reaches both.
      const purge = await fetchRaw(`${child.adminUrl}/invalidate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tags: ['product:7'] }),
      });
      expect(purge.status).toBe(200);
      expect(JSON.parse(purge.text())).toMatchObject({ status: 'ok', entries: 2 });
      for (let i = 0; i < 10; i++) await fetchRaw(`${child.url}/products/7`);
      expect(origin.count('/products/7')).toBe(4);
      // The purge is logged and recorded once, not once per worker; history and look-ups go over IPC.
      const read = async (path: string) =>
        JSON.parse(
          (await fetchRaw(child.adminUrl + path, { headers: { authorization: `Bearer ${TOKEN}` } })).text(),
        );
      const { invalidations } = await read('/invalidations');
      expect(invalidations).toHaveLength(1);
      expect(invalidations[0]).toMatchObject({ kind: 'tags', items: ['product:7'], entries: 2 });
      await expect
        .poll(() => jsonLines(child).filter((l) => l.msg === 'invalidated').length, LOG_WAIT)
        .toBe(1);
      expect(await read('/entries?tag=product:7')).toMatchObject({ tag: 'product:7', count: 1 });

      child.child.kill('SIGTERM');
      expect(await child.exited).toBe(0);
      for (const pid of workerPids) await expect.poll(() => isAlive(pid), { timeout: 5_000 }).toBe(false);
      expect(await accepts(child.url)).toBe(false);
      expect(jsonLines(child).filter((l) => l.msg === 'worker died; starting a new one')).toEqual([]);
    });
  }, 30_000);
});
