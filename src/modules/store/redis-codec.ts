import type { StoredEntry } from './types.js';

/**
 * Version of the entry layout. The hash's `v` field says it to instances of
 * older versions (version 1 read `v` first and takes anything else as a
 * miss); the blob's first bytes say it to this and later versions.
 */
export const ENTRY_FORMAT_VERSION = '2';

/** The hash field holding the whole entry as one binary value. */
export const BLOB_FIELD = 'd';

/**
 * Fields read by get(), in this order (HMGET): the entry blob, and the one
 * field scripts change in place (a soft purge marks the entry without
 * rewriting it). storedAt is also a field of its own, for the scripts, but the
 * blob's copy is read.
 */
export const ENTRY_FIELDS = [BLOB_FIELD, 'softPurgedAt'] as const;

/** "tc", 0x02, 0x00: version 2 of the blob. A blob starting otherwise is someone else's: a miss. */
const MAGIC = Buffer.from([0x74, 0x63, 0x02, 0x00]);
const HEAD = MAGIC.length + 4;

/**
 * The entry as HSET field/value pairs: `v`, the blob, the fields the scripts
 * read (storedAt, key, softPurgedAt), and membershipFields (one per tag and one
 * for the URL key, see RedisKeys), which let an invalidation check inside
 * Redis that the entry still carries what is being purged.
 */
export function encodeEntry(entry: StoredEntry, membershipFields: readonly string[]): (string | Buffer)[] {
  const pairs: (string | Buffer)[] = [
    'v',
    ENTRY_FORMAT_VERSION,
    BLOB_FIELD,
    encodeBlob(entry),
    'storedAt',
    String(entry.storedAt),
    // A host-scoped purge compares the key inside Redis (PURGE_ENTRIES).
    'key',
    entry.key,
    'softPurgedAt',
    String(entry.softPurgedAt),
  ];
  for (const field of membershipFields) pairs.push(field, '');
  return pairs;
}

/**
 * Reads the HMGET values of ENTRY_FIELDS. A missing, foreign-version or
 * corrupt entry is a miss, as is one whose id differs from the one asked for
 * (a hash collision must never serve another URL's response). `undefined`
 * takes whatever entry is there (look-ups that walk an index).
 */
export function decodeEntry(
  id: string | undefined,
  values: readonly (Buffer | null)[],
): StoredEntry | undefined {
  const blob = values[0];
  const softPurgedAt = values[1];
  if (blob == null || softPurgedAt == null) return undefined;
  const entry = decodeBlob(blob);
  if (!isEntry(entry) || (id !== undefined && entry.id !== id)) return undefined;
  const soft = softPurgedNumber(softPurgedAt);
  if (!Number.isFinite(soft)) return undefined;
  (entry as { softPurgedAt: number }).softPurgedAt = soft;
  return entry;
}

/** The field's number; most entries were never soft-purged, and "0" skips a string of its own. */
function softPurgedNumber(value: Buffer): number {
  return value.length === 1 && value[0] === 0x30 ? 0 : Number(value.toString());
}

/**
 * The whole entry in one value: MAGIC, the length of a JSON part, the JSON
 * part, then every Buffer the entry holds, back to back. The JSON part is
 * the entry with each Buffer replaced by null, and the paths of those
 * Buffers with their lengths, so any field (a nested one too, such as
 * alternative encodings of the body) round-trips without the codec knowing
 * of it; bodies are never JSON-escaped or copied on read.
 */
export function encodeBlob(entry: object): Buffer {
  const buffers: Buffer[] = [];
  const paths: [(string | number)[], number][] = [];
  const stripped = strip(entry, undefined, buffers, paths);
  // Written straight into the one Buffer sent: no Buffer of the JSON alone, then a concat copying it.
  const json = JSON.stringify({ e: stripped, b: paths });
  const jsonBytes = Buffer.byteLength(json);
  let size = HEAD + jsonBytes;
  for (const buffer of buffers) size += buffer.length;
  const blob = Buffer.allocUnsafe(size);
  MAGIC.copy(blob, 0);
  blob.writeUInt32BE(jsonBytes, MAGIC.length);
  let offset = HEAD + blob.write(json, HEAD, 'utf8');
  for (const buffer of buffers) offset += buffer.copy(blob, offset);
  return blob;
}

/** The object encodeBlob was given, or undefined for a blob that is not one (other version, corrupt). */
export function decodeBlob(blob: Buffer): Record<string, unknown> | undefined {
  if (blob.length < HEAD || !startsWithMagic(blob)) return undefined;
  const jsonEnd = HEAD + blob.readUInt32BE(MAGIC.length);
  if (jsonEnd > blob.length) return undefined;
  let parsed: { e?: unknown; b?: unknown };
  try {
    parsed = JSON.parse(blob.toString('utf8', HEAD, jsonEnd));
  } catch {
    return undefined;
  }
  const { e: entry, b: paths } = parsed;
  if (typeof entry !== 'object' || entry === null || !Array.isArray(paths)) return undefined;
  let offset = jsonEnd;
  for (const item of paths) {
    if (!Array.isArray(item) || !Array.isArray(item[0]) || typeof item[1] !== 'number') return undefined;
    const end = offset + item[1];
    if (end > blob.length || !put(entry, item[0], blob.subarray(offset, end))) return undefined;
    offset = end;
  }
  return offset === blob.length ? (entry as Record<string, unknown>) : undefined;
}

/** Byte by byte: Buffer.compare's native call cost more than the four comparisons. */
function startsWithMagic(blob: Buffer): boolean {
  return blob[0] === MAGIC[0] && blob[1] === MAGIC[1] && blob[2] === MAGIC[2] && blob[3] === MAGIC[3];
}

/** Where strip is, as a chain up to the root: a path array is made only for a Buffer found. */
interface Step {
  readonly up: Step | undefined;
  readonly name: string | number;
}

function pathTo(step: Step | undefined): (string | number)[] {
  const path: (string | number)[] = [];
  for (let at = step; at !== undefined; at = at.up) path.push(at.name);
  return path.reverse();
}

/** The value with each Buffer replaced by null, its path and length noted; strings, numbers and the like as they are. */
function strip(
  value: object,
  at: Step | undefined,
  buffers: Buffer[],
  paths: [(string | number)[], number][],
): unknown {
  if (Buffer.isBuffer(value)) {
    buffers.push(value);
    paths.push([pathTo(at), value.length]);
    return null;
  }
  if (Array.isArray(value)) {
    const items = value as unknown[];
    return items.map((item, i) =>
      typeof item === 'object' && item !== null ? strip(item, { up: at, name: i }, buffers, paths) : item,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value))
    out[name] =
      typeof item === 'object' && item !== null ? strip(item, { up: at, name }, buffers, paths) : item;
  return out;
}

/**
 * Sets the Buffer at path, where encodeBlob left a null; false when the path
 * does not lead to one through own properties (never into a prototype).
 */
function put(root: object, path: unknown[], value: Buffer): boolean {
  if (path.length === 0) return false;
  let holder = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length; i++) {
    const step = path[i];
    if ((typeof step !== 'string' && typeof step !== 'number') || !Object.hasOwn(holder, step)) return false;
    if (i === path.length - 1) break;
    const next = holder[step];
    if (typeof next !== 'object' || next === null) return false;
    holder = next as Record<string | number, unknown>;
  }
  const last = path[path.length - 1] as string | number;
  if (holder[last] !== null) return false;
  holder[last] = value;
  return true;
}

/** The fields of the contract have their types; fields added later pass as they were stored. */
function isEntry(value: Record<string, unknown> | undefined): value is Record<string, unknown> & StoredEntry {
  if (value === undefined) return false;
  const e = value as Partial<Record<keyof StoredEntry, unknown>>;
  return (
    typeof e.id === 'string' &&
    typeof e.key === 'string' &&
    typeof e.status === 'number' &&
    isHeaderRecord(e.headers) &&
    Buffer.isBuffer(e.body) &&
    typeof e.policy === 'string' &&
    isStringArray(e.tags) &&
    typeof e.url === 'string' &&
    typeof e.route === 'string' &&
    typeof e.storedAt === 'number'
  );
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isHeaderRecord(value: unknown): value is Record<string, string | string[]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const name in value) {
    const item = (value as Record<string, unknown>)[name];
    if (typeof item !== 'string' && !isStringArray(item)) return false;
  }
  return true;
}
