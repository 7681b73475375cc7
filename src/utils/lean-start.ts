import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * V8 flags that, when an operator gives any of them (on node's command line
 * or in NODE_OPTIONS), leave V8 as they set it: nothing here overrides a
 * choice, and TurboFan is never turned back on under --jitless.
 */
const OPERATOR_FLAG =
  /^--(no-)?(opt|turbofan|jitless|lite-mode|max-opt|always-turbofan|always-opt|liftoff|liftoff-only|wasm-[a-z-]+|compact-on-every-full-gc|semi-space-growth-factor|min-semi-space-size|max-semi-space-size)(=|$)/;

/** Whether the operator chose any of the V8 settings leanStart() would change. */
export function operatorTunesV8(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return given.some((arg) => OPERATOR_FLAG.test(arg.replaceAll('_', '-')));
}

/**
 * Loads the app (load) and starts it (start) the way an idle proxy wants it,
 * then sets V8 back for serving. Loading ~300 modules is the one time node's
 * module loader runs hot: V8 would optimise the loader's own URL, path and
 * CommonJS-lexer functions with TurboFan (compiler memory that glibc keeps,
 * and pages of the node binary), grow the young generation fourfold for
 * objects that all survive, and leave loading's garbage spread over old
 * space's pages until its memory reducer runs, 8 s or more into an idle
 * process. Together ~15 MiB of an idle proxy's RSS (bench/README.md, "Idle
 * memory"). So loading runs with TurboFan off and the young generation held,
 * one compacting collection follows it, and requests are served with both
 * set back: TurboFan on, the young generation free to grow under load.
 *
 * undici's llhttp (WebAssembly) is compiled by Liftoff only: TurboFan's
 * optimisation of it, at the first backend response, takes 36 MiB of
 * compiler memory, up to 10 MiB of which glibc never returns.
 */
export async function leanStart<T>(
  load: () => Promise<T>,
  start: (loaded: T) => Promise<void>,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): Promise<void> {
  if (operatorTunesV8(execArgv, nodeOptions)) return start(await load());
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--no-turbofan');
  setFlagsFromString('--semi-space-growth-factor=1');
  try {
    const loaded = await load();
    compactHeap();
    await start(loaded);
  } finally {
    setFlagsFromString('--turbofan');
    // V8's default: the young generation doubles when scavenges see much survive.
    setFlagsFromString('--semi-space-growth-factor=2');
  }
}

/**
 * A full collection that compacts old space (tens of ms at start). node has
 * no call for one: unless node was started with --expose-gc, V8's gc() is
 * exposed to a throwaway context only, as jest's leak detector does, so the
 * app's own global never has it.
 */
function compactHeap(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
  }
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
