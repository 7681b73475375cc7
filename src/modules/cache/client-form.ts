import type { Readable } from 'node:stream';
import { type HeaderMap, headerList, headerValue } from '../../utils/headers.js';
import type { ProxyResponse, RequestContext } from '../pipeline/context.js';
import type { Route } from '../router/types.js';
import { encodingPreference } from './encoding.js';
import { type CompressionSettings, variesByEncoding, willVaryByEncoding } from './representation.js';
import { recodeMiss } from './transcode.js';

/**
 * The form a miss's client gets, as its body streams into the store: true
 * when it should wait and be answered from the entry (whose body is then read
 * here, for the store alone); else the backend's bytes, recoded on the way
 * when the client prefers another coding (one call into compression).
 */
export function clientForm(
  ctx: RequestContext,
  res: ProxyResponse,
  upstream: HeaderMap,
  body: Readable,
  route: Route,
  compression: CompressionSettings,
  maxObjectBytes: number,
): boolean {
  if (wantsOtherForm(ctx, upstream, route, compression, maxObjectBytes)) {
    // Nobody else reads it now: a failure mid-body settles the entry as undefined, which the caller answers.
    body.on('error', () => undefined);
    body.resume();
    return true;
  }
  const recoded = recodeMiss(
    upstream,
    res.headers,
    body,
    encodingPreference(ctx.headers['accept-encoding']),
    route,
    compression,
  );
  if (recoded !== undefined) {
    res.headers = recoded.headers;
    res.body = recoded.body;
  }
  return false;
}

/**
 * Whether the client of a miss should wait for the entry rather than get the
 * backend's bytes as they stream: when the entry will hold a form this client
 * prefers (br where the backend sent gzip or nothing, identity where it sent
 * a coding), so misses save bandwidth too. Only bodies of a declared length
 * within MAX_OBJECT_BYTES: one that turned out larger could not be answered
 * (those are recoded as they stream instead, transcode.ts).
 */
function wantsOtherForm(
  ctx: RequestContext,
  upstream: HeaderMap,
  route: Route,
  compression: CompressionSettings,
  maxObjectBytes: number,
): boolean {
  if (!willVaryByEncoding(upstream, route, compression)) return false;
  const length = Number(headerValue(upstream, 'content-length') ?? Number.NaN);
  if (!(length <= maxObjectBytes)) return false;
  const sent = headerValue(upstream, 'content-encoding')?.trim().toLowerCase() ?? 'identity';
  return encodingPreference(ctx.headers['accept-encoding']).best !== sent;
}

/** A response that will be answered in several codings once stored says Vary: Accept-Encoding now. */
export function sayVaryEncoding(
  res: ProxyResponse,
  upstream: HeaderMap,
  route: Route,
  compression: CompressionSettings,
): void {
  if (!willVaryByEncoding(upstream, route, compression)) return;
  if (variesByEncoding(res.headers.vary)) return;
  // Object.assign, not a spread, and assigned after the copy rather than defined in a literal after
  // one: on Node 20 either of those went to the runtime on every stored miss (upstream-stage.ts).
  const headers: HeaderMap = Object.assign({}, res.headers);
  headers.vary = [...headerList(res.headers.vary), 'Accept-Encoding'].join(', ');
  res.headers = headers;
}
