import type { HeaderMap } from '../../utils/headers.js';
import type { ProxyResponse, RequestContext } from '../pipeline/context.js';
import { computePolicy } from './compute-policy.js';
import { buildEntry, mergeNotModified, storedHeaders } from './entry.js';
import type { Found } from './lookup.js';
import type { KeepWindows } from './policy.js';

/**
 * A 304 to a revalidation (RFC 9111 §4.3.4): the stored response with the
 * 304's fields merged in and its policy computed afresh, as the backend now
 * sees it (its Surrogate-Control included). Undefined when the 304 made it unstorable.
 */
export function afterNotModified(
  ctx: RequestContext,
  found: Found,
  res: ProxyResponse,
  times: { requestTime: number; responseTime: number },
  keep: KeepWindows,
): { found: Found; ttlMs: number } | undefined {
  const route = ctx.route?.route;
  if (route === undefined) return undefined;
  const clientView = mergeNotModified(found.entry.headers, res.headers);
  const upstreamView: HeaderMap = { ...clientView };
  if (found.policy.sc !== undefined) upstreamView['surrogate-control'] = found.policy.sc;
  for (const name in res.upstreamHeaders) {
    if (name !== 'content-length' && name !== 'content-encoding' && name !== 'content-type') {
      upstreamView[name] = res.upstreamHeaders[name];
    }
  }
  const result = computePolicy(
    {
      method: 'GET',
      requestHeaders: ctx.headers,
      status: found.entry.status,
      headers: upstreamView,
      ...times,
      route,
    },
    keep,
  );
  if (!result.storable) return undefined;
  const tags = [...new Set([...found.entry.tags, ...ctx.tags])];
  const entry = buildEntry({
    id: found.entry.id,
    key: found.entry.key,
    status: found.entry.status,
    headers: storedHeaders(clientView, found.entry.body.length),
    body: found.entry.body,
    forms: found.entry.forms,
    policy: result.policy,
    tags,
    url: found.entry.url,
    route: found.entry.route,
    // The request time: a purge after it must refuse this write (store tombstones).
    storedAt: times.requestTime,
  });
  return { found: { entry, policy: result.policy }, ttlMs: result.ttlMs };
}
