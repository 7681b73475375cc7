import { type Readable, Transform } from 'node:stream';
import { own, UpstreamBody } from '../../utils/upstream-body.js';

/**
 * Passes a response body through unchanged while keeping a copy of it, up to
 * maxBytes. onDone gets the whole body once the stream ended cleanly, or
 * undefined when it was cut short, failed or grew past maxBytes — a truncated
 * body is never stored. Backpressure is the client's: nothing is read faster
 * than the client takes it.
 */
export function collectBody(
  source: Readable,
  maxBytes: number,
  onDone: (body: Buffer | undefined) => void,
): Readable {
  // A backend body nobody has read yet keeps its copy as it goes, and may still go straight to the client.
  if (source instanceof UpstreamBody && source.unread) return source.tap(maxBytes, onDone);
  let chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  let settled = false;
  const settle = (body: Buffer | undefined) => {
    if (settled) return;
    settled = true;
    chunks = [];
    onDone(body);
  };
  const tee = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!over) {
        size += chunk.length;
        if (size > maxBytes) {
          over = true;
          chunks = [];
          settle(undefined);
        } else chunks.push(chunk);
      }
      callback(null, chunk);
    },
    flush(callback) {
      settle(over ? undefined : own(chunks, size));
      callback();
    },
  });
  // pipe() plus error handling, not pipeline(): see utils/relay.ts for why.
  source.once('error', (err) => tee.destroy(err));
  source.once('close', () => {
    if (!source.readableEnded) tee.destroy(source.errored ?? new Error('the body was cut short'));
  });
  tee.once('close', () => {
    settle(undefined);
    if (!source.readableEnded) source.destroy();
  });
  source.pipe(tee);
  return tee;
}

/** Reads a whole body with no client attached (background revalidation), up to maxBytes. */
export function readBody(source: Readable, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const tee = collectBody(source, maxBytes, resolve);
    tee.on('error', () => resolve(undefined));
    tee.resume();
  });
}
