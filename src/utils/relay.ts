import type { Readable, Writable } from 'node:stream';

/**
 * source.pipe(dest) with pipeline()'s error handling and none of its cost:
 * Node 20's pipeline() builds an AbortController and a DOMException for every
 * stream it finishes, a few percent of a proxied request. A failure on either
 * side destroys both (the client sees a cut connection, the backend request
 * is released) and `done` is called once: without an error when dest
 * finished, with one otherwise.
 */
export function relay(source: Readable, dest: Writable, done: (err: Error | undefined) => void): void {
  let settled = false;
  const settle = (err: Error | undefined) => {
    if (settled) return;
    settled = true;
    if (err !== undefined) {
      source.destroy();
      dest.destroy();
    }
    done(err);
  };
  source.once('error', settle);
  dest.once('error', settle);
  dest.once('finish', () => settle(undefined));
  dest.once('close', () => {
    if (!dest.writableFinished) settle(prematureClose());
  });
  // A source that ends early without an error (a reset undici could not classify) never finishes dest.
  source.once('close', () => {
    if (!source.readableEnded && !settled) settle(source.errored ?? prematureClose());
  });
  source.pipe(dest);
}

function prematureClose(): Error {
  return Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}
