import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../utils/errors.js';
import { sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';
import { allowGet } from './health.js';

export interface Exposition {
  readonly contentType: string;
  readonly body: string;
}

/** GET /metrics: the Prometheus text format of this process, or of every worker when clustered. */
export function createMetricsHandler(collect: () => Promise<Exposition>, log: Logger) {
  return async function metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowGet(req, res)) return;
    try {
      const { contentType, body } = await collect();
      const payload = Buffer.from(body);
      res.writeHead(200, {
        'content-type': contentType,
        'content-length': String(payload.length),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : payload);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'metrics collection failed');
      sendJsonError(res, 500, 'TC_INTERNAL', `collecting metrics failed: ${errorMessage(err)}`);
    }
  };
}
