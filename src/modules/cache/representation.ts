import type { Config } from '../../utils/config.js';
import { type HeaderMap, headerList, headerValue } from '../../utils/headers.js';
import type { Route } from '../router/types.js';
import type { EntryForms } from '../store/types.js';
import { type DecodableCoding, decodeBody, mediaTypeMatcher } from './compress.js';
import type { Coding } from './encoding.js';
import { type FormSettings, fill, keepIfWorth, LAZY } from './forms.js';

export interface CompressionSettings extends FormSettings {
  /** COMPRESSION. */
  readonly enabled: boolean;
  /** COMPRESSION_TYPES, compiled. */
  readonly compressible: (contentType: string | undefined) => boolean;
  /** COMPRESSION_MIN_BYTES. */
  readonly minBytes: number;
}

export function compressionSettings(
  config: Pick<Config, 'compression' | 'compressionTypes' | 'compressionMinBytes' | 'maxObjectBytes'>,
  onForm?: (coding: 'gzip' | 'br') => void,
): CompressionSettings {
  return {
    enabled: config.compression,
    compressible: mediaTypeMatcher(config.compressionTypes),
    minBytes: config.compressionMinBytes,
    maxBytes: config.maxObjectBytes,
    ...(onForm === undefined ? {} : { onForm }),
  };
}

type Headers = Record<string, string | string[]>;

/**
 * What an entry is stored as: its body, the headers that describe it, and its other forms.
 * The headers are those given to prepareForStore when they need no change, else a copy.
 */
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
  const cc = headers['cache-control'];
  if (cc === undefined) return true;
  // One test of the whole field, not a list built per call: a stored miss asks this three times.
  return !NO_TRANSFORM.test(Array.isArray(cc) ? cc.join(',') : cc);
}

/** no-transform as one item of a Cache-Control list, in any case. */
const NO_TRANSFORM = /(?:^|,)[ \t]*no-transform[ \t]*(?:,|$)/i;

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
 * The stored form of a response. A body the backend encoded with a coding
 * tagcache can undo is decoded (the backend's bytes kept as that coding's
 * form); a compressible identity body of at least COMPRESSION_MIN_BYTES is
 * marked as having gzip and br forms to make. Only the form the filling client
 * prefers (want) is made now; the others are made the first time a client
 * that takes one asks (lazy-forms.ts), so a body nobody asks compressed is
 * never compressed. Every form is kept only when smaller than the identity
 * body. What may not be transformed, or cannot be decoded, is stored as it
 * came. Sync when there is nothing to do now.
 */
export function prepareForStore(
  headers: Headers,
  body: Buffer,
  route: Route,
  settings: CompressionSettings,
  want: Coding = 'identity',
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
    const made = fill(body, ALL_PENDING, want, settings);
    return made instanceof Promise
      ? made.then((forms) => finish(headers, body, forms))
      : finish(headers, body, made);
  }
  const coding = codings.length === 1 ? DECODABLE[codings[0] ?? ''] : undefined;
  if (coding === undefined) return asItCame;
  return decodeBody(body, coding, settings.maxBytes).then(async (identity) => {
    if (identity === undefined) return asItCame;
    const own: EntryForms = coding === 'gzip' ? { gzip: body } : coding === 'br' ? { br: body } : {};
    const room = settings.maxBytes - identity.length;
    // The backend's own bytes count against MAX_OBJECT_BYTES like any form (a kept form is smaller than identity).
    const held = keepIfWorth(own, identity, room);
    const pending = compressible(identity) ? LAZY.filter((c) => held[c] === undefined) : [];
    const forms = await fill(identity, { ...held, pending }, want, settings);
    return finish(headers, identity, { ...forms, source: coding });
  });
}

/** One object for every entry that holds no form yet (all small bodies stored for identity clients). */
const ALL_PENDING: EntryForms = { pending: LAZY };

function finish(headers: Headers, identity: Buffer, forms: EntryForms): Prepared {
  if (
    forms.gzip === undefined &&
    forms.br === undefined &&
    forms.source === undefined &&
    (forms.pending ?? []).length === 0
  )
    return { headers, body: identity, forms: undefined };
  const saysVary = variesByEncoding(headers.vary);
  // A miss's answer says Vary: Accept-Encoding already (client-form.ts): usually nothing to change.
  if (saysVary && headers['content-encoding'] === undefined) return { headers, body: identity, forms };
  // Copied without Content-Encoding rather than deleted after: a delete turns the object the entry
  // keeps into a dictionary (larger, slower for every hit to walk).
  const out: Headers = {};
  for (const name in headers) {
    const value = headers[name];
    if (name !== 'content-encoding' && value !== undefined) out[name] = value;
  }
  if (!saysVary) out.vary = [...headerList(headers.vary), 'Accept-Encoding'].join(', ');
  return { headers: out, body: identity, forms };
}

/** Whether a Vary field names Accept-Encoding: one test of the field, no list of its names. */
export function variesByEncoding(vary: string | string[] | undefined): boolean {
  if (vary === undefined) return false;
  return VARY_ENCODING.test(Array.isArray(vary) ? vary.join(',') : vary);
}

/** Accept-Encoding as one item of a Vary list, in any case, with the whitespace String.trim drops. */
const VARY_ENCODING = /(?:^|,)\s*accept-encoding\s*(?:,|$)/i;

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
