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
import { isProtocolFailure, type UpstreamResponse } from './client.js';

export type BreakerSettings = Pick<
  Config,
  | 'breakerConsecutiveFailures'
  | 'breakerErrorRate'
  | 'breakerWindowMs'
  | 'breakerMinRequests'
  | 'breakerOpenMs'
  | 'breakerFailureStatuses'
  | 'breakerPanicRps'
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
 * What counts against a backend by default: transport failures only — it
 * could not be reached, timed out or reset (thrown by the client), as nginx
 * counts. Never counted: an answer of any status unless
 * BREAKER_FAILURE_STATUSES names it (a 503 from one URL — a maintenance
 * page, a rate limit — says nothing about the others), an answer that is
 * not valid HTTP or whose header block is too large (one URL's answer), a
 * client that went away mid-request (an abort), and a request undici refuses
 * to send (a "*" target, a bad field: TC_BAD_REQUEST) — any client could
 * provoke those at will.
 */
export function isBackendFailure(err: unknown): boolean {
  return (
    (isTagcacheError(err, 'TC_UPSTREAM_UNREACHABLE') ||
      isTagcacheError(err, 'TC_UPSTREAM_TIMEOUT') ||
      isTagcacheError(err, 'TC_UPSTREAM_RESET')) &&
    !isProtocolFailure(err)
  );
}

/** How metrics and /health/ready name an origin: host:port, the port spelled out even when it is the default. */
export function originName(origin: URL): string {
  return `${origin.hostname}:${origin.port || (origin.protocol === 'https:' ? '443' : '80')}`;
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
  const failedStatuses = new Set(settings.breakerFailureStatuses);
  const isFailedAnswer = (res: UpstreamResponse): boolean => failedStatuses.has(res.status);

  function make(origin: URL): OriginCircuit {
    const name = originName(origin);
    const circuit = createCircuit<UpstreamResponse>({
      breaker: createTripBreaker(breakerSettings),
      openMs: settings.breakerOpenMs,
      isFailure: isBackendFailure,
      isFailedResult: isFailedAnswer,
      panicPerSecond: settings.breakerPanicRps,
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

  // The same URL objects (settings, route table) ask on every request: found without building their name.
  const byUrl = new WeakMap<URL, OriginCircuit>();

  return {
    of(origin) {
      const known = byUrl.get(origin);
      if (known !== undefined) return known;
      const name = originName(origin);
      let circuit = circuits.get(name);
      if (circuit === undefined) {
        circuit = make(origin);
        circuits.set(name, circuit);
      }
      byUrl.set(origin, circuit);
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
