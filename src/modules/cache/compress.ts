import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { boundedMemo } from '../../utils/bounded-memo.js';

/**
 * Levels chosen by measurement (bench/README.md, "Compression levels"): near
 * the best ratio at a fraction of the time; the highest brotli quality would let
 * a client asking for many distinct URLs turn compression into a CPU drain.
 */
export const GZIP_LEVEL = 6;
export const BROTLI_QUALITY = 5;

// The async API runs in libuv's thread pool: a 100 KiB body never holds the event loop.
const gzip = promisify(zlib.gzip);
const brotli = promisify(zlib.brotliCompress);
const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const unbrotli = promisify(zlib.brotliDecompress);

/**
 * Bodies up to this size are compressed on the event loop: a trip through
 * the thread pool costs more CPU than making a small body's form does, so
 * the pool only pays for larger bodies (figures in bench/README.md).
 */
export const SYNC_COMPRESS_BYTES = 4 * 1024;

const brotliOptions = (body: Buffer) => ({
  params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length,
  },
});

export async function gzipBody(body: Buffer): Promise<Buffer> {
  return own(await gzip(body, { level: GZIP_LEVEL }));
}

export async function brotliBody(body: Buffer): Promise<Buffer> {
  return own(await brotli(body, brotliOptions(body)));
}

/** One form of a small body (at most SYNC_COMPRESS_BYTES), made on the event loop. */
export function compressSync(body: Buffer, coding: 'gzip' | 'br'): Buffer {
  return own(
    coding === 'br'
      ? zlib.brotliCompressSync(body, brotliOptions(body))
      : zlib.gzipSync(body, { level: GZIP_LEVEL }),
  );
}

/**
 * zlib's results are Buffer.concat'ed, and small ones come out of Node's
 * shared 8 KiB pool: kept in the cache, one would pin a whole slab (see
 * body-collector.ts). Such a result gets a buffer of its own.
 */
function own(buf: Buffer): Buffer {
  if (buf.byteLength === buf.buffer.byteLength) return buf;
  const out = Buffer.allocUnsafeSlow(buf.byteLength);
  buf.copy(out);
  return out;
}

/** The codings tagcache can undo. */
export type DecodableCoding = 'gzip' | 'br' | 'deflate';

/**
 * Undoes one content coding, producing at most maxBytes (a small gzip bomb
 * must not fill the memory); undefined when the body is corrupt or too big.
 */
export async function decodeBody(
  body: Buffer,
  coding: DecodableCoding,
  maxBytes: number,
): Promise<Buffer | undefined> {
  const opts = { maxOutputLength: maxBytes };
  try {
    if (coding === 'gzip') return own(await gunzip(body, opts));
    if (coding === 'br') return own(await unbrotli(body, opts));
    try {
      return own(await inflate(body, opts));
    } catch {
      // "deflate" is meant to be zlib-wrapped (RFC 9110 §8.4.1.2); some servers send it raw.
      return own(await inflateRaw(body, opts));
    }
  } catch {
    return undefined;
  }
}

/**
 * Which media types are worth compressing: COMPRESSION_TYPES patterns, each
 * `type/subtype` with `*` standing for any run of characters within a part
 * (`text/*`, `application/*+json`). Parameters (charset) are ignored.
 */
export function mediaTypeMatcher(patterns: readonly string[]): (contentType: string | undefined) => boolean {
  const re = new RegExp(
    `^(?:${patterns.map((p) => p.split('*').map(escapeRegex).join('[^/]*')).join('|')})$`,
  );
  // A stored miss asks this up to three times of a value that repeats across responses: once per value.
  const matches = boundedMemo(1000, (contentType) => {
    const semi = contentType.indexOf(';');
    const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    return re.test(type);
  });
  return (contentType) => contentType !== undefined && matches(contentType);
}

function escapeRegex(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
