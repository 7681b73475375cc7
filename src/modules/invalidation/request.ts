import { TagcacheError } from '../../utils/errors.js';
import { splitSurrogateKey } from '../surrogate/surrogate-keys.js';
import { tagProblem } from '../tags/index.js';
import { parseHttpUrl } from './keys.js';
import type { InvalidationRequest } from './types.js';

export interface RequestLimits {
  /** Most tags or URLs one request may name. */
  readonly maxItems: number;
  /** Longest tag, in UTF-8 bytes (MAX_TAG_BYTES). */
  readonly maxTagBytes: number;
}

const FIELDS = ['tags', 'urls', 'prefixes', 'all', 'soft', 'host'];
const TARGETS = ['tags', 'urls', 'prefixes', 'all'] as const;
const EXAMPLE =
  '{"tags":["product:1"]}, {"urls":["https://example.com/products/1"]}, {"prefixes":["https://example.com/products/"]} or {"all":true}';
/** A host name or IP literal, optionally with a port: what a Host header may hold. */
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * Validates a parsed JSON purge body: exactly one of tags, urls, prefixes or
 * all, an optional host (with tags only) and an optional soft flag. Throws
 * TC_BAD_INVALIDATION (400) saying what is wrong.
 */
export function parseInvalidationJson(body: unknown, limits: RequestLimits): InvalidationRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    bad(`the body must be a JSON object such as ${EXAMPLE}; got ${describe(body)}`);
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !FIELDS.includes(key));
  if (unknown !== undefined)
    bad(
      `unknown field ${show(unknown)}; expected one of "tags", "urls", "prefixes" or "all", and optionally "soft" (and "host" with "tags")`,
    );
  const named = TARGETS.filter((key) => fields[key] !== undefined);
  if (named.length === 0) bad(`say what to invalidate: send ${EXAMPLE}`);
  if (named.length > 1)
    bad(
      `send only one of "tags", "urls", "prefixes" or "all"; got ${named.map((n) => `"${n}"`).join(' and ')}`,
    );
  const soft = fields.soft ?? false;
  if (typeof soft !== 'boolean') bad(`"soft" must be true or false; got ${describe(soft)}`);
  const kind = named[0];
  if (fields.host !== undefined && kind !== 'tags')
    bad(
      `"host" scopes a tag purge; a ${kind === 'all' ? '"all"' : `"${kind}"`} purge names its hosts in its URLs`,
    );
  if (kind === 'all') {
    if (fields.all !== true) bad(`"all" must be true; got ${describe(fields.all)}`);
    return { target: { kind: 'all' }, soft };
  }
  const field = kind ?? 'tags';
  const items = readList(field, fields[field], limits);
  if (field === 'tags') {
    for (const [i, tag] of items.entries()) checkTag(`tags[${i}]`, tag, limits);
    const tags = [...new Set(items)];
    if (fields.host === undefined) return { target: { kind: 'tags', tags }, soft };
    return { target: { kind: 'tags', tags, host: readHost('"host"', fields.host) }, soft };
  }
  items.forEach((url, i) => {
    try {
      parseHttpUrl(url);
    } catch (err) {
      bad(`${field}[${i}]: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  const unique = [...new Set(items)];
  return {
    target: field === 'urls' ? { kind: 'urls', urls: unique } : { kind: 'prefixes', prefixes: unique },
    soft,
  };
}

/** A host to scope a tag purge to: a name or IP literal with an optional port, as in a Host header. */
function readHost(where: string, value: unknown): string {
  if (typeof value !== 'string' || !HOST.test(value)) {
    bad(
      `${where} must be a host name such as "shop.example" (optionally with a port); got ${describe(value)}`,
    );
  }
  return value as string;
}

/**
 * The Fastly form: an empty body and `Surrogate-Key: a b`; `Fastly-Soft-Purge: 1` makes it soft;
 * `Surrogate-Key-Host: shop.example` (tagcache's own) limits it to one host.
 */
export function parseSurrogateKeyPurge(
  header: string | readonly string[],
  softHeader: string | readonly string[] | undefined,
  limits: RequestLimits,
  hostHeader?: string | readonly string[],
): InvalidationRequest {
  const tags = splitSurrogateKey(header);
  if (tags.length === 0)
    bad('the Surrogate-Key header names no tag; send space-separated tags such as "product:1 products"');
  if (tags.length > limits.maxItems) {
    bad(
      `the Surrogate-Key header names ${tags.length} tags; at most ${limits.maxItems} are accepted per request`,
    );
  }
  for (const [i, tag] of tags.entries()) checkTag(`Surrogate-Key tag ${i + 1}`, tag, limits);
  const soft = typeof softHeader === 'string' ? softHeader.trim() === '1' : false;
  if (hostHeader === undefined) return { target: { kind: 'tags', tags }, soft };
  const host = readHost(
    'the Surrogate-Key-Host header',
    typeof hostHeader === 'string' ? hostHeader.trim() : hostHeader,
  );
  return { target: { kind: 'tags', tags, host }, soft };
}

function readList(field: 'tags' | 'urls' | 'prefixes', value: unknown, limits: RequestLimits): string[] {
  if (!Array.isArray(value)) bad(`"${field}" must be an array of strings; got ${describe(value)}`);
  const list = value as unknown[];
  if (list.length === 0) bad(`"${field}" is empty; name at least one`);
  if (list.length > limits.maxItems) {
    bad(
      `"${field}" has ${list.length} items; at most ${limits.maxItems} are accepted per request (split it into several)`,
    );
  }
  list.forEach((item, i) => {
    if (typeof item !== 'string') bad(`${field}[${i}] must be a string; got ${describe(item)}`);
  });
  return list as string[];
}

function checkTag(where: string, tag: string, limits: RequestLimits): void {
  const problem = tagProblem(tag, limits.maxTagBytes);
  if (problem !== undefined) bad(`${where} ${show(tag)} ${problem}`);
}

function bad(message: string): never {
  throw new TagcacheError('TC_BAD_INVALIDATION', message, 400);
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array ${show(value)}`;
  if (typeof value === 'object') return `an object ${show(value)}`;
  return `${typeof value} ${show(value)}`;
}
