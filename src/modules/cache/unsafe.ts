import { headerValue } from '../../utils/headers.js';
import { normaliseTarget } from '../../utils/normalise-target.js';
import { keysForUrl } from '../invalidation/keys.js';
import type { Metrics } from '../metrics/registry.js';
import type { RequestContext } from '../pipeline/context.js';
import type { RouteSource } from '../router/types.js';
import { normaliseHost } from './cache-key.js';
import type { StoreAccess } from './store-access.js';

/** RFC 9110 §9.2.1. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function isSafeMethod(method: string): boolean {
  return SAFE.has(method);
}

/**
 * RFC 9111 §4.4: a non-error answer to an unsafe method invalidates the
 * target URI, and Location / Content-Location when they name the same host.
 * Done before the answer goes out, so the client's next read misses. Keys
 * follow the purge API's scheme rule (keysForUrl): http and https both go.
 */
export async function invalidateAfterUnsafe(
  ctx: RequestContext,
  store: StoreAccess,
  routes: RouteSource,
  metrics: Metrics,
): Promise<void> {
  const res = ctx.response;
  if (res === undefined || res.status < 200 || res.status >= 400) return;
  const base = `${ctx.scheme}://${ctx.host || 'localhost'}${ctx.target}`;
  const keys = new Set<string>();
  const add = (target: string | undefined) => {
    if (target === undefined) return;
    let path = target;
    if (!target.startsWith('/')) {
      let url: URL;
      try {
        url = new URL(target, base);
      } catch {
        return;
      }
      if (normaliseHost(url.host, url.protocol.slice(0, -1)) !== normaliseHost(ctx.host, ctx.scheme)) return;
      path = `${url.pathname}${url.search}`;
    }
    // The same normalisation and scheme rule as a purge of that URL: what a GET of that target stored.
    const url = { host: ctx.host, target: path, path: normaliseTarget(path).path };
    for (const key of keysForUrl(url, routes.current())) keys.add(key);
  };
  add(ctx.target);
  add(headerValue(res.headers, 'location'));
  add(headerValue(res.headers, 'content-location'));
  const started = performance.now();
  const entries = await store.invalidate({ kind: 'keys', keys: [...keys] }, 'hard');
  metrics.invalidations.labels('method', 'hard').inc();
  metrics.invalidatedEntries.labels('method').inc(entries);
  metrics.invalidationDuration.labels('method').observe((performance.now() - started) / 1000);
}
