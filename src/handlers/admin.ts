import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../utils/errors.js';
import { sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';

export type AdminRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The admin listener's entrypoint: an exact-path table (health, metrics,
 * invalidate). Anything else is a 404 in JSON; a handler that throws is a 500
 * in JSON and a log line, never a crash.
 */
export function createAdminHandler(routes: Readonly<Record<string, AdminRoute>>, log: Logger) {
  return function admin(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (route === undefined) {
      sendJsonError(
        res,
        404,
        'TC_NOT_FOUND',
        `no admin endpoint at ${path.slice(0, 200)}; try / (the console), /health/live, /health/ready, /metrics, /invalidate, /invalidations or /entries`,
      );
      return;
    }
    Promise.resolve()
      .then(() => route(req, res))
      .catch((err: unknown) => {
        log.error({ err: errorMessage(err), path }, 'admin handler failed');
        if (!res.headersSent) sendJsonError(res, 500, 'TC_INTERNAL', errorMessage(err));
        else res.destroy();
      });
  };
}
