import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags that, when an operator gives any of them (on node's command line
 * or in NODE_OPTIONS), leave V8 as they set it: nothing here overrides a
 * choice, and TurboFan is never turned back on under --jitless.
 */
const OPERATOR_FLAG =
  /^--(no-)?(opt|turbofan|jitless|lite-mode|max-opt|always-turbofan|always-opt|liftoff|liftoff-only|wasm-[a-z-]+|semi-space-growth-factor|min-semi-space-size|max-semi-space-size)(=|$)/;

/** Whether the operator chose any of the V8 settings leanStart() would change. */
export function operatorTunesV8(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return given.some((arg) => OPERATOR_FLAG.test(arg.replaceAll('_', '-')));
}

/**
 * Runs load(), which imports the app and starts it, the way an idle proxy
 * wants it loaded, then sets V8 back for serving. Loading ~300 modules is the
 * one time node's module loader runs hot: V8 would optimise the loader's own
 * URL, path and CommonJS-lexer functions with TurboFan (compiler memory that
 * glibc keeps, and pages of the node binary), and grow the young generation
 * fourfold for objects that all survive. Neither helps after start; both
 * were ~15 MiB of an idle proxy's RSS (bench/README.md, "Idle memory").
 * Requests are served with both set back: TurboFan on, the young generation
 * free to grow under load as before.
 *
 * undici's llhttp (WebAssembly) is compiled by Liftoff only: TurboFan's
 * optimisation of it, at the first backend response, takes 36 MiB of
 * compiler memory, up to 10 MiB of which glibc never returns.
 */
export async function leanStart<T>(
  load: () => Promise<T>,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): Promise<T> {
  if (operatorTunesV8(execArgv, nodeOptions)) return load();
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--no-opt');
  setFlagsFromString('--semi-space-growth-factor=1');
  try {
    return await load();
  } finally {
    setFlagsFromString('--opt');
    // V8's default: the young generation doubles when scavenges see much survive.
    setFlagsFromString('--semi-space-growth-factor=2');
  }
}
