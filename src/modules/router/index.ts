export { loadRouteTable } from './load-routes.js';
export { matchRoute } from './match-route.js';
export { parseRoutes } from './parse-routes.js';
export { findUnsafeRegexShape } from './regex-safety.js';
export { createRouteSource, type ReloadableRouteSource, type RouteSourceOptions } from './route-source.js';
export { createRouteTable } from './route-table.js';
export type { RateLimit, Route, RouteMatch, RouteSource, RouteTable } from './types.js';
