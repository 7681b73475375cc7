import { type Readable, Transform } from 'node:stream';

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

/**
 * One buffer of exactly the body's size and nobody else's. Buffer.concat
 * carves small results out of Node's shared 8 KiB pool, and a stored 1 KiB
 * body would then keep a whole slab alive for as long as it is cached.
 */
function own(chunks: readonly Buffer[], size: number): Buffer {
  const out = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(out, offset);
  return out;
}

/** Reads a whole body with no client attached (background revalidation), up to maxBytes. */
export function readBody(source: Readable, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const tee = collectBody(source, maxBytes, resolve);
    tee.on('error', () => resolve(undefined));
    tee.resume();
  });
}
