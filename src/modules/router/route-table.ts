import type { Route, RouteMatch, RouteTable } from './types.js';

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A table of compiled routes: first match wins, the fallback takes the rest.
 * Paths longer than maxPathLength match only the fallback, which bounds the
 * work any one pattern can do on a hostile path.
 */
export function createRouteTable(
  routes: readonly Route[],
  fallback: Route,
  maxPathLength = 2048,
): RouteTable {
  const fallbackMatch: RouteMatch = Object.freeze({ route: fallback, params: NO_PARAMS });
  return {
    routes,
    fallback,
    match(path) {
      if (path.length > maxPathLength) return fallbackMatch;
      for (const route of routes) {
        const m = route.pattern.exec(path);
        if (m !== null) return { route, params: m.groups !== undefined ? { ...m.groups } : NO_PARAMS };
      }
      return fallbackMatch;
    },
  };
}
