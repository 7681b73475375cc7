import { type ParseArgsConfig, parseArgs } from 'node:util';
import { usageError } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs in strict mode, with its errors turned into one short
 * sentence and the command's usage (exit 2) instead of a stack trace.
 */
export function parseCommandArgs<T extends Options>(
  args: readonly string[],
  options: T,
  usage: string,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals });
  } catch (err) {
    throw usageError(describeParseError(err), usage);
  }
}

function describeParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option "${quoted}"`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${quoted}"`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      // "Option '-t, --tag <value>' argument missing" or "… argument is ambiguous".
      return `${quoted
        .replace(/ <value>$/, '')
        .split(', ')
        .pop()} needs a value`;
    default:
      return message;
  }
}
