import { Readable } from 'node:stream';

/** Where a body may be written straight to: the client's ServerResponse. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(cb?: () => void): unknown;
  destroy(): unknown;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
}

/** Told once, when the body has reached its sink (`err` undefined) or failed; `bytes` passed on either way. */
export type SinkDone = (err: Error | undefined, bytes: number) => void;

/** What feeds the body: undici's controller for the request, which `resume`s a paused backend and `abort`s it. */
export interface BodySource {
  resume(): void;
  abort(err: Error): void;
}

/** Told once: the whole body when it ended cleanly within maxBytes, else undefined. */
export type TapDone = (body: Buffer | undefined) => void;

interface Tap {
  readonly chunks: Buffer[];
  size: number;
  readonly max: number;
  readonly done: TapDone;
}

/**
 * A backend's response body as undici hands it over, chunk by chunk. It is a
 * Readable for whoever wants one (revalidation, the compressor, tests), but
 * a body nobody has read is written straight into the client's response by
 * `sendTo`: no stream machinery, no pipe, one write per chunk, as a plain
 * proxy does. `tap` keeps a copy for the cache on either path.
 *
 * Chunks that arrive before anyone asked (headers and a small body usually
 * come in one read) wait in a list.
 */
export class UpstreamBody extends Readable {
  #pending: Buffer[] | null = [];
  #ended = false;
  #failed: Error | null = null;
  #mode: 'waiting' | 'stream' | 'sink' = 'waiting';
  #sink: BodySink | null = null;
  #sinkDone: SinkDone | null = null;
  #bytes = 0;
  #tap: Tap | null = null;
  #paused = false;
  readonly #source: BodySource;

  /** The source's `resume` restarts a backend paused for backpressure; its `abort` cuts the backend request. */
  constructor(source: BodySource) {
    super();
    this.#source = source;
  }

  /** Nobody has read this body as a stream: `sendTo` may take it. */
  get unread(): boolean {
    return this.#mode === 'waiting' && !this.destroyed;
  }

  /** From the client: a chunk. False asks undici to pause until `#resume`. */
  deliver(chunk: Buffer): boolean {
    const tap = this.#tap;
    if (tap !== null) this.#record(tap, chunk);
    if (this.#mode === 'sink') {
      this.#bytes += chunk.length;
      const sink = this.#sink as BodySink;
      if (sink.write(chunk)) return true;
      this.#paused = true;
      sink.once('drain', this.#onDrain);
      return false;
    }
    if (this.#mode === 'stream') {
      const more = this.push(chunk);
      this.#paused = !more;
      return more;
    }
    this.#pending?.push(chunk);
    return true;
  }

  /** From the client: the backend finished the body. */
  complete(): void {
    this.#ended = true;
    const tap = this.#tap;
    if (tap !== null) {
      this.#tap = null;
      tap.done(own(tap.chunks, tap.size));
    }
    if (this.#mode === 'sink') this.#endSink();
    else if (this.#mode === 'stream') this.push(null);
  }

  /** From the client: the backend failed mid-body. */
  fail(err: Error): void {
    if (this.#failed !== null || this.#ended) return;
    this.#failed = err;
    this.#dropTap();
    if (this.#mode === 'sink') this.#settleSink(err);
    else if (this.#mode === 'stream') this.destroy(err);
  }

  /**
   * Keeps a copy of the body up to maxBytes for the cache. Nothing is read
   * faster than the client takes it; a body cut short or too large gives
   * undefined.
   */
  tap(maxBytes: number, done: TapDone): this {
    const tap: Tap = { chunks: [], size: 0, max: maxBytes, done };
    this.#tap = tap;
    for (const chunk of this.#pending ?? []) {
      this.#record(tap, chunk);
      if (this.#tap === null) break;
    }
    if (this.#tap !== null && this.#ended) this.complete();
    else if (this.#failed !== null || this.destroyed) this.#dropTap();
    return this;
  }

  /** Writes the body into `sink` and ends it; only while `unread`. */
  sendTo(sink: BodySink, done: SinkDone): void {
    this.#mode = 'sink';
    this.#sink = sink;
    this.#sinkDone = done;
    sink.once('close', this.#onSinkClose);
    const pending = this.#pending ?? [];
    this.#pending = null;
    for (const chunk of pending) {
      this.#bytes += chunk.length;
      sink.write(chunk);
    }
    if (this.#failed !== null) this.#settleSink(this.#failed);
    else if (this.#ended) this.#endSink();
  }

  override _read(): void {
    if (this.#mode === 'waiting') {
      this.#mode = 'stream';
      const pending = this.#pending ?? [];
      this.#pending = null;
      for (const chunk of pending) this.push(chunk);
      if (this.#failed !== null) this.destroy(this.#failed);
      else if (this.#ended) this.push(null);
      return;
    }
    if (this.#paused) {
      this.#paused = false;
      this.#source.resume();
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#pending = null;
    this.#dropTap();
    if (!this.#ended && this.#failed === null) {
      this.#failed = err ?? abortError();
      this.#source.abort(this.#failed);
    }
    callback(err);
  }

  #record(tap: Tap, chunk: Buffer): void {
    tap.size += chunk.length;
    if (tap.size > tap.max) this.#dropTap();
    else tap.chunks.push(chunk);
  }

  #dropTap(): void {
    const tap = this.#tap;
    if (tap === null) return;
    this.#tap = null;
    tap.done(undefined);
  }

  #onDrain = (): void => {
    if (!this.#paused) return;
    this.#paused = false;
    this.#source.resume();
  };

  #onSinkClose = (): void => {
    // The client went away before its answer was written: the backend request is cut too.
    if (this.#sink?.writableFinished === true || this.#sinkDone === null) return;
    if (!this.#ended && this.#failed === null) {
      this.#failed = abortError();
      this.#dropTap();
      this.#source.abort(this.#failed);
    }
    this.#settleSink(prematureClose());
  };

  #endSink(): void {
    (this.#sink as BodySink).end(() => this.#settleSink(undefined));
  }

  #settleSink(err: Error | undefined): void {
    const done = this.#sinkDone;
    if (done === null) return;
    this.#sinkDone = null;
    if (err !== undefined) this.#sink?.destroy();
    // Whoever waits for 'close' (the balancer's in-flight count) learns the body is over.
    this.destroy();
    done(err, this.#bytes);
  }
}

/** What undici's own request() gives an aborted request: isAbort() knows it. */
function abortError(): Error {
  return Object.assign(new Error('the client went away'), { name: 'AbortError', code: 'UND_ERR_ABORTED' });
}

function prematureClose(): Error {
  return Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * One buffer of exactly the body's size and nobody else's. Buffer.concat
 * carves small results out of Node's shared 8 KiB pool, and a stored 1 KiB
 * body would then keep a whole slab alive for as long as it is cached.
 */
export function own(chunks: readonly Buffer[], size: number): Buffer {
  const out = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(out, offset);
  return out;
}
