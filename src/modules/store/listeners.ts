import type { InvalidationEvent } from './types.js';

export type InvalidationListener = (event: InvalidationEvent) => void;

/** Reports a listener that threw; the default makes it a process warning, never a silent loss. */
export type ListenerErrorReporter = (err: unknown) => void;

const warnProcess: ListenerErrorReporter = (err) => {
  process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'TagcacheInvalidationListener');
};

export interface InvalidationListeners {
  add(listener: InvalidationListener): () => void;
  emit(event: InvalidationEvent): void;
  readonly size: number;
  clear(): void;
}

/**
 * The listener set both stores share. A throwing listener is reported and the
 * others still hear the event: one broken subscriber must not undo an invalidation.
 */
export function createInvalidationListeners(
  report: ListenerErrorReporter = warnProcess,
): InvalidationListeners {
  const listeners = new Set<InvalidationListener>();
  return {
    add(listener) {
      // A wrapper per call, so the same function subscribed twice unsubscribes once each.
      const own: InvalidationListener = (event) => listener(event);
      listeners.add(own);
      return () => {
        listeners.delete(own);
      };
    },
    emit(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (err) {
          report(err);
        }
      }
    },
    get size() {
      return listeners.size;
    },
    clear() {
      listeners.clear();
    },
  };
}
