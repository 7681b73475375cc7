import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Readable, Transform } from 'node:stream';
import { TagcacheError } from '../utils/errors.js';

/**
 * A chunked request body, counted as it streams: past maxBytes the stream
 * fails with a 413 TC_BAD_REQUEST, which aborts the upstream request and,
 * when no answer has started, becomes the client's answer. A body with a
 * Content-Length was checked before it was read and passes as it is.
 */
export function limitBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Readable {
  if (req.headers['transfer-encoding'] === undefined) return req;
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes) {
        done(
          new TagcacheError('TC_BAD_REQUEST', `request body larger than MAX_BODY_BYTES (${maxBytes})`, 413),
        );
      } else done(null, chunk);
    },
  });
  // pipe() rather than pipeline(): on failure the client's socket must stay up to carry the 413.
  req.pipe(counter);
  req.once('error', (err) => counter.destroy(err));
  counter.once('error', () => req.unpipe(counter));
  // Node discards an unread body once the answer is sent, unless the body is piped somewhere: then a
  // body nobody read (a 429, a cache hit) would stall the connection's next request. Discard it here.
  res.once('finish', () => {
    if (req.complete) return;
    req.unpipe(counter);
    counter.destroy();
    req.resume();
  });
  return counter;
}
