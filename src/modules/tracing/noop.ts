import type { Tracing } from './types.js';

/** Tracing off: everything passes through untouched. */
export const NO_TRACING: Tracing = Object.freeze({
  enabled: false,
  startRequest: () => undefined,
  store: (store) => store,
  upstream: (client) => client,
  wait: (_name, waiting) => waiting,
  work: (_name, fn) => fn(),
  detached: (_name, fn) => fn(),
  handler: (_route, handler) => handler,
  invalidation: (_req, fn) => fn(),
  shutdown: async () => undefined,
} satisfies Tracing);
