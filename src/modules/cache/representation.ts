import type { Config } from '../../utils/config.js';
import { type HeaderMap, headerList, headerValue } from '../../utils/headers.js';
import type { Route } from '../router/types.js';
import type { EntryForms } from '../store/types.js';
import {
  brotliBody,
  compressSmall,
  type DecodableCoding,
  decodeBody,
  gzipBody,
  mediaTypeMatcher,
  SYNC_COMPRESS_BYTES,
} from './compress.js';
import type { Coding } from './encoding.js';

export interface CompressionSettings {
  /** COMPRESSION. */
  readonly enabled: boolean;
  /** COMPRESSION_TYPES, compiled. */
  readonly compressible: (contentType: string | undefined) => boolean;
  /** COMPRESSION_MIN_BYTES. */
  readonly minBytes: number;
  /** MAX_OBJECT_BYTES: a decoded body may not grow past it. */
  readonly maxBytes: number;
}

export function compressionSettings(
  config: Pick<Config, 'compression' | 'compressionTypes' | 'compressionMinBytes' | 'maxObjectBytes'>,
): CompressionSettings {
  return {
    enabled: config.compression,
    compressible: mediaTypeMatcher(config.compressionTypes),
    minBytes: config.compressionMinBytes,
    maxBytes: config.maxObjectBytes,
  };
}

type Headers = Record<string, string | string[]>;

/** What an entry is stored as: its body, the headers that describe it, and its other forms. */
export interface Prepared {
  readonly headers: Headers;
  readonly body: Buffer;
  readonly forms: EntryForms | undefined;
}

const DECODABLE: Readonly<Record<string, DecodableCoding>> = {
  gzip: 'gzip',
  'x-gzip': 'gzip',
  br: 'br',
  deflate: 'deflate',
};

/**
 * Whether tagcache may change this response's content coding: not when
 * COMPRESSION is off or the route says `"compress": false`, and never when
 * the response says no-transform (RFC 9110 §7.7, RFC 9111 §5.2.2.6).
 */
export function mayTransform(headers: HeaderMap, route: Route, settings: CompressionSettings): boolean {
  if (!settings.enabled || !route.compress) return false;
  return !headerList(headers['cache-control']).some((d) => /^no-transform$/i.test(d));
}

/**
 * Whether the answer to this miss will be one of several codings once
 * stored, so that it, too, must say Vary: Accept-Encoding.
 */
export function willVaryByEncoding(headers: HeaderMap, route: Route, settings: CompressionSettings): boolean {
  if (!mayTransform(headers, route, settings)) return false;
  if (headers['content-encoding'] !== undefined) return true;
  const length = Number(headerValue(headers, 'content-length') ?? Number.NaN);
  return settings.compressible(headerValue(headers, 'content-type')) && !(length < settings.minBytes);
}

/**
 * The stored form of a response, made once when it is stored. A body the
 * backend encoded with a coding tagcache can undo is decoded (the backend's
 * bytes kept as that coding's form); a compressible identity body of at
 * least COMPRESSION_MIN_BYTES gets gzip and br forms. Every form is kept only
 * when smaller than the identity body. What may not be transformed, or
 * cannot be decoded, is stored as it came. Sync when there is nothing to do.
 */
export function prepareForStore(
  headers: Headers,
  body: Buffer,
  route: Route,
  settings: CompressionSettings,
): Prepared | Promise<Prepared> {
  const asItCame: Prepared = { headers, body, forms: undefined };
  if (!mayTransform(headers, route, settings)) return asItCame;
  const codings = headerList(headers['content-encoding'])
    .map((c) => c.toLowerCase())
    .filter((c) => c !== 'identity');
  const compressible = (identity: Buffer) =>
    settings.compressible(headerValue(headers, 'content-type')) && identity.length >= settings.minBytes;
  if (codings.length === 0) {
    if (!compressible(body)) return asItCame;
    if (body.length <= SYNC_COMPRESS_BYTES)
      return finish(headers, body, compressSmall(body), settings.maxBytes);
    return encode(body, {}).then((forms) => finish(headers, body, forms, settings.maxBytes));
  }
  const coding = codings.length === 1 ? DECODABLE[codings[0] ?? ''] : undefined;
  if (coding === undefined) return asItCame;
  return decodeBody(body, coding, settings.maxBytes).then(async (identity) => {
    if (identity === undefined) return asItCame;
    const own: { gzip?: Buffer; br?: Buffer } =
      coding === 'gzip' ? { gzip: body } : coding === 'br' ? { br: body } : {};
    const forms = compressible(identity) ? await encode(identity, own) : own;
    return finish(headers, identity, { ...forms, source: coding }, settings.maxBytes);
  });
}

async function encode(identity: Buffer, have: { gzip?: Buffer; br?: Buffer }) {
  const [gzip, br] = await Promise.all([have.gzip ?? gzipBody(identity), have.br ?? brotliBody(identity)]);
  return { gzip, br };
}

function finish(
  headers: Headers,
  identity: Buffer,
  forms: { gzip?: Buffer; br?: Buffer; source?: string },
  maxBytes: number,
): Prepared {
  const kept: { gzip?: Buffer; br?: Buffer; source?: string } = {};
  // A form no smaller than the plain body is not worth a byte of memory; and the entry with its
  // forms stays within MAX_OBJECT_BYTES (br, the smaller, is the one kept when only one fits).
  let room = maxBytes - identity.length;
  if (forms.br !== undefined && forms.br.length < identity.length && forms.br.length <= room) {
    kept.br = forms.br;
    room -= forms.br.length;
  }
  if (forms.gzip !== undefined && forms.gzip.length < identity.length && forms.gzip.length <= room)
    kept.gzip = forms.gzip;
  if (forms.source !== undefined) kept.source = forms.source;
  if (kept.gzip === undefined && kept.br === undefined && kept.source === undefined)
    return { headers, body: identity, forms: undefined };
  const out: Headers = { ...headers };
  delete out['content-encoding'];
  const vary = headerList(headers.vary);
  if (!vary.some((name) => name.toLowerCase() === 'accept-encoding'))
    out.vary = [...vary, 'Accept-Encoding'].join(', ');
  return { headers: out, body: identity, forms: kept };
}

/**
 * RFC 9110 §8.8.3: a strong entity tag names one representation, and each
 * content coding is another one. The form the backend sent keeps its tag;
 * the others get the coding appended inside the quotes. A weak tag may be
 * shared by equivalent forms, so it stays.
 */
export function formEtag(etag: string, coding: Coding, source: string | undefined): string {
  const tag = etag.trim();
  if (coding === (source ?? 'identity') || !/^"[^"]*"$/.test(tag)) return etag;
  return `${tag.slice(0, -1)}-${coding}"`;
}
