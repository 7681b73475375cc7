/** Reports a listener that threw; the default makes it a process warning, never a silent loss. */
export type ListenerErrorReporter = (err: unknown) => void;

const warnProcess: ListenerErrorReporter = (err) => {
  process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'TagcacheInvalidationListener');
};

export interface Listeners<T> {
  add(listener: (value: T) => void): () => void;
  emit(value: T): void;
  readonly size: number;
  clear(): void;
}

/**
 * A listener set: a throwing listener is reported and the others still hear
 * the event: one broken subscriber must not undo an invalidation.
 */
export function createListeners<T>(report: ListenerErrorReporter = warnProcess): Listeners<T> {
  const listeners = new Set<(value: T) => void>();
  return {
    add(listener) {
      // A wrapper per call, so the same function subscribed twice unsubscribes once each.
      const own = (value: T) => listener(value);
      listeners.add(own);
      return () => {
        listeners.delete(own);
      };
    },
    emit(value) {
      for (const listener of listeners) {
        try {
          listener(value);
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
