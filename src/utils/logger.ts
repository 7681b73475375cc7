import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/**
 * Secrets never reach a log line: the invalidation token, Authorization and
 * Cookie headers are redacted wherever they appear in a logged object.
 */
const REDACT = [
  'token',
  'invalidateToken',
  'authorization',
  'cookie',
  'set-cookie',
  '*.authorization',
  '*.cookie',
  '*.set-cookie',
  '*.token',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; a file descriptor (1 = stdout) written asynchronously in batches. */
  destination?: number | NodeJS.WritableStream;
  /** Buffer lines off the request path; flushed on shutdown. */
  sync?: boolean;
}

export function createLogger({ level, destination = 1, sync = false }: LoggerOptions): Logger {
  const dest =
    typeof destination === 'number'
      ? pino.destination({ dest: destination, sync, minLength: sync ? 0 : 4096 })
      : destination;
  if (!sync && typeof destination === 'number') {
    // Lines are batched off the request path; a quiet proxy must still show them within a second.
    const timer = setInterval(() => {
      try {
        (dest as { flush?: () => void }).flush?.();
      } catch {
        // Flushing races a closing destination at exit; the final flush happens there.
      }
    }, 1000);
    timer.unref();
  }
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
}

/** Flushes buffered lines; call before exit. */
export function flushLogger(log: Logger): void {
  try {
    log.flush();
  } catch {
    // A closed destination has nothing left to flush; exiting must not fail on it.
  }
}
