import pino from 'pino';
import { boundedMemo } from './bounded-memo.js';
import type { Logger } from './logger.js';

export interface AccessLine {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly route: string;
  readonly status: number;
  readonly cache: string;
  readonly bytes: number;
  readonly ms: number;
  readonly upstreamMs: number | undefined;
  readonly upstream: string | undefined;
  readonly err: string | undefined;
  /** Logged at error rather than info. */
  readonly error: boolean;
  /** With tracing on: the request's trace and server span, so log lines and traces join. */
  readonly traceId?: string | undefined;
  readonly spanId?: string | undefined;
}

export interface AccessLog {
  write(line: AccessLine): void;
  /** Hands buffered lines to the destination; call before exit. */
  flush(): void;
}

/**
 * The access log: one JSON line per request, on the pino logger's own
 * destination. With the `access-log` fast path (FAST_PATHS, on by default)
 * the lines are the ones pino would write, formatted by
 * hand from known fields (pino's generic serialiser costs a few
 * microseconds a line, which a cache hit cannot afford), and not on the
 * request path: a request files its fields and time; every `formatBatch`
 * lines are formatted in one loop (as cheap per hit as batches of 256, where
 * formatting each line as it came cost 10 % more CPU per hit) and flattened,
 * and the text goes to the stream in chunks of `chunkBytes` (or every
 * `flushMs`): 64 KiB rather than 16, since each chunk costs the destination a
 * write to the thread pool and its completion (with 16 KiB chunks, ~3.5 % of a
 * hit's CPU went there; ~2 % with 64 KiB). Formatting and writing 256 lines at once stalled the event
 * loop for about half a millisecond at each batch, which showed in the p99
 * of paced hits (bench/README.md, "Paced hits"). A chunk waits as UTF-8 in
 * one Buffer outside V8's heap, not as a string: waiting tens of
 * milliseconds, the text was caught by most young-generation collections
 * and copied, a third of what a pass-through left for them to copy. Only
 * fields tagcache picks appear (no headers, no cookies), so no redaction is needed.
 */
export function createAccessLog(
  log: Logger,
  { flushMs = 200, formatBatch = 32, chunkBytes = 64 * 1024, fast = true } = {},
): AccessLog {
  if (!fast) return libraryAccessLog(log);
  const stream = (log as unknown as Record<symbol, NodeJS.WritableStream>)[pino.symbols.streamSym];
  const prefix = `,"pid":${process.pid},`;
  const info = pino.levels.values.info ?? 30;
  const error = pino.levels.values.error ?? 50;
  let lines: AccessLine[] = [];
  const times = new Float64Array(formatBatch);
  // The chunk being filled; room for a batch past chunkBytes, since a chunk is written once it reaches that.
  const chunk = Buffer.allocUnsafeSlow(chunkBytes + 32 * 1024);
  let used = 0;

  // Lines close in time mostly share their millisecond: one ISO string each, not one per line.
  let isoOf = 0;
  let iso = '';
  const format = (l: AccessLine, time: number): string => {
    if (time !== isoOf) {
      isoOf = time;
      iso = new Date(time).toISOString();
    }
    let line = `{"level":"${l.error ? 'error' : 'info'}","time":"${iso}"${prefix}"id":"${l.id}","method":${quoteLabel(l.method)},"path":${quote(l.path)},"route":${quoteLabel(l.route)},"status":${l.status},"cache":"${l.cache}","bytes":${l.bytes},"ms":${l.ms}`;
    if (l.upstreamMs !== undefined) line += `,"upstreamMs":${l.upstreamMs}`;
    if (l.upstream !== undefined) line += `,"upstream":${JSON.stringify(l.upstream)}`;
    if (l.err !== undefined) line += `,"err":${JSON.stringify(l.err)}`;
    if (l.traceId !== undefined) line += `,"trace_id":"${l.traceId}","span_id":"${l.spanId}"`;
    return `${line},"msg":"request"}\n`;
  };
  const writeChunk = () => {
    if (used === 0 || stream === undefined) return;
    const text = chunk.toString('utf8', 0, used);
    used = 0;
    stream.write(text);
  };
  const formatLines = () => {
    let out = '';
    for (let i = 0; i < lines.length; i++) out += format(lines[i] as AccessLine, times[i] as number);
    lines = [];
    // At most three UTF-8 bytes per UTF-16 unit: counted exactly only when that bound says it might not fit.
    const fits = (room: number) => out.length * 3 <= room || Buffer.byteLength(out) <= room;
    if (!fits(chunk.length - used)) writeChunk();
    if (fits(chunk.length - used)) used += chunk.write(out, used, 'utf8');
    else stream?.write(out);
  };
  const flush = () => {
    if (stream === undefined) return;
    if (lines.length > 0) formatLines();
    writeChunk();
  };
  const timer = setInterval(flush, flushMs);
  timer.unref();
  return {
    write(l) {
      if (stream === undefined || log.levelVal > (l.error ? error : info)) return;
      times[lines.length] = Date.now();
      lines.push(l);
      if (lines.length < formatBatch) return;
      formatLines();
      if (used >= chunkBytes) writeChunk();
    },
    flush,
  };
}

/** Each line through pino's public API, as it comes: the library path (FAST_PATHS=off). */
function libraryAccessLog(log: Logger): AccessLog {
  return {
    write(l) {
      const fields = {
        id: l.id,
        method: l.method,
        path: l.path,
        route: l.route,
        status: l.status,
        cache: l.cache,
        bytes: l.bytes,
        ms: l.ms,
        upstreamMs: l.upstreamMs,
        upstream: l.upstream,
        err: l.err,
        trace_id: l.traceId,
        span_id: l.spanId,
      };
      if (l.error) log.error(fields, 'request');
      else log.info(fields, 'request');
    },
    flush() {},
  };
}

/** Printable ASCII other than '"' and '\\': such a string is its own JSON body. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string literal; the regex test costs less than JSON.stringify's set-up for a short path. */
function quote(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** Methods and route names repeat on nearly every line: quoted once. Methods come from clients, so the memo is bounded. */
const quoteLabel = boundedMemo(256, (s) => JSON.stringify(s));
