import { errorMessage, isTagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { InvalidationMode, InvalidationTarget, Store, StoredEntry } from '../store/types.js';

/**
 * The cache's side of the store: every failure is counted, logged once per
 * change of health at warn, and turned into "no entry" (fail open) so the
 * client never sees it.
 */
export function createStoreAccess(store: Store, metrics: Metrics, log: Logger) {
  let healthy = true;
  const getDuration = metrics.storeDuration.labels('get');
  const getErrors = metrics.storeErrors.labels('get');
  const putDuration = metrics.storeDuration.labels('put');

  const failed = (operation: string, err: unknown) => {
    metrics.storeErrors.labels(operation).inc();
    if (healthy) {
      healthy = false;
      log.warn(
        { operation, err: errorMessage(err), code: isTagcacheError(err) ? err.code : undefined },
        'store failing; serving from the backend (fail open)',
      );
    }
  };
  const succeeded = () => {
    if (!healthy) {
      healthy = true;
      log.info('store answering again; caching resumed');
    }
  };

  /**
   * get(), then `then` on an answer that comes as a promise (Redis), in the same promise step as
   * the get's own accounting, where `get(id).then(then)` would take one more per hit. An answer
   * found at once (memory, or a store that failed at once) comes back as it is, without `then`.
   */
  function getThen<R>(
    id: string,
    then: (entry: StoredEntry | undefined) => R | Promise<R>,
  ): StoredEntry | undefined | Promise<R> {
    let found: StoredEntry | undefined | Promise<StoredEntry | undefined>;
    try {
      found = store.get(id);
    } catch (err) {
      getErrors.inc();
      failed('get', err);
      return undefined;
    }
    if (!(found instanceof Promise)) return found;
    const started = performance.now();
    return found.then(
      (entry) => {
        getDuration.observe((performance.now() - started) / 1000);
        if (!healthy) succeeded();
        return then(entry);
      },
      (err: unknown) => {
        failed('get', err);
        return then(undefined);
      },
    );
  }

  return {
    /** The entry, or undefined when absent or the store failed. Memory answers without a promise. */
    get(id: string): StoredEntry | undefined | Promise<StoredEntry | undefined> {
      return getThen(id, same);
    },
    getThen,
    /**
     * 'refused': the store would not keep it (a purge after its fetch); 'failed': the store is in trouble.
     * One `then` on the store's promise, not an async function awaiting it: a step and a promise less per stored miss.
     */
    put(entry: StoredEntry, ttlMs: number): Promise<PutOutcome> {
      const started = performance.now();
      let written: Promise<boolean>;
      try {
        written = store.put(entry, ttlMs);
      } catch (err) {
        failed('put', err);
        return FAILED;
      }
      return written.then(
        (ok) => {
          putDuration.observe((performance.now() - started) / 1000);
          succeeded();
          return ok ? 'stored' : 'refused';
        },
        (err: unknown) => {
          failed('put', err);
          return 'failed';
        },
      );
    },
    async invalidate(target: InvalidationTarget, mode: InvalidationMode): Promise<number> {
      const started = performance.now();
      try {
        const { entries } = await store.invalidate(target, mode);
        metrics.storeDuration.labels('invalidate').observe((performance.now() - started) / 1000);
        succeeded();
        return entries;
      } catch (err) {
        failed('invalidate', err);
        return 0;
      }
    },
    async delete(id: string): Promise<void> {
      try {
        await store.delete(id);
      } catch (err) {
        failed('delete', err);
      }
    },
  };
}

const same = <T>(value: T): T => value;
const FAILED: Promise<PutOutcome> = Promise.resolve('failed');

export type StoreAccess = ReturnType<typeof createStoreAccess>;

export type PutOutcome = 'stored' | 'refused' | 'failed';
