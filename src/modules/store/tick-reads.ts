export interface TickReads<V> {
  /** read(id), or the promise of a read of the same id already asked for this turn of the event loop. */
  read(id: string): Promise<V>;
  /** Later reads go to the store again: call before any write, so a read after it never gets an answer from before it. */
  forget(): void;
}

/**
 * Reads of one id asked for in the same turn of the event loop share one
 * command. The store's commands of a turn leave together when the turn ends
 * (RedisConnection.batch), so a second read of the id would be answered
 * by the same Redis state a moment later: both callers get the first one's
 * answer, and a hot key under many concurrent hits costs one round trip per
 * turn rather than one per request. Callers settle in the order they asked.
 */
export function tickReads<V>(read: (id: string) => Promise<V>): TickReads<V> {
  let asked = new Map<string, Promise<V>>();
  let scheduled = false;
  const turnEnds = () => {
    scheduled = false;
    asked = new Map();
  };
  return {
    read(id) {
      let pending = asked.get(id);
      if (pending === undefined) {
        pending = read(id);
        asked.set(id, pending);
        if (!scheduled) {
          scheduled = true;
          setImmediate(turnEnds);
        }
      }
      return pending;
    },
    forget() {
      if (asked.size > 0) asked = new Map();
    },
  };
}
