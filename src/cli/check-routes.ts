import { readFileSync } from 'node:fs';
import { loadRouteTable, parseRoutes, type RouteTable } from '../modules/router/index.js';
import { readString } from '../utils/env.js';
import { isTagcacheError } from '../utils/errors.js';
import { parseCommandArgs } from './args.js';
import { type CliIo, EXIT_FAILED, EXIT_OK, plural, usageError } from './io.js';
import { CHECK_ROUTES_USAGE } from './usage.js';

export type RouteCheck =
  | { readonly ok: true; readonly table: RouteTable }
  | { readonly ok: false; readonly problems: readonly string[] };

/** `tagcache check-routes [file]`: "ok: N routes", or every problem found and exit 1. */
export function checkRoutesCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): number {
  const { values, positionals } = parseCommandArgs(
    args,
    { help: { type: 'boolean', short: 'h' } },
    CHECK_ROUTES_USAGE,
    true,
  );
  if (values.help === true) {
    io.out(CHECK_ROUTES_USAGE);
    return EXIT_OK;
  }
  if (positionals.length > 1) {
    throw usageError(`check one route table at a time; got ${positionals.length} files`, CHECK_ROUTES_USAGE);
  }
  // The same default as the proxy: ROUTES_FILE, else ./routes.json.
  const file = positionals[0] ?? readString(env, 'ROUTES_FILE', './routes.json');
  const result = checkRoutes(file);
  if (result.ok) {
    const { routes, fallback } = result.table;
    io.out(
      `ok: ${plural(routes.length, 'route', 'routes')} and the default route "${fallback.name}" (${file})`,
    );
    return EXIT_OK;
  }
  for (const problem of result.problems) io.err(`tagcache: ${problem}`);
  io.err(
    `tagcache: ${file}: ${plural(result.problems.length, 'problem', 'problems')}; the proxy would refuse this table`,
  );
  return EXIT_FAILED;
}

/**
 * Validates a route table with the proxy's own loader. That loader stops at
 * the first problem, which is right at start-up; an operator fixing a file
 * wants them all, so each route is then also checked on its own.
 */
export function checkRoutes(file: string): RouteCheck {
  try {
    return { ok: true, table: loadRouteTable(file) };
  } catch (err) {
    if (!isTagcacheError(err, 'TC_ROUTES_INVALID')) throw err;
    const problems = eachProblem(file);
    // Problems between routes (a name used twice) only show when the table is loaded whole.
    if (!problems.includes(err.message)) problems.push(err.message);
    return { ok: false, problems };
  }
}

/** The problems of each route, the default route and the top level, checked one by one. */
function eachProblem(file: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // Unreadable or not JSON: the loader's one message already says so.
    return [];
  }
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { routes?: unknown }).routes))
    return [];
  const { routes, default: fallback, ...top } = json as { routes: unknown[]; default?: unknown };
  const problems: string[] = [];
  const check = (table: unknown, relabel?: (message: string) => string) => {
    try {
      parseRoutes(table, file);
    } catch (err) {
      if (!isTagcacheError(err, 'TC_ROUTES_INVALID')) throw err;
      problems.push(relabel ? relabel(err.message) : err.message);
    }
  };
  check({ ...top, routes: [] });
  // Each route that fails alone is replaced by a valid stand-in keeping its name and place,
  // so that the whole-table check below still sees names used twice, with their real positions.
  const standIns = routes.map((route, i) => {
    const before = problems.length;
    // Alone, the route is routes[0]; a route without a usable name is named by its real position.
    const alone = `${file}: routes[0]: `;
    check({ routes: [route] }, (m) =>
      m.startsWith(alone) ? `${file}: routes[${i}]: ${m.slice(alone.length)}` : m,
    );
    return problems.length === before ? route : { name: standInName(route, i), pattern: '^$' };
  });
  let defaultStandIn = fallback;
  if (fallback !== undefined) {
    const before = problems.length;
    check({ routes: [], default: fallback });
    if (problems.length > before) defaultStandIn = { name: standInName(fallback, -1) };
  }
  check({ routes: standIns, default: defaultStandIn });
  return problems;
}

/** The route's own name when the proxy accepts it as a name, else one no route can have. */
function standInName(route: unknown, i: number): string {
  const name = (route as { name?: unknown } | null)?.name;
  const unique = `__unnamed_${i < 0 ? 'default' : i}`;
  if (typeof name !== 'string') return unique;
  try {
    parseRoutes({ routes: [], default: { name } }, 'stand-in');
    return name;
  } catch {
    // Not a usable name: that problem is already listed; the stand-in needs a valid one.
    return unique;
  }
}
