export { loadRouteTable } from './load-routes.js';
export { parseRoutes } from './parse-routes.js';
export { findUnsafeRegexShape } from './regex-safety.js';
export { createRouteSource, type ReloadableRouteSource, type RouteSourceOptions } from './route-source.js';
export { createRouteTable } from './route-table.js';
export { matchRoute, type RouteSource, routerStage } from './router-stage.js';
export type { RateLimit, Route, RouteMatch, RouteTable } from './types.js';
