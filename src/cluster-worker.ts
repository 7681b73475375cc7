import { AggregatorRegistry } from 'prom-client';
import type { AppOps } from './app.js';
import { isOpRequest, type OpReply } from './cluster-ipc.js';
import type { EntriesQuery } from './handlers/entries.js';
import type { InvalidationOrigin, InvalidationRequest } from './modules/invalidation/index.js';
import { errorMessage } from './utils/errors.js';
import type { Logger } from './utils/logger.js';

/** A worker answers the primary's admin operations with its own app. */
export function serveWorkerOps(ops: AppOps, log: Logger): void {
  // prom-client answers the primary's clusterMetrics() only once an AggregatorRegistry has been
  // constructed in the worker (the constructor installs the listener; setRegistries alone does not).
  new AggregatorRegistry();
  process.on('message', (msg: unknown) => {
    if (!isOpRequest(msg)) return;
    const run = async (): Promise<unknown> => {
      switch (msg.op) {
        case 'ready':
          return ops.ready();
        case 'invalidate': {
          const { request, origin } = msg.payload as {
            request: InvalidationRequest;
            origin: InvalidationOrigin;
          };
          return ops.invalidate(request, origin);
        }
        case 'history':
          return ops.history(msg.payload as number);
        case 'entries':
          return ops.entries(msg.payload as EntriesQuery);
        case 'reloadRoutes':
          return ops.reloadRoutes();
      }
    };
    run().then(
      (value) => reply({ type: 'tagcache:reply', id: msg.id, ok: true, value }),
      (err: unknown) => {
        log.warn({ err: errorMessage(err), op: msg.op }, 'worker operation failed');
        reply({ type: 'tagcache:reply', id: msg.id, ok: false, error: errorMessage(err) });
      },
    );
  });
}

function reply(message: OpReply): void {
  // The primary may be gone during shutdown; there is nobody left to tell.
  if (process.connected) process.send?.(message);
}
