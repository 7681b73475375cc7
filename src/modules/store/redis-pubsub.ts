import type { Logger } from '../../utils/logger.js';
import { parseInvalidationEvent } from './invalidation-event.js';
import { createInvalidationListeners, type InvalidationListener } from './listeners.js';
import type { RedisClient, RedisConnection } from './redis-connection.js';
import type { InvalidationEvent } from './types.js';

export interface InvalidationChannel {
  publish(event: InvalidationEvent): Promise<void>;
  /** Hears events from every instance on the channel, this one included. */
  listen(listener: InvalidationListener): () => void;
  close(): void;
}

/**
 * Cross-instance invalidation events over Redis pub/sub. PUBLISH reaches every
 * node of a Cluster, so one plain subscription suffices there too. The
 * subscriber connection is opened on the first listen(); ioredis subscribes
 * it again after every reconnect (autoResubscribe).
 */
export function createInvalidationChannel(
  conn: RedisConnection,
  channel: string,
  log: Logger | undefined,
): InvalidationChannel {
  const listeners = createInvalidationListeners(
    log === undefined ? undefined : (err) => log.error({ err }, 'an invalidation listener threw'),
  );
  let subscriber: RedisClient | undefined;
  let closed = false;

  function subscribe(): void {
    const sub = conn.createSubscriber();
    sub.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const event = parseInvalidationEvent(message);
      if (event === undefined) {
        log?.debug({ channel }, 'ignored a malformed invalidation message');
        return;
      }
      listeners.emit(event);
    });
    sub.subscribe(channel).catch((err: unknown) => {
      log?.warn({ err, channel }, 'redis store: subscribing to invalidation events failed');
    });
    subscriber = sub;
  }

  return {
    async publish(event) {
      await conn.client.publish(channel, JSON.stringify(event));
    },
    listen(listener) {
      if (closed) return () => {};
      const remove = listeners.add(listener);
      if (subscriber === undefined) subscribe();
      return remove;
    },
    close() {
      closed = true;
      listeners.clear();
    },
  };
}
