/**
 * Every place where tagcache replaces a library's own way of doing a thing
 * for speed, and the one switch (FAST_PATHS) that turns them off. Each
 * shortcut leans on something its library does not promise (a private
 * symbol, an internal file, a registry's duck type) or re-does what the
 * library already does; off, the library's supported way is used, and
 * differential tests (test/observability/fast-paths-logs-metrics.test.ts,
 * test/utils/fast-paths-streams.test.ts) hold both to the same visible
 * behaviour. Each is kept because the side-by-side bench shows its gain
 * (bench/README.md, Fast paths); shortcuts that showed none were removed.
 *
 * - `access-log`: batched lines formatted by hand onto pino's private stream
 *   symbol (src/utils/access-log.ts); off: `log.info(fields, 'request')`.
 * - `metrics`: tagcache_requests_total, tagcache_request_duration_seconds and
 *   tagcache_requests_in_flight counted in plain numbers
 *   (src/modules/metrics/request-metrics.ts); off: prom-client's own Counter,
 *   Histogram and Gauge.
 * - `undici`: undici's Pool loaded from its internal file without its index
 *   (src/modules/upstream/undici-parts.ts), for idle memory; off: undici's index.
 * - `lean-start`: V8 flags changed at run time while the app's modules load
 *   (TurboFan off, the young generation held, one compacting collection) and
 *   undici's WebAssembly parser compiled by Liftoff only
 *   (src/utils/lean-start.ts), for idle memory; off: V8 as node started it.
 * - `redis`: a Redis hit's HMGET built as an ioredis Command whose arguments
 *   are set after construction, skipping the copy ioredis makes of them
 *   (src/modules/store/redis-connection.ts); off: client.hmgetBuffer.
 */
export const FAST_PATH_NAMES = ['access-log', 'metrics', 'undici', 'lean-start', 'redis'] as const;

export type FastPathName = (typeof FAST_PATH_NAMES)[number];

/** Which shortcuts are on. */
export type FastPaths = Readonly<Record<FastPathName, boolean>>;

export const ALL_FAST_PATHS: FastPaths = Object.freeze(fastPathsOf(FAST_PATH_NAMES));
export const NO_FAST_PATHS: FastPaths = Object.freeze(fastPathsOf([]));

function fastPathsOf(on: readonly string[]): FastPaths {
  const out = {} as Record<FastPathName, boolean>;
  for (const name of FAST_PATH_NAMES) out[name] = on.includes(name);
  return out;
}

/**
 * FAST_PATHS: `on` (every shortcut), `off` (none), or a comma-separated list
 * of the shortcuts to keep on (to find which one a problem follows, or to
 * measure one alone). undefined when the value is none of these.
 */
export function parseFastPaths(value: string): FastPaths | undefined {
  const v = value.trim().toLowerCase();
  if (v === 'on') return ALL_FAST_PATHS;
  if (v === 'off') return NO_FAST_PATHS;
  const names = v.split(',').map((s) => s.trim());
  if (names.some((n) => !(FAST_PATH_NAMES as readonly string[]).includes(n))) return undefined;
  return Object.freeze(fastPathsOf(names));
}
