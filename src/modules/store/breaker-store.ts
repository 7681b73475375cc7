import { errorMessage, isTagcacheError, TagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import {
  CIRCUIT_STATE_VALUE,
  type CircuitStateName,
  createCircuit,
  createTripBreaker,
} from '../circuit/index.js';
import type { Metrics } from '../metrics/registry.js';
import type { Store } from './types.js';

export interface StoreBreakerOptions {
  /** Consecutive failures (errors or timeouts) that open the circuit. */
  readonly failures: number;
  /** How long it stays open before one PING decides. */
  readonly openMs: number;
  readonly metrics: Pick<Metrics, 'storeCircuitState' | 'storeCircuitTransitions'>;
  readonly log: Logger;
}

export interface BreakerStore extends Store {
  /** The circuit's state, for /health/ready. */
  circuit(): { readonly state: CircuitStateName; readonly retryInMs: number };
}

/** Failures that say the store is in trouble; anything else (a bad entry) is not the connection's fault. */
function isStoreFailure(err: unknown): boolean {
  return isTagcacheError(err, 'TC_STORE_UNAVAILABLE') || isTagcacheError(err, 'TC_STORE_TIMEOUT');
}

/**
 * A Store whose calls stop reaching a failing Redis. After `failures`
 * consecutive errors or timeouts every call fails at once with
 * TC_STORE_UNAVAILABLE — the cache fails open to the backend without paying
 * STORE_TIMEOUT_MS per request — until, openMs later, one PING in the
 * background finds the store answering and closes the circuit again. Calls
 * keep failing fast while that PING is out; nobody waits on it.
 */
export function withStoreBreaker(inner: Store, opts: StoreBreakerOptions): BreakerStore {
  const { metrics, log } = opts;
  const circuit = createCircuit<unknown>({
    breaker: createTripBreaker({ consecutiveFailures: opts.failures }),
    openMs: opts.openMs,
    isFailure: isStoreFailure,
    refused: (retryInMs) =>
      new TagcacheError(
        'TC_STORE_UNAVAILABLE',
        `store circuit open after repeated failures; next check in ${Math.ceil(retryInMs)} ms`,
        503,
      ),
  });
  const probe = () => {
    if (circuit.state !== 'open' || !circuit.admits()) return;
    circuit
      .execute(() => inner.ping())
      .catch((err: unknown) => {
        // The probe's failure re-opened the circuit (and scheduled the next probe); that is all it had to say.
        log.debug({ err: errorMessage(err) }, 'store probe failed; circuit stays open');
      });
  };
  let timer: NodeJS.Timeout | undefined;
  metrics.storeCircuitState.set(CIRCUIT_STATE_VALUE.closed);
  circuit.onTransition((to, from) => {
    metrics.storeCircuitState.set(CIRCUIT_STATE_VALUE[to]);
    metrics.storeCircuitTransitions.labels(to).inc();
    if (to === 'open') {
      // Once per outage at warn; each failed probe after that only at debug.
      log[from === 'closed' ? 'warn' : 'debug'](
        { retryInMs: opts.openMs },
        'store circuit open; store calls fail fast',
      );
      // Recovery must not wait for traffic: an idle instance closes its circuit (and turns ready) on its own.
      clearTimeout(timer);
      timer = setTimeout(probe, opts.openMs + 1);
      timer.unref();
    } else if (to === 'closed') log.info('store circuit closed; store calls resume');
  });

  /** Runs a call through the circuit; an open circuit due for its probe sends a PING instead. */
  function guard<R>(call: () => Promise<R>): Promise<R> {
    probe();
    return circuit.execute(call);
  }

  return {
    kind: inner.kind,
    // Promise.resolve hands a promise back as it is: an async wrapper would cost every hit two more turns.
    get: (id) => guard(() => Promise.resolve(inner.get(id))),
    put: (entry, ttlMs) => guard(() => inner.put(entry, ttlMs)),
    delete: (id) => guard(() => inner.delete(id)),
    invalidate: (target, mode) => guard(() => inner.invalidate(target, mode)),
    onInvalidation: (listener) => inner.onInvalidation(listener),
    recordInvalidation: (record) => guard(() => inner.recordInvalidation(record)),
    recentInvalidations: (limit) => guard(() => inner.recentInvalidations(limit)),
    inspectKey: (key) => guard(() => inner.inspectKey(key)),
    inspectTag: (tag, limit) => guard(() => inner.inspectTag(tag, limit)),
    lease: (key, ms, options) => guard(() => inner.lease(key, ms, options)),
    release: (key, outcome, hitForMissMs) => guard(() => inner.release(key, outcome, hitForMissMs)),
    onFilled: (key, listener) => inner.onFilled(key, listener),
    // Not guarded: /health/ready reports what Redis says, whatever the circuit thinks.
    ping: () => inner.ping(),
    stats: () => inner.stats(),
    close: () => {
      clearTimeout(timer);
      return inner.close();
    },
    circuit: () => ({ state: circuit.state, retryInMs: circuit.retryInMs() }),
  };
}
