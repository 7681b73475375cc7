import type { EntryForms, StoredEntry } from './types.js';

/** Version of the entry hash layout; an entry of any other version reads as a miss. */
export const ENTRY_FORMAT_VERSION = '1';

/** Fields read by get(), in this order (HMGET): one round trip, never the membership fields. */
export const ENTRY_FIELDS = [
  'v',
  'id',
  'key',
  'status',
  'headers',
  'body',
  'policy',
  'tags',
  'url',
  'route',
  'storedAt',
  'softPurgedAt',
  // Optional, added after format 1 shipped: an entry without them reads as one without encoded forms.
  'form.gzip',
  'form.br',
  'form.source',
] as const;

/**
 * The entry as HSET field/value pairs. membershipFields (one per tag and one
 * for the URL key, see RedisKeys) let an invalidation check, inside Redis,
 * that the entry still carries what is being purged.
 */
export function encodeEntry(entry: StoredEntry, membershipFields: readonly string[]): (string | Buffer)[] {
  const pairs: (string | Buffer)[] = [
    'v',
    ENTRY_FORMAT_VERSION,
    'id',
    entry.id,
    'key',
    entry.key,
    'status',
    String(entry.status),
    'headers',
    JSON.stringify(entry.headers),
    'body',
    entry.body,
    'policy',
    entry.policy,
    'tags',
    JSON.stringify(entry.tags),
    'url',
    entry.url,
    'route',
    entry.route,
    'storedAt',
    String(entry.storedAt),
    'softPurgedAt',
    String(entry.softPurgedAt),
  ];
  const forms = entry.forms;
  if (forms?.gzip !== undefined) pairs.push('form.gzip', forms.gzip);
  if (forms?.br !== undefined) pairs.push('form.br', forms.br);
  if (forms?.source !== undefined) pairs.push('form.source', forms.source);
  for (const field of membershipFields) pairs.push(field, '');
  return pairs;
}

/**
 * Reads HMGET values of ENTRY_FIELDS. A missing, foreign-version or corrupt
 * hash is a miss, as is one whose id differs from the one asked for (a hash
 * collision must never serve another URL's response).
 */
export function decodeEntry(id: string, values: readonly (Buffer | null)[]): StoredEntry | undefined {
  const [v, storedId, key, status, headers, body, policy, tags, url, route, storedAt, softPurgedAt, ...rest] =
    values;
  if (v?.toString() !== ENTRY_FORMAT_VERSION || storedId?.toString() !== id) return undefined;
  if (key == null || status == null || headers == null || body == null || policy == null || tags == null) {
    return undefined;
  }
  if (url == null || route == null || storedAt == null || softPurgedAt == null) return undefined;
  const parsedHeaders = parseJson(headers);
  const parsedTags = parseJson(tags);
  if (!isHeaderRecord(parsedHeaders) || !isStringArray(parsedTags)) return undefined;
  const forms = decodeForms(rest);
  return {
    id,
    key: key.toString(),
    status: Number(status.toString()),
    headers: parsedHeaders,
    body,
    policy: policy.toString(),
    tags: parsedTags,
    url: url.toString(),
    route: route.toString(),
    storedAt: Number(storedAt.toString()),
    softPurgedAt: Number(softPurgedAt.toString()),
    ...(forms === undefined ? {} : { forms }),
  };
}

function decodeForms([gzip, br, source]: readonly (Buffer | null | undefined)[]): EntryForms | undefined {
  if (gzip == null && br == null && source == null) return undefined;
  return {
    ...(gzip == null ? {} : { gzip }),
    ...(br == null ? {} : { br }),
    ...(source == null ? {} : { source: source.toString() }),
  };
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString());
  } catch {
    return undefined; // corrupt: the caller reads it as a miss
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isHeaderRecord(value: unknown): value is Record<string, string | string[]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value).every((item) => typeof item === 'string' || isStringArray(item));
}
