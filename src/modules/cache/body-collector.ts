import { Readable, Transform } from 'node:stream';
import { own, UpstreamBody } from '../../utils/upstream-body.js';

/**
 * Passes a response body through unchanged while keeping a copy of it, up to
 * maxBytes. onDone gets the whole body once the stream ended cleanly, or
 * undefined when it was cut short, failed or grew past maxBytes — a truncated
 * body is never stored. Backpressure is the client's: nothing is read faster
 * than the client takes it. When onDone returns a promise, the stream ends
 * once it settles.
 */
export function collectBody(
  source: Readable,
  maxBytes: number,
  onDone: (body: Buffer | undefined) => void | Promise<void>,
): Readable {
  // A backend body nobody has read yet keeps its copy as it goes, and may still go straight to the client.
  if (source instanceof UpstreamBody && source.unread) return source.tap(maxBytes, onDone);
  let chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  let settled = false;
  const settle = (body: Buffer | undefined): void | Promise<void> => {
    if (settled) return;
    settled = true;
    chunks = [];
    return onDone(body);
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
      // onDone may still be working on the body (compressing it): the stream ends when it is done.
      const pending = settle(over ? undefined : own(chunks, size));
      if (pending === undefined) callback();
      else
        pending.then(
          () => callback(),
          () => callback(),
        );
    },
  });
  // pipe() plus error handling, not pipeline(), which builds an AbortController per stream.
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

export type ReadAhead =
  | { readonly kind: 'whole'; readonly body: Buffer }
  /** Longer than the read-ahead allows: what was read, then the rest, as one stream. */
  | { readonly kind: 'streaming'; readonly body: Readable }
  | { readonly kind: 'failed'; readonly err: unknown };

/**
 * Reads a body before the client is answered, up to maxBytes, so that a body
 * that stalls or is cut short can still be answered another way while no
 * header has gone out. Past maxBytes it stops reading ahead and hands back a
 * stream of what it read followed by the rest.
 */
export async function readAhead(source: Readable, maxBytes: number): Promise<ReadAhead> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for (;;) {
      const next = await it.next();
      if (next.done === true) return { kind: 'whole', body: own(chunks, size) };
      chunks.push(next.value);
      size += next.value.length;
      if (size > maxBytes)
        return { kind: 'streaming', body: Readable.from(replay(chunks, it), { objectMode: false }) };
    }
  } catch (err) {
    source.destroy();
    return { kind: 'failed', err };
  }
}

async function* replay(head: readonly Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  try {
    for (;;) {
      const next = await rest.next();
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    // The client went away (or the body ended): the source is not read any further.
    await rest.return?.();
  }
}
