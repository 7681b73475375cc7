import type { Metrics } from '../metrics/registry.js';
import type { ProxyResponse, RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { isNotModified, notModifiedHeaders } from './conditional.js';
import { type Coding, encodingPreference } from './encoding.js';
import { representationFor } from './form-view.js';
import { currentAge, type Policy } from './policy.js';
import { selectRange } from './range.js';

/** Told of each whole answer sent in an encoded form, with the bytes it saved against identity. */
export type OnEncoded = (coding: Exclude<Coding, 'identity'>, savedBytes: number) => void;

/** OnEncoded counting into tagcache_compressed_responses_total and tagcache_compression_saved_bytes_total. */
export function countEncoded(metrics: Metrics): OnEncoded {
  const encoded = {
    br: [metrics.compressedResponses.labels('br'), metrics.compressionSavedBytes.labels('br')],
    gzip: [metrics.compressedResponses.labels('gzip'), metrics.compressionSavedBytes.labels('gzip')],
  } as const;
  return (coding, saved) => {
    const [answers, bytes] = encoded[coding];
    answers.inc();
    bytes.inc(saved);
  };
}

const MAX_AGE = 2_147_483_648;

/**
 * The answer to a request from a stored entry: 304 when the client's
 * conditional holds, 206/416 for a single range, else the stored response;
 * Age is the entry's current age (RFC 9111 §5.1). All of it applies to the
 * form this client gets (representation.ts): its ETag, its length, its bytes.
 */
export function answerFromEntry(
  ctx: RequestContext,
  entry: StoredEntry,
  policy: Policy,
  now: number,
  onEncoded?: OnEncoded,
): ProxyResponse {
  const age = String(Math.min(MAX_AGE, Math.floor(currentAge(policy, now))));
  const h = ctx.headers;
  const rep =
    entry.forms === undefined
      ? undefined
      : representationFor(entry, encodingPreference(h['accept-encoding']));
  const headers = rep?.headers ?? entry.headers;
  const body = rep?.body ?? entry.body;
  if ((h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined) && entry.status === 200) {
    if (isNotModified(h, headers)) {
      return {
        status: 304,
        headers: notModifiedHeaders(headers),
        age,
        upstreamHeaders: undefined,
        body: null,
      };
    }
  }
  const head = ctx.method === 'HEAD';
  if (h.range !== undefined && entry.status === 200 && !head) {
    const length = body.length;
    const range = selectRange(h, headers, length);
    if (range.kind === 'partial') {
      return {
        status: 206,
        headers: {
          ...headers,
          'content-range': `bytes ${range.start}-${range.end}/${length}`,
          'content-length': String(range.end - range.start + 1),
        },
        age,
        upstreamHeaders: undefined,
        body: body.subarray(range.start, range.end + 1),
      };
    }
    if (range.kind === 'unsatisfiable') {
      return {
        status: 416,
        headers: {
          'content-range': `bytes */${length}`,
          'content-length': '0',
          date: entry.headers.date ?? new Date(now).toUTCString(),
        },
        age,
        upstreamHeaders: undefined,
        body: null,
      };
    }
  }
  if (rep !== undefined && rep.coding !== 'identity' && !head)
    onEncoded?.(rep.coding, entry.body.length - body.length);
  // The stored headers (or the form's, made once per entry), not a copy: the answer is written without changing them.
  return {
    status: entry.status,
    headers,
    age,
    upstreamHeaders: undefined,
    body: head ? null : body,
  };
}
