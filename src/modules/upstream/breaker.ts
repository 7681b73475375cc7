import type { Config } from '../../utils/config.js';
import { isTagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import { RetryLaterError } from '../../utils/retry-later.js';
import {
  CIRCUIT_STATE_VALUE,
  type Circuit,
  type CircuitStateName,
  createCircuit,
  createTripBreaker,
} from '../circuit/index.js';
import type { Metrics } from '../metrics/registry.js';
import type { UpstreamResponse } from './client.js';

export type BreakerSettings = Pick<
  Config,
  | 'breakerConsecutiveFailures'
  | 'breakerErrorRate'
  | 'breakerWindowMs'
  | 'breakerMinRequests'
  | 'breakerOpenMs'
>;

export type OriginCircuit = Circuit<UpstreamResponse>;

export interface CircuitReport {
  readonly state: CircuitStateName;
  /** Milliseconds until an open circuit lets a probe through. */
  readonly retryInMs: number;
}

export interface OriginBreakers {
  /** The origin's circuit, made on first use. */
  of(origin: URL): OriginCircuit;
  /** Every known origin's circuit, keyed by host:port (for /health/ready). */
  report(): Record<string, CircuitReport>;
  /** Called when any origin's circuit opens (the balancer ejects it). */
  onOpen(listener: (origin: URL) => void): void;
}

/**
 * What counts against a backend: it could not be reached, timed out or reset
 * (thrown by the client), or it answered 502, 503 or 504 — the statuses of a
 * backend or its own gateway in trouble. A 500 is one URL's bug, not an
 * outage, and a client that went away says nothing about the backend.
 */
export function isBackendFailure(err: unknown): boolean {
  return (
    isTagcacheError(err, 'TC_UPSTREAM_UNREACHABLE') ||
    isTagcacheError(err, 'TC_UPSTREAM_TIMEOUT') ||
    isTagcacheError(err, 'TC_UPSTREAM_RESET')
  );
}

const FAILED_STATUSES = new Set([502, 503, 504]);

/** How metrics and /health/ready name an origin: host:port, the port spelled out even when it is the default. */
export function originName(origin: URL): string {
  return `${origin.hostname}:${origin.port || (origin.protocol === 'https:' ? '443' : '80')}`;
}

export function isFailedAnswer(res: UpstreamResponse): boolean {
  return FAILED_STATUSES.has(res.status);
}

/** One circuit breaker per backend origin, reported in metrics and logged when it opens or closes. */
export function createOriginBreakers(
  settings: BreakerSettings,
  metrics: Metrics,
  log: Logger,
): OriginBreakers {
  const circuits = new Map<string, OriginCircuit>();
  const openListeners: ((origin: URL) => void)[] = [];
  const breakerSettings = {
    consecutiveFailures: settings.breakerConsecutiveFailures,
    errorRate: settings.breakerErrorRate,
    windowMs: settings.breakerWindowMs,
    minRequests: settings.breakerMinRequests,
  };

  function make(origin: URL): OriginCircuit {
    const name = originName(origin);
    const circuit = createCircuit<UpstreamResponse>({
      breaker: createTripBreaker(breakerSettings),
      openMs: settings.breakerOpenMs,
      isFailure: isBackendFailure,
      isFailedResult: isFailedAnswer,
      refused: (retryInMs) =>
        new RetryLaterError(
          'TC_UPSTREAM_CIRCUIT_OPEN',
          `the circuit for backend ${origin.host} is open; retry in ${Math.ceil(retryInMs / 1000)} s`,
          503,
          retryInMs,
        ),
    });
    metrics.upstreamCircuitState.labels(name).set(CIRCUIT_STATE_VALUE.closed);
    circuit.onTransition((to, from) => {
      metrics.upstreamCircuitState.labels(name).set(CIRCUIT_STATE_VALUE[to]);
      metrics.upstreamCircuitTransitions.labels(name, to).inc();
      if (to === 'open') {
        // Once per outage at warn; each failed half-open probe after that only at debug.
        log[from === 'closed' ? 'warn' : 'debug'](
          { origin: name, retryInMs: settings.breakerOpenMs },
          'backend circuit open; failing fast',
        );
        for (const listener of openListeners) listener(origin);
      } else if (to === 'closed') {
        log.info({ origin: name }, 'backend circuit closed; backend answering again');
      }
    });
    return circuit;
  }

  return {
    of(origin) {
      const name = originName(origin);
      let circuit = circuits.get(name);
      if (circuit === undefined) {
        circuit = make(origin);
        circuits.set(name, circuit);
      }
      return circuit;
    },
    report() {
      const out: Record<string, CircuitReport> = {};
      for (const [name, circuit] of circuits)
        out[name] = { state: circuit.state, retryInMs: circuit.retryInMs() };
      return out;
    },
    onOpen(listener) {
      openListeners.push(listener);
    },
  };
}
