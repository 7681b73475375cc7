import type { Logger } from '../../utils/logger.js';
import {
  createInvalidationListeners,
  type InvalidationListener,
  parseInvalidationEvent,
} from './invalidation-event.js';
import { createListeners } from './listeners.js';
import type { RedisClient, RedisConnection } from './redis-connection.js';
import type { InvalidationEvent } from './types.js';

export interface InvalidationChannel {
  publish(event: InvalidationEvent): Promise<void>;
  /** Hears events from every instance on the channel, this one included. */
  listen(listener: InvalidationListener): () => void;
  /**
   * Called when events may have been missed: the subscriber connection closed,
   * and again once it is subscribed anew. A local copy of anything must then be
   * distrusted. Opens the subscriber like listen() does.
   */
  onGap(listener: () => void): () => void;
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
  const gapListeners = createListeners<void>(
    log === undefined ? undefined : (err) => log.error({ err }, 'an invalidation gap listener threw'),
  );
  const gap = () => gapListeners.emit();

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
    let lost = false;
    sub.on('close', () => {
      if (closed || lost) return;
      lost = true;
      gap();
    });
    // Subscribed anew on reconnect (on a single node not by ioredis, see createSubscriber; after a
    // Cluster's own resubscribe a second SUBSCRIBE is harmless), and only once the subscription
    // stands are near copies distrusted: a copy taken between the reconnect and the SUBSCRIBE
    // reply could otherwise miss a purge published in that window.
    sub.on('ready', () => {
      if (!lost || closed) return;
      lost = false;
      sub.subscribe(channel).then(
        gap,
        // Lost again before the reply: 'close' reports that gap, and the next 'ready' subscribes again.
        (err: unknown) => log?.debug({ err, channel }, 'redis store: resubscribing failed'),
      );
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
    onGap(listener) {
      if (closed) return () => {};
      const remove = gapListeners.add(listener);
      if (subscriber === undefined) subscribe();
      return remove;
    },
    close() {
      closed = true;
      listeners.clear();
      gapListeners.clear();
    },
  };
}
