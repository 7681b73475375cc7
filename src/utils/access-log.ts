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
 * of paced hits (bench/README.md, "Paced hits"). Only fields tagcache picks
 * appear (no headers, no cookies), so no redaction is needed.
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
  let pending = '';

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
  const formatLines = () => {
    let out = '';
    for (let i = 0; i < lines.length; i++) out += format(lines[i] as AccessLine, times[i] as number);
    lines = [];
    pending += flat(out);
  };
  const flush = () => {
    if (stream === undefined) return;
    if (lines.length > 0) formatLines();
    if (pending === '') return;
    const text = pending;
    pending = '';
    stream.write(text);
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
      if (pending.length >= chunkBytes) flush();
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

/**
 * The same string as one run of characters. V8 keeps a concatenation as a tree of its pieces
 * until something reads the characters, and ToNumber does: flattened, a formatted batch waiting
 * for its chunk is one string (not ~30 pieces a line that young-generation collections must
 * copy), and the stream's length count walks one piece per batch (pino's former `flatstr`).
 */
function flat(s: string): string {
  Number(s);
  return s;
}

/** Printable ASCII other than '"' and '\\': such a string is its own JSON body. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string literal; the regex test costs less than JSON.stringify's set-up for a short path. */
function quote(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** Methods and route names repeat on nearly every line: quoted once. Methods come from clients, so the memo is bounded. */
const quoteLabel = boundedMemo(256, (s) => JSON.stringify(s));
