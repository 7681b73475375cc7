import { createListeners, type ListenerErrorReporter, type Listeners } from './listeners.js';
import type { InvalidationEvent, InvalidationTarget } from './types.js';

export type InvalidationListener = (event: InvalidationEvent) => void;
export type InvalidationListeners = Listeners<InvalidationEvent>;

/** The invalidation listener set both stores share. */
export function createInvalidationListeners(report?: ListenerErrorReporter): InvalidationListeners {
  return createListeners<InvalidationEvent>(report);
}

/**
 * Reads an event another instance published. Anything that is not a
 * well-formed event yields undefined: a stray message on the channel must not
 * reach listeners, nor crash the subscriber.
 */
export function parseInvalidationEvent(text: string): InvalidationEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined; // not JSON: ignored by contract
  }
  if (!isRecord(value)) return undefined;
  const { target, mode, source } = value;
  if ((mode !== 'hard' && mode !== 'soft') || typeof source !== 'string') return undefined;
  const parsed = parseTarget(target);
  return parsed === undefined ? undefined : { target: parsed, mode, source };
}

function parseTarget(value: unknown): InvalidationTarget | undefined {
  if (!isRecord(value)) return undefined;
  if (value.kind === 'all') return { kind: 'all' };
  if (value.kind === 'tags' && isStringArray(value.tags)) {
    if (value.sites === undefined) return { kind: 'tags', tags: value.tags };
    return isStringArray(value.sites) ? { kind: 'tags', tags: value.tags, sites: value.sites } : undefined;
  }
  if (value.kind === 'prefixes' && isStringArray(value.prefixes))
    return { kind: 'prefixes', prefixes: value.prefixes };
  if (value.kind === 'keys' && isStringArray(value.keys)) return { kind: 'keys', keys: value.keys };
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
