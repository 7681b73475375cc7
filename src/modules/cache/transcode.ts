import type { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { type HeaderMap, headerValue } from '../../utils/headers.js';
import type { Route } from '../router/types.js';
import { BROTLI_QUALITY, GZIP_LEVEL } from './compress.js';
import type { Coding, EncodingPreference } from './encoding.js';
import { type CompressionSettings, formEtag, mayTransform } from './representation.js';

/**
 * A miss whose body has no declared length cannot wait for its entry (it may
 * turn out too large to store, and then nothing would be left to answer
 * with), so it streams. When the client cannot take the backend's coding, or
 * takes a coding where the backend sent a compressible body plain, the stream
 * is recoded on its way: once for this answer, as the entry's forms are made
 * once for every later hit.
 */
export function recodeMiss(
  upstream: HeaderMap,
  headers: HeaderMap,
  body: Readable,
  pref: EncodingPreference,
  route: Route,
  settings: CompressionSettings,
): { headers: HeaderMap; body: Readable } | undefined {
  // A declared length is answered from the entry when it needs another form (store-response.ts).
  if (upstream['content-length'] !== undefined || !mayTransform(upstream, route, settings)) return undefined;
  const sent = headerValue(upstream, 'content-encoding')?.trim().toLowerCase() ?? 'identity';
  let to: Coding;
  let through: Transform;
  if (sent === 'identity') {
    const best = pref.best;
    if (best === 'identity' || !settings.compressible(headerValue(upstream, 'content-type')))
      return undefined;
    to = best;
    through =
      best === 'br'
        ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } })
        : zlib.createGzip({ level: GZIP_LEVEL });
  } else {
    const coding = sent === 'x-gzip' ? 'gzip' : sent;
    if (pref.order.includes(coding as Coding)) return undefined;
    if (coding === 'gzip') through = zlib.createGunzip();
    else if (coding === 'br') through = zlib.createBrotliDecompress();
    else return undefined; // deflate may come raw or wrapped; a stream cannot try both
    to = 'identity';
  }
  const out: HeaderMap = { ...headers };
  delete out['content-length'];
  if (to === 'identity') delete out['content-encoding'];
  else out['content-encoding'] = to;
  const etag = headerValue(headers, 'etag');
  if (etag !== undefined) out.etag = formEtag(etag, to, sent === 'identity' ? undefined : sent);
  return { headers: out, body: pipeThrough(body, through) };
}

/** pipe() with errors and early closes passed on both ways (cheaper than pipeline(), which builds an AbortController per stream). */
function pipeThrough(source: Readable, through: Transform): Readable {
  source.once('error', (err) => through.destroy(err));
  through.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });
  source.pipe(through);
  return through;
}
