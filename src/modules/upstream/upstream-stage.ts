import type { Config } from '../../utils/config.js';
import { TagcacheError } from '../../utils/errors.js';
import type { Stage } from '../pipeline/context.js';
import type { UpstreamClient } from './client.js';
import { appendVia, forwardRequestHeaders } from './forward-headers.js';

export interface UpstreamStageDeps {
  readonly client: UpstreamClient;
  readonly config: Pick<Config, 'upstreamUrl'>;
  readonly preserveHost?: boolean;
}

/**
 * The innermost stage: sends the request to ctx.origin (or UPSTREAM_URL) and
 * puts the streaming response on the context. Failures become typed errors the
 * outer stages may answer from cache (stale-if-error) before the handler turns
 * them into 502/504.
 */
export function upstreamStage({ client, config, preserveHost = false }: UpstreamStageDeps): Stage {
  return async function upstream(ctx) {
    const origin = ctx.origin ?? config.upstreamUrl;
    if (origin === undefined) {
      throw new TagcacheError(
        'TC_UPSTREAM_UNREACHABLE',
        `no backend for route ${ctx.route?.route.name ?? '?'}`,
        502,
      );
    }
    const headers = forwardRequestHeaders({
      headers: ctx.headers,
      clientIp: ctx.clientIp,
      scheme: ctx.scheme,
      requestId: ctx.id,
      preserveHost,
      hasBody: ctx.body !== null,
    });
    const extra = ctx.upstreamExtraHeaders;
    if (extra !== undefined) {
      // An undefined value removes the client's field (a revalidation drops the client's own conditionals).
      for (const name in extra) {
        const value = extra[name];
        if (value === undefined) delete headers[name];
        else headers[name] = value;
      }
    }
    const started = performance.now();
    ctx.upstreamAddress = origin.host;
    try {
      const res = await client.request({
        origin,
        method: ctx.method,
        path: ctx.target,
        headers,
        body: ctx.body,
        signal: ctx.signal,
      });
      const out = { ...res.headers };
      out.via = appendVia(res.headers.via);
      ctx.response = { status: res.status, headers: out, upstreamHeaders: res.headers, body: res.body };
    } finally {
      ctx.upstreamMs = performance.now() - started;
    }
  };
}
