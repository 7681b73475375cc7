import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/proxy.js';

export interface RunResult {
  /** The exit code; null when a signal ended the process. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program to completion without blocking the event loop (tests run the
 * proxy in this same process), collecting its output. Rejects only when the
 * program cannot be started at all (ENOENT); a non-zero exit is a result.
 */
export function run(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** True when the program exists on PATH (it ran, whatever its exit code). */
export async function hasProgram(command: string, args: readonly string[] = ['--version']): Promise<boolean> {
  try {
    await run(command, args, { timeoutMs: 15_000 });
    return true;
  } catch {
    // ENOENT: not installed.
    return false;
  }
}

/** The built CLI, as `npx tagcache` runs it. */
export const CLI = join(ROOT, 'dist/src/cli.js');

/**
 * Builds dist/ when the CLI is missing or older than any source file, so that
 * `npx vitest run test/packaging` tests the code as it is (`npm test` builds
 * before vitest anyway).
 */
export async function ensureBuilt(): Promise<void> {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestMtime(join(ROOT, 'src'))) return;
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const built = await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { timeoutMs: 120_000 });
  if (built.code === 0) return;
  const output = built.stdout + built.stderr;
  // tsc still emits JavaScript past type errors. Errors in the CLI fail these tests;
  // errors elsewhere are for the type check (npm run lint) to report, not the CLI's tests.
  const cliErrors = output.split('\n').filter((line) => /^src\/cli(\.ts|\/)/.test(line));
  if (!existsSync(CLI) || statSync(CLI).mtimeMs < newestMtime(join(ROOT, 'src')) || cliErrors.length > 0) {
    throw new Error(`npm run build failed (exit ${built.code}):\n${output}`);
  }
  process.stderr.write(
    `packaging: the build has type errors outside the CLI; testing the emitted JavaScript:\n${output}`,
  );
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    newest = Math.max(newest, stat.isDirectory() ? newestMtime(path) : stat.mtimeMs);
  }
  return newest;
}

/** `node dist/src/cli.js …` with only the environment given (and PATH). */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
}
