import type { Readable } from 'node:stream';
import { errorMessage } from '../../utils/errors.js';
import { RetryLaterError } from '../../utils/retry-later.js';
import type { Metrics } from '../metrics/registry.js';
import type { Balancer } from './balancer.js';
import { isBackendFailure, type OriginBreakers, type OriginCircuit } from './breaker.js';
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from './client.js';
import { originKey } from './origin-key.js';
import { mayRetry } from './retry.js';

export interface DispatchDeps {
  readonly client: UpstreamClient;
  readonly breakers: OriginBreakers;
  readonly balancer: Balancer;
  /** Extra tries on other origins for idempotent requests that never reached a backend. */
  readonly retries: number;
  readonly metrics: Pick<Metrics, 'upstreamRetries'>;
}

export interface DispatchInfo {
  /** The route's name, for the retries metric. */
  readonly route: string;
  /** Told each origin as it is tried. */
  readonly onPick?: (origin: URL) => void;
}

export type Dispatch = (
  origins: readonly URL[],
  req: Omit<UpstreamRequest, 'origin'>,
  info: DispatchInfo,
) => Promise<UpstreamResponse>;

/**
 * Sends a request to one of a route's origins: the balancer picks among
 * those whose circuit lets it through, the circuit counts the outcome, and
 * a request that never reached its backend (connection refused or timed
 * out) goes to another origin when it is idempotent and its body is unread.
 * With every circuit open it fails at once with TC_UPSTREAM_CIRCUIT_OPEN,
 * touching no network, except for the few requests a second panic mode
 * sends anyway (Envoy's panic threshold: the last backend is never given up
 * on entirely); one that is answered closes its backend's circuit.
 */
export function createDispatch(deps: DispatchDeps): Dispatch {
  const { client, breakers, balancer, retries, metrics } = deps;
  const admits = (origin: URL) => breakers.of(origin).admits();
  const panicDue = (origin: URL) => breakers.of(origin).panicDue();

  return function dispatch(origins, req, { route, onPick }) {
    // The origins tried so far: made at the first retry (most requests are answered at the first try).
    let tried: Set<string> | undefined;
    // One try; its failure decides whether another origin gets the next. Written as a chain rather
    // than an async loop: a request answered at the first try costs one promise here, not three.
    const attempt = (
      n: number,
      last: { err: unknown; origin: URL } | undefined,
    ): Promise<UpstreamResponse> => {
      const excluded = tried ?? NONE_TRIED;
      let origin = balancer.pick(origins, admits, excluded);
      // Every circuit refuses: panic, once per request, when a backend's panic allowance is due.
      const panic = origin === undefined && n === 0;
      if (panic) origin = balancer.pick(origins, panicDue, excluded);
      if (origin === undefined) {
        return Promise.reject(
          last === undefined
            ? allRefused(origins, breakers)
            : asOutage(last.err, last.origin, breakers.of(last.origin)),
        );
      }
      const picked = origin;
      if (n > 0) metrics.upstreamRetries.labels(route).inc();
      onPick?.(picked);
      const done = balancer.begin(picked);
      const circuit = breakers.of(picked);
      const send = () => client.request(toOrigin(req, picked));
      return (panic ? circuit.panic(send) : circuit.execute(send)).then(
        (res) => {
          releaseWhenClosed(res.body, done);
          return res;
        },
        (err: unknown) => {
          done();
          if (isBackendFailure(err)) balancer.eject(picked);
          if (panic || n >= retries || !mayRetry(req.method, req.body, err)) {
            throw asOutage(err, picked, circuit);
          }
          tried ??= new Set<string>();
          tried.add(originKey(picked));
          return attempt(n + 1, { err, origin: picked });
        },
      );
    };
    return attempt(0, undefined);
  };
}

const NONE_TRIED: ReadonlySet<string> = new Set();

/**
 * The failure that opened the circuit (the last straw, or a half-open probe
 * that found the backend still down) is answered like the requests the open
 * circuit refuses from then on: a 503 the cache may replace with its stale
 * copy, whatever that copy's stale-if-error window says.
 */
function asOutage(err: unknown, origin: URL, circuit: OriginCircuit): unknown {
  if (!isBackendFailure(err) || circuit.state !== 'open') return err;
  return new RetryLaterError(
    'TC_UPSTREAM_CIRCUIT_OPEN',
    `backend ${origin.host} failed (${errorMessage(err)}) and its circuit opened`,
    503,
    circuit.retryInMs(),
    { cause: err },
  );
}

/**
 * The request addressed to one origin, field by field: on Node 20 a spread
 * (`{ ...req, origin }`) costs far more per request (bench/README.md).
 */
function toOrigin(req: Omit<UpstreamRequest, 'origin'>, origin: URL): UpstreamRequest {
  return {
    origin,
    method: req.method,
    path: req.path,
    headers: req.headers,
    body: req.body,
    client: req.client,
    onInfo: req.onInfo,
  } satisfies EveryField<UpstreamRequest>;
}

/** Every field named, optional ones too: a field added to UpstreamRequest cannot be left out above. */
type EveryField<T> = { [K in keyof Required<T>]: T[K] | undefined };

/**
 * An origin is busy until its response body is consumed or dropped, not just until headers.
 * `on`, not `once`: a stream closes once, and once's wrapper is two more objects per request.
 */
function releaseWhenClosed(body: Readable, done: () => void): void {
  if (body.closed || body.destroyed) done();
  else body.on('close', done);
}

function allRefused(origins: readonly URL[], breakers: OriginBreakers): RetryLaterError {
  const retryInMs = Math.min(...origins.map((o) => breakers.of(o).retryInMs()));
  const which = origins.length === 1 ? `backend ${origins[0]?.host}` : `all ${origins.length} backends`;
  return new RetryLaterError(
    'TC_UPSTREAM_CIRCUIT_OPEN',
    `the circuit for ${which} is open; failing fast`,
    503,
    Number.isFinite(retryInMs) ? retryInMs : 1000,
  );
}
