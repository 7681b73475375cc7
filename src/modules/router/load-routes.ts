import { readFileSync } from 'node:fs';
import { errorMessage, TagcacheError } from '../../utils/errors.js';
import { parseRoutes } from './parse-routes.js';
import type { RouteTable } from './types.js';

/** Reads, parses and compiles the route file; any problem is one TC_ROUTES_INVALID naming the file. */
export function loadRouteTable(file: string): RouteTable {
  return parseRouteText(readRouteText(file), file);
}

export function readRouteText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file; set ROUTES_FILE to the route table (a JSON file)'
        : errorMessage(err);
    throw new TagcacheError('TC_ROUTES_INVALID', `${file}: cannot read the route table: ${why}`, 500, {
      cause: err,
    });
  }
}

export function parseRouteText(text: string, file: string): RouteTable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TagcacheError('TC_ROUTES_INVALID', `${file}: not valid JSON: ${errorMessage(err)}`, 500, {
      cause: err,
    });
  }
  return parseRoutes(json, file);
}
