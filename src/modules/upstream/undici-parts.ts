import { createRequire } from 'node:module';
import type * as Undici from 'undici';

/**
 * The three parts of undici the upstream client uses, loaded on their own:
 * undici's index also loads fetch, WebSocket, the cache and mock agents, and
 * with them about 9 MiB of an idle proxy's memory. These paths are undici's
 * own files (it has no exports map), checked against its index when loaded.
 */
const require = createRequire(import.meta.url);

export type Pool = Undici.Pool;
export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export const errors = require('undici/lib/core/errors.js') as typeof Undici.errors;
export const parseHeaders = (require('undici/lib/core/util.js') as typeof Undici.util).parseHeaders;

if (
  typeof Pool !== 'function' ||
  typeof errors.HeadersTimeoutError !== 'function' ||
  typeof parseHeaders !== 'function'
) {
  throw new Error('undici changed its file layout: src/modules/upstream/undici-parts.ts needs updating');
}
