import { checkRoutesCommand } from './check-routes.js';
import { CliError, type CliIo, EXIT_OK, EXIT_USAGE } from './io.js';
import { purgeCommand } from './purge.js';
import { COMMAND_USAGE, MAIN_USAGE } from './usage.js';

type Command = (
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
) => number | Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  purge: purgeCommand,
  'check-routes': checkRoutesCommand,
};

/**
 * The tagcache command line: runs one command and returns the exit code.
 * Errors a user can cause are one "tagcache: …" line on stderr (and the
 * usage when the call itself was wrong), never a stack trace.
 */
export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    io.err(MAIN_USAGE);
    return EXIT_USAGE;
  }
  if (name === 'help' || name === '--help' || name === '-h') return help(args[0], io);
  const command = COMMANDS[name];
  if (command === undefined) {
    io.err(`tagcache: unknown command "${name}"\n\n${MAIN_USAGE}`);
    return EXIT_USAGE;
  }
  try {
    return await command(args, env, io);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    io.err(`tagcache: ${err.message}`);
    // The synopsis only; the options are one "tagcache help <command>" away.
    if (err.usage !== undefined)
      io.err(`\n${err.usage.split('\n\n')[0]}\nRun "tagcache help ${name}" for the options.`);
    return err.exitCode;
  }
}

function help(topic: string | undefined, io: CliIo): number {
  if (topic === undefined) {
    io.out(MAIN_USAGE);
    return EXIT_OK;
  }
  const usage = COMMAND_USAGE[topic];
  if (usage === undefined) {
    io.err(`tagcache: no help for "${topic}"\n\n${MAIN_USAGE}`);
    return EXIT_USAGE;
  }
  io.out(usage);
  return EXIT_OK;
}
