import type { Tracing } from '../tracing/index.js';

/**
 * One background refresh per entry at a time: every stale hit in the
 * stale-while-revalidate window asks, one refresh runs. Traced, each refresh
 * is a trace of its own, linked to the request that set it off.
 */
export function createRefresher(onError: (err: unknown) => void, tracing?: Pick<Tracing, 'detached'>) {
  const running = new Map<string, Promise<void>>();
  return {
    once(id: string, refresh: () => Promise<void>): boolean {
      if (running.has(id)) return false;
      const p = (tracing === undefined ? refresh() : tracing.detached('tagcache.revalidate', refresh))
        .catch(onError)
        .finally(() => running.delete(id));
      running.set(id, p);
      return true;
    },
    /** Waits for refreshes under way (shutdown). */
    async settle(): Promise<void> {
      await Promise.allSettled([...running.values()]);
    },
    get size(): number {
      return running.size;
    },
  };
}

export type Refresher = ReturnType<typeof createRefresher>;
