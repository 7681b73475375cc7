/** Where a command writes: lines to stdout (results) and stderr (errors, usage). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

/** Exit codes: 0 done, 1 the command ran and failed, 2 it was called wrongly. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/**
 * A command that cannot go on: the message is printed after "tagcache: " and
 * the process exits with exitCode. `usage` adds the command's usage text.
 */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
    readonly usage?: string,
  ) {
    super(message);
  }
}

export function usageError(message: string, usage: string): CliError {
  return new CliError(message, EXIT_USAGE, usage);
}

/** "1 entry", "17 entries". */
export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
