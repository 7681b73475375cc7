import { createRequire } from 'node:module';
import type * as Undici from 'undici';

/**
 * The part of undici the upstream client uses: its Pool. With the `undici`
 * fast path (FAST_PATHS) it is loaded on its own from undici's internal file
 * (undici has no exports map), checked when loaded: undici's index also loads
 * fetch, WebSocket, the cache and mock agents, and with them 6–10 MiB of an
 * idle proxy's memory (bench/README.md). Otherwise it comes from the index.
 * Errors are told apart by their documented codes, never their classes.
 */
const require = createRequire(import.meta.url);

export type Pool = Undici.Pool;

export interface UndiciParts {
  readonly Pool: typeof Undici.Pool;
}

let internal: UndiciParts | undefined;
let index: UndiciParts | undefined;

export function undiciParts(fromInternalFiles: boolean): UndiciParts {
  if (!fromInternalFiles) {
    index ??= fromIndex();
    return index;
  }
  internal ??= fromFiles();
  return internal;
}

function fromIndex(): UndiciParts {
  const undici = require('undici') as typeof Undici;
  return { Pool: undici.Pool };
}

function fromFiles(): UndiciParts {
  const parts: UndiciParts = { Pool: require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool };
  if (typeof parts.Pool !== 'function' || typeof parts.Pool.prototype.dispatch !== 'function') {
    throw new Error('undici changed its file layout: src/modules/upstream/undici-parts.ts needs updating');
  }
  return parts;
}
