import { TagcacheError } from '../../utils/errors.js';
import { readQueryRule } from './query-rule.js';
import {
  FieldError,
  isRouteName,
  readBoolean,
  readName,
  readPattern,
  readRateLimit,
  readSeconds,
  readTags,
  readTtlOverrides,
  readUpstreams,
  show,
} from './route-fields.js';
import { createRouteTable } from './route-table.js';
import type { Route, RouteTable } from './types.js';

const ROUTE_FIELDS = [
  'name',
  'pattern',
  'cache',
  'defaultTtl',
  'ttl',
  'ttlOverrides',
  'staleWhileRevalidate',
  'staleIfError',
  'tags',
  'upstream',
  'cacheKeyQuery',
  'cacheSetCookie',
  'rateLimit',
  'compress',
] as const;
const DEFAULT_FIELDS = ROUTE_FIELDS.filter((f) => f !== 'pattern');
const TOP_FIELDS = ['routes', 'default'] as const;

/** The default route matches what no other route does; this pattern is never run. */
const MATCH_ALL = /(?:)/;

type Json = Record<string, unknown>;

/**
 * Validates and compiles the parsed contents of routes.json. Any problem
 * throws TC_ROUTES_INVALID whose message names the file (`source`), the route
 * (by name, or by position when the name itself is the problem) and the field.
 */
export function parseRoutes(json: unknown, source: string): RouteTable {
  const invalid = (where: string, message: string): never => {
    throw new TagcacheError('TC_ROUTES_INVALID', `${source}: ${where}${message}`);
  };
  if (!isObject(json)) {
    return invalid(
      '',
      `expected a JSON object with "routes" (an array) and optionally "default", got ${kindOf(json)}`,
    );
  }
  const unknownTop = unknownField(json, TOP_FIELDS);
  if (unknownTop !== undefined) invalid('', unknownTop);
  if (!Array.isArray(json.routes)) {
    invalid(
      '',
      `"routes" must be an array of routes, got ${json.routes === undefined ? 'nothing' : kindOf(json.routes)}`,
    );
  }
  const list = json.routes as unknown[];
  const seen = new Map<string, string>();
  const compile = (raw: unknown, position: string, isDefault: boolean): Route => {
    const label = labelOf(raw, position, isDefault);
    try {
      const route = compileRoute(raw, isDefault);
      const earlier = seen.get(route.name);
      if (earlier !== undefined) {
        throw new FieldError(
          `name is used twice (${earlier} and ${position}); names must be unique because they are the route metric label`,
        );
      }
      seen.set(route.name, position);
      return route;
    } catch (err) {
      if (err instanceof FieldError) return invalid(`${label}: `, err.message);
      throw err;
    }
  };
  const routes = list.map((raw, i) => compile(raw, `routes[${i}]`, false));
  const fallback = compile(json.default ?? {}, 'default', true);
  return createRouteTable(Object.freeze(routes), fallback);
}

function compileRoute(raw: unknown, isDefault: boolean): Route {
  if (!isObject(raw))
    throw new FieldError(`expected an object with at least "name" and "pattern", got ${kindOf(raw)}`);
  const unknown = unknownField(raw, isDefault ? DEFAULT_FIELDS : ROUTE_FIELDS);
  if (unknown !== undefined) throw new FieldError(unknown);
  const name = isDefault && raw.name === undefined ? 'default' : readName(raw.name);
  const pattern = isDefault ? undefined : readPattern(raw.pattern);
  return Object.freeze({
    name,
    pattern: pattern ?? MATCH_ALL,
    cache: readBoolean('cache', raw.cache, true),
    defaultTtlSeconds: readSeconds('defaultTtl', raw.defaultTtl),
    ttlSeconds: readSeconds('ttl', raw.ttl),
    ttlOverrides: readTtlOverrides(raw.ttlOverrides, raw.ttl),
    staleWhileRevalidateSeconds: readSeconds('staleWhileRevalidate', raw.staleWhileRevalidate),
    staleIfErrorSeconds: readSeconds('staleIfError', raw.staleIfError),
    tags: Object.freeze(readTags(raw.tags, pattern)),
    upstreams: freezeList(readUpstreams(raw.upstream)),
    cacheKeyQuery: readQueryRule(raw.cacheKeyQuery),
    cacheSetCookie: readBoolean('cacheSetCookie', raw.cacheSetCookie, false),
    rateLimit: readRateLimit(raw.rateLimit),
    compress: readBoolean('compress', raw.compress, true),
  });
}

/** How messages name a route: by its name when it has a usable one, else by its place in the file. */
function labelOf(raw: unknown, position: string, isDefault: boolean): string {
  const name = isObject(raw) ? raw.name : undefined;
  if (isDefault) return isRouteName(name) ? `default route "${name}"` : 'default route';
  return isRouteName(name) ? `route "${name}"` : position;
}

function unknownField(raw: Json, allowed: readonly string[]): string | undefined {
  const extra = Object.keys(raw).find((key) => !allowed.includes(key));
  if (extra === undefined) return undefined;
  return `unknown field ${show(extra)}; expected one of ${allowed.join(', ')}`;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${show(value)}`;
}

function freezeList<T>(list: readonly T[] | undefined): readonly T[] | undefined {
  return list === undefined ? undefined : Object.freeze([...list]);
}
