import { defaultTextMapSetter, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import type { HeaderMap } from '../../utils/headers.js';
import type { UpstreamClient } from '../upstream/client.js';
import { failed, methodName, type SpanKit } from './otel-kit.js';

/**
 * The backend client with a client span per request (each retry is one),
 * open until the response body is consumed or dropped. The backend gets this
 * span's context in traceparent (and the trace's tracestate) instead of the
 * client's, so its own spans join the trace under tagcache's.
 */
export function traceUpstream(client: UpstreamClient, kit: SpanKit): UpstreamClient {
  return {
    async request(req) {
      const headers: HeaderMap = { ...req.headers };
      delete headers.traceparent;
      delete headers.tracestate;
      if (!kit.sampled()) {
        // Unsampled, the backend still joins the trace (and its logs ours), under the request's span.
        kit.propagator.inject(kit.current(), headers, defaultTextMapSetter);
        return client.request({ ...req, headers });
      }
      const method = methodName(req.method);
      const q = req.path.indexOf('?');
      const span = kit.start(method, SpanKind.CLIENT, {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_SERVER_ADDRESS]: req.origin.hostname,
        [ATTR_SERVER_PORT]: Number(req.origin.port || (req.origin.protocol === 'https:' ? 443 : 80)),
        // The query may carry a client's secrets; the path is in the access log already.
        [ATTR_URL_FULL]: req.origin.origin + (q === -1 ? req.path : req.path.slice(0, q)),
      });
      kit.propagator.inject(kit.contextWith(span), headers, defaultTextMapSetter);
      let res: Awaited<ReturnType<UpstreamClient['request']>>;
      try {
        res = await client.request({ ...req, headers });
      } catch (err) {
        failed(span, err);
        span.end();
        throw err;
      }
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.status);
      // Client spans: a 4xx is an error too (HTTP semantic conventions).
      if (res.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
      const body = res.body;
      if (body.closed || body.destroyed) span.end();
      else {
        body.once('error', (err) => failed(span, err));
        body.once('close', () => span.end());
      }
      return res;
    },
    close: () => client.close(),
  };
}
