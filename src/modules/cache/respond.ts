import type { ProxyResponse, RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { isNotModified, notModifiedHeaders } from './conditional.js';
import { currentAge, type Policy } from './policy.js';
import { selectRange } from './range.js';

const MAX_AGE = 2_147_483_648;

/**
 * The answer to a request from a stored entry: 304 when the client's
 * conditional holds, 206/416 for a single range, else the stored response;
 * Age is the entry's current age (RFC 9111 §5.1).
 */
export function answerFromEntry(
  ctx: RequestContext,
  entry: StoredEntry,
  policy: Policy,
  now: number,
): ProxyResponse {
  const age = String(Math.min(MAX_AGE, Math.floor(currentAge(policy, now))));
  const h = ctx.headers;
  if ((h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined) && entry.status === 200) {
    if (isNotModified(h, entry.headers)) {
      return {
        status: 304,
        headers: notModifiedHeaders(entry.headers),
        age,
        upstreamHeaders: undefined,
        body: null,
      };
    }
  }
  const head = ctx.method === 'HEAD';
  if (h.range !== undefined && entry.status === 200 && !head) {
    const length = entry.body.length;
    const range = selectRange(h, entry.headers, length);
    if (range.kind === 'partial') {
      return {
        status: 206,
        headers: {
          ...entry.headers,
          'content-range': `bytes ${range.start}-${range.end}/${length}`,
          'content-length': String(range.end - range.start + 1),
        },
        age,
        upstreamHeaders: undefined,
        body: entry.body.subarray(range.start, range.end + 1),
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
  // The stored headers themselves, not a copy: the answer is written without changing them.
  return {
    status: entry.status,
    headers: entry.headers,
    age,
    upstreamHeaders: undefined,
    body: head ? null : entry.body,
  };
}
