#!/usr/bin/env node
import { runCli } from './cli/run.js';
import { errorMessage } from './utils/errors.js';

/** `npx tagcache …` (the package's bin): purge the cache, check a route table. */
runCli(process.argv.slice(2), process.env, {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}).then(
  (code) => {
    // exitCode, not exit(): stdout may still be draining into a pipe.
    process.exitCode = code;
  },
  (err: unknown) => {
    // A bug of ours, not a user's mistake: say so, with the stack.
    process.stderr.write(`tagcache: internal error: ${errorMessage(err)}\n${(err as Error).stack ?? ''}\n`);
    process.exitCode = 1;
  },
);
