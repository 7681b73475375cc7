import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { sendJsonError } from '../utils/json-response.js';
import type { AdminRoute } from './admin.js';

const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/console.js': ['console.js', 'text/javascript; charset=utf-8'],
  '/console.css': ['console.css', 'text/css; charset=utf-8'],
} as const;

/**
 * The browser console's answers are locked down: only this origin's own files
 * and API (no CDN, no inline script or style), never framed, never cached
 * past a restart of tagcache, never sniffed as another type.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/**
 * Where the console's files are: `console/` at the package root, two levels
 * up from src/handlers when run from source, three from dist/src/handlers.
 */
function consoleDir(): string | undefined {
  for (const up of ['../..', '../../..']) {
    const dir = resolve(import.meta.dirname, up, 'console');
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

/** GET /, /console.js and /console.css: the single-page console, read once at start. */
export function createConsoleRoutes(): Record<string, AdminRoute> {
  const dir = consoleDir();
  const routes: Record<string, AdminRoute> = {};
  for (const [path, [file, type]] of Object.entries(FILES)) {
    const body = dir === undefined ? undefined : readFileSync(join(dir, file));
    routes[path] = (req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return sendJsonError(
          res,
          405,
          'TC_METHOD_NOT_ALLOWED',
          `${req.method} is not allowed here; use GET`,
          {
            allow: 'GET, HEAD',
          },
        );
      }
      if (body === undefined) {
        return sendJsonError(
          res,
          404,
          'TC_NOT_FOUND',
          'the console files are not installed (console/ is missing)',
        );
      }
      res.writeHead(200, {
        'content-type': type,
        'content-length': String(body.length),
        ...SECURITY_HEADERS,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
  }
  // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
  routes['/favicon.ico'] = (_req, res) => {
    res.writeHead(204, SECURITY_HEADERS);
    res.end();
  };
  return routes;
}
