import { fail, readBoolean, show } from './route-fields.js';
import type { QueryRule, QueryRuleObject } from './types.js';

/**
 * routes.json `cacheKeyQuery`: which query parameters make the cache key
 * (and, since nothing outside the key reaches the backend on a cacheable
 * request, which ones the backend sees). Throws FieldError like every field.
 */
const QUERY_RULE_FIELDS = ['keep', 'ignore', 'sort'];
/** A parameter name or glob: printable ASCII without '&', '=' or '#', which no name can hold. */
const QUERY_NAME = /^[!-~]+$/;

/**
 * `"all"`, `"none"`, a list of names kept, or
 * `{ "keep": [...] | "all" | "none", "ignore": ["utm_*", ...], "sort": true }`.
 */
export function readQueryRule(value: unknown): QueryRule {
  if (value === undefined) return 'all';
  if (value === 'all' || value === 'none') return value;
  const expected =
    'must be "all", "none", an array of query parameter names such as ["page", "sort"], or an object such as {"sort": true, "ignore": ["utm_*"]}';
  if (typeof value === 'object' && value !== null && !Array.isArray(value))
    return readQueryObject(value as Record<string, unknown>);
  if (!Array.isArray(value)) fail(`cacheKeyQuery ${show(value)} ${expected}`);
  return readNames('cacheKeyQuery', value, expected);
}

function readNames(field: string, value: unknown[], expected: string): readonly string[] {
  if (value.length === 0) fail(`${field} [] keeps no parameter; write "none" to say so`);
  for (const name of value) {
    if (typeof name !== 'string' || name === '') fail(`${field} ${show(value)} ${expected}`);
  }
  return Object.freeze([...new Set(value as string[])]);
}

function readQueryObject(raw: Record<string, unknown>): QueryRuleObject {
  const extra = Object.keys(raw).find((key) => !QUERY_RULE_FIELDS.includes(key));
  if (extra !== undefined) {
    fail(`cacheKeyQuery has unknown field ${show(extra)}; expected one of ${QUERY_RULE_FIELDS.join(', ')}`);
  }
  let keep: QueryRuleObject['keep'] = 'all';
  if (raw.keep === 'all' || raw.keep === 'none') keep = raw.keep;
  else if (Array.isArray(raw.keep)) {
    keep = readNames(
      'cacheKeyQuery.keep',
      raw.keep,
      'must be an array of query parameter names such as ["page"]',
    );
  } else if (raw.keep !== undefined) {
    fail(`cacheKeyQuery.keep ${show(raw.keep)} must be "all", "none" or an array of query parameter names`);
  }
  const ignore: string[] = [];
  if (raw.ignore !== undefined) {
    const example = 'such as ["utm_*", "fbclid", "gclid"] (* matches any characters)';
    if (!Array.isArray(raw.ignore))
      fail(`cacheKeyQuery.ignore ${show(raw.ignore)} must be an array of names ${example}`);
    (raw.ignore as unknown[]).forEach((glob, i) => {
      if (typeof glob !== 'string' || !QUERY_NAME.test(glob) || /[&=#]/.test(glob) || /^\**$/.test(glob)) {
        fail(
          `cacheKeyQuery.ignore[${i}] ${show(glob)} must be a parameter name or glob ${example}, not empty, "*" alone, or holding spaces, &, = or #`,
        );
      }
      if (!ignore.includes(glob)) ignore.push(glob);
    });
  }
  const sort = readBoolean('cacheKeyQuery.sort', raw.sort, false);
  return Object.freeze({ keep, ignore: Object.freeze(ignore), sort, ignores: compileIgnore(ignore) });
}

/** `ignore` as one predicate; undefined when there are none. */
function compileIgnore(globs: readonly string[]): ((name: string) => boolean) | undefined {
  if (globs.length === 0) return undefined;
  return (name) => globs.some((glob) => globMatch(glob, name));
}

/**
 * Whole-name match, `*` for any run of characters. The classic greedy walk
 * with one backtrack point: at worst name × glob steps, where a regular
 * expression of several `.*` could backtrack polynomially on a hostile name.
 */
export function globMatch(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    if (g < glob.length && glob[g] === '*') {
      star = g++;
      mark = n;
    } else if (g < glob.length && glob[g] === name[n]) {
      g++;
      n++;
    } else if (star !== -1) {
      g = star + 1;
      n = ++mark;
    } else return false;
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}
