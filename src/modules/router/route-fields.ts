import { parseOrigin } from '../../utils/config.js';
import { hasForbiddenTagChar, templatePlaceholders } from '../tags/index.js';
import { findUnsafeRegexShape } from './regex-safety.js';
import type { RateLimit, TtlOverride } from './types.js';

/**
 * Validators for one field of a route in routes.json. Each returns the
 * compiled value or throws a FieldError saying what the value is and what was
 * expected; parse-routes.ts adds the file and the route to the message.
 */
export class FieldError extends Error {
  override name = 'FieldError';
}

/** Route names are the `route` metric label: short and safe in any exposition format. */
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** RFC 9111 §1.2.2: delta-seconds past 2^31 are treated as 2^31. */
const MAX_SECONDS = 2 ** 31;

export function show(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function fail(message: string): never {
  throw new FieldError(message);
}

export function isRouteName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value);
}

export function readName(value: unknown): string {
  if (value === undefined)
    fail('name is required (a short label such as "product"; it is the route metric label)');
  if (!isRouteName(value)) {
    fail(`name ${show(value)} must be 1 to 64 of A-Z a-z 0-9 _ . : - (it is the route metric label)`);
  }
  return value;
}

export function readPattern(value: unknown): RegExp {
  if (value === undefined)
    fail('pattern is required (a JavaScript regular expression source such as "^/products/")');
  if (typeof value !== 'string' || value === '') fail(`pattern ${show(value)} must be a non-empty string`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(value);
  } catch (err) {
    // V8 says "Invalid regular expression: /(/: Unterminated group"; the reason is the last part.
    const reason = err instanceof Error ? (err.message.split(': ').pop() ?? err.message) : String(err);
    return fail(`pattern ${show(value)} is not a valid regular expression (${reason})`);
  }
  const unsafe = findUnsafeRegexShape(value);
  if (unsafe !== undefined) fail(`pattern ${show(value)} is unsafe: ${unsafe}`);
  return pattern;
}

export function readBoolean(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`${field} ${show(value)} must be true or false`);
  return value;
}

export function readSeconds(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_SECONDS) {
    fail(`${field} ${show(value)} must be a whole number of seconds from 0 to ${MAX_SECONDS}`);
  }
  return value;
}

/** Templates may only name groups the pattern has; the default route's pattern has none. */
export function readTags(value: unknown, pattern: RegExp | undefined): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value))
    fail(`tags ${show(value)} must be an array of tag templates such as ["product:{id}"]`);
  const groups = pattern === undefined ? [] : namedGroups(pattern);
  const tags: string[] = [];
  value.forEach((template: unknown, i) => {
    if (typeof template !== 'string' || template === '')
      fail(`tags[${i}] ${show(template)} must be a non-empty string`);
    for (const name of templatePlaceholders(template)) {
      if (!groups.includes(name)) {
        const known =
          pattern === undefined
            ? 'the default route has no pattern, so no named groups'
            : groups.length === 0
              ? 'the pattern has no named groups'
              : `the pattern's named groups are ${groups.join(', ')}`;
        fail(
          `tags[${i}] ${show(template)}: placeholder {${name}} is not a named group of the pattern (${known})`,
        );
      }
    }
    if (hasForbiddenTagChar(template.replace(/\{[^{}]*\}/g, ''))) {
      fail(
        `tags[${i}] ${show(template)} contains whitespace, a comma or a control character, which no tag may hold`,
      );
    }
    if (!tags.includes(template)) tags.push(template);
  });
  return tags;
}

export function readUpstreams(value: unknown): readonly URL[] | undefined {
  if (value === undefined) return undefined;
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0)
    fail('upstream [] must name at least one origin, or be left out to use UPSTREAM_URL');
  return list.map((origin) => {
    if (typeof origin !== 'string')
      fail(`upstream ${show(origin)} must be an origin string or an array of them`);
    return parseOrigin(origin, (expected) => fail(`upstream ${show(origin)}: expected ${expected}`));
  });
}

const RATE_LIMIT_FIELDS = ['requestsPerSecond', 'burst', 'exemptHits'];
const MAX_RATE = 1_000_000;

/** `{ "requestsPerSecond": 50, "burst": 100, "exemptHits": true }`; burst defaults to one second's worth. */
export function readRateLimit(value: unknown): RateLimit | undefined {
  if (value === undefined) return undefined;
  const example = 'such as {"requestsPerSecond": 50, "burst": 100}';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`rateLimit ${show(value)} must be an object ${example}`);
  }
  const raw = value as Record<string, unknown>;
  const extra = Object.keys(raw).find((key) => !RATE_LIMIT_FIELDS.includes(key));
  if (extra !== undefined) {
    fail(`rateLimit has unknown field ${show(extra)}; expected one of ${RATE_LIMIT_FIELDS.join(', ')}`);
  }
  const rps = raw.requestsPerSecond;
  if (typeof rps !== 'number' || !Number.isFinite(rps) || rps <= 0 || rps > MAX_RATE) {
    fail(`rateLimit.requestsPerSecond ${show(rps)} must be a number above 0 and at most ${MAX_RATE}`);
  }
  const burst = raw.burst ?? Math.max(1, Math.ceil(rps));
  if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1 || burst > MAX_RATE) {
    fail(`rateLimit.burst ${show(burst)} must be a whole number from 1 to ${MAX_RATE}`);
  }
  return Object.freeze({
    requestsPerSecond: rps,
    burst,
    exemptHits: readBoolean('rateLimit.exemptHits', raw.exemptHits, false),
  });
}

const TTL_OVERRIDES: readonly TtlOverride[] = ['private', 'no-store', 'no-cache'];

/** Which backend directives a forced ttl overrides; only with a ttl, since alone it would mean nothing. */
export function readTtlOverrides(value: unknown, ttl: unknown): readonly TtlOverride[] {
  if (value === undefined) return Object.freeze([]);
  const expected = `must be an array of ${TTL_OVERRIDES.map((d) => `"${d}"`).join(', ')}`;
  if (!Array.isArray(value)) fail(`ttlOverrides ${show(value)} ${expected}`);
  for (const item of value) {
    if (!TTL_OVERRIDES.includes(item as TtlOverride)) fail(`ttlOverrides ${show(value)} ${expected}`);
  }
  if (ttl === undefined)
    fail('ttlOverrides needs "ttl": it says which backend directives the forced ttl overrides');
  return Object.freeze([...new Set(value as TtlOverride[])]);
}

export function namedGroups(pattern: RegExp): string[] {
  // An empty alternative always matches, so exec reveals every group name, matched or not.
  const probe = new RegExp(`${pattern.source}|`);
  return Object.keys(probe.exec('')?.groups ?? {});
}
