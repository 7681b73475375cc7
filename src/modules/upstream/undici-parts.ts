import { createRequire } from 'node:module';
import type * as Undici from 'undici';

/**
 * The parts of undici the upstream client uses. With the `undici` fast path
 * (FAST_PATHS) they are loaded on their own from undici's internal files
 * (it has no exports map), checked when loaded: undici's index also loads
 * fetch, WebSocket, the cache and mock agents, and with them about 9 MiB of
 * an idle proxy's memory. Otherwise they come from undici's public index.
 * Both ways resolve the same files, so error classes are the same classes.
 */
const require = createRequire(import.meta.url);

export type Pool = Undici.Pool;

export interface UndiciParts {
  readonly Pool: typeof Undici.Pool;
  readonly errors: typeof Undici.errors;
  readonly parseHeaders: typeof Undici.util.parseHeaders;
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
  return { Pool: undici.Pool, errors: undici.errors, parseHeaders: undici.util.parseHeaders };
}

function fromFiles(): UndiciParts {
  const parts: UndiciParts = {
    Pool: require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool,
    errors: require('undici/lib/core/errors.js') as typeof Undici.errors,
    parseHeaders: (require('undici/lib/core/util.js') as typeof Undici.util).parseHeaders,
  };
  if (
    typeof parts.Pool !== 'function' ||
    typeof parts.errors.HeadersTimeoutError !== 'function' ||
    typeof parts.parseHeaders !== 'function'
  ) {
    throw new Error('undici changed its file layout: src/modules/upstream/undici-parts.ts needs updating');
  }
  return parts;
}
