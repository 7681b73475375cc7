import {
  BrokenCircuitError,
  CircuitState,
  circuitBreaker,
  handleWhen,
  type IBreaker,
  IsolatedCircuitError,
} from 'cockatiel';

export type CircuitStateName = 'closed' | 'open' | 'half-open';

/** The gauge value of each state: 0 closed, 1 open, 2 half-open. */
export const CIRCUIT_STATE_VALUE: Readonly<Record<CircuitStateName, number>> = {
  closed: 0,
  open: 1,
  'half-open': 2,
};

export interface CircuitOptions<T> {
  readonly breaker: IBreaker;
  /** How long the circuit stays open before one call may probe. */
  readonly openMs: number;
  /** Thrown errors that count against the backend; anything else (a client abort) passes untouched. */
  readonly isFailure: (err: unknown) => boolean;
  /** Results that count as failures although they resolved (a 503 answer). */
  readonly isFailedResult?: (value: T) => boolean;
  /** What a refused call rejects with; retryInMs is how long until a probe may go. */
  readonly refused: (retryInMs: number) => Error;
  /** Calls per second `panic` may still make while the circuit refuses; 0 or unset: none. */
  readonly panicPerSecond?: number;
}

export interface Circuit<T> {
  readonly state: CircuitStateName;
  /** True when a call would run now: closed, or open long enough for this call to be the probe. */
  admits(): boolean;
  /** Milliseconds until a probe may go: 0 when closed or due; about a second while a probe is out. */
  retryInMs(): number;
  /**
   * Runs fn through the breaker. While open, and while the one half-open
   * probe is in flight, rejects at once with `refused` and never calls fn.
   */
  execute<R extends T>(fn: () => Promise<R>): Promise<R>;
  /** True when the circuit refuses but a panic call is due (see `panic`). */
  panicDue(): boolean;
  /**
   * Runs fn although the circuit refuses, at most panicPerSecond times a
   * second (rejects with `refused` past that). Its failure is not counted
   * (the circuit is open already); an answer that is not a failure closes
   * the circuit, as a good half-open probe would.
   */
  panic<R extends T>(fn: () => Promise<R>): Promise<R>;
  /** Called on every change of state, with the state left (a failed probe goes half-open → open). */
  onTransition(listener: (to: CircuitStateName, from: CircuitStateName) => void): void;
}

const NAMES: Readonly<Record<number, CircuitStateName>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

/**
 * A cockatiel circuit breaker with one change of behaviour: cockatiel makes
 * calls that arrive during the half-open probe wait for its outcome, which
 * would hold a client for as long as a failing backend takes to time out.
 * Here they are refused at once, like calls to an open circuit, so exactly
 * one probe goes to the backend and nobody else waits.
 */
export function createCircuit<T>(opts: CircuitOptions<T>): Circuit<T> {
  const isFailedResult = opts.isFailedResult ?? (() => false);
  const policy = circuitBreaker(
    handleWhen((err) => opts.isFailure(err)).orWhenResult((value) => isFailedResult(value as T)),
    { halfOpenAfter: opts.openMs, breaker: opts.breaker },
  );
  let openedAt = 0;
  policy.onBreak(() => {
    openedAt = Date.now();
  });

  const retryInMs = (): number => {
    const state = policy.state;
    // The probe is out and its answer is near: come back in a second rather than a whole open period.
    if (state === CircuitState.HalfOpen) return 1_000;
    if (state !== CircuitState.Open) return 0;
    return Math.max(0, openedAt + opts.openMs - Date.now());
  };
  const admits = (): boolean => {
    const state = policy.state;
    return state === CircuitState.Closed || (state === CircuitState.Open && retryInMs() === 0);
  };
  const panicGapMs =
    opts.panicPerSecond !== undefined && opts.panicPerSecond > 0 ? 1000 / opts.panicPerSecond : 0;
  let lastPanicAt = Number.NEGATIVE_INFINITY;
  const panicDue = (): boolean => panicGapMs > 0 && !admits() && Date.now() - lastPanicAt >= panicGapMs;
  /** Closed from outside a probe: cockatiel closes an isolated circuit when its hold is released. */
  const close = (): void => {
    if (policy.state === CircuitState.Closed) return;
    policy.isolate().dispose();
    // Its counts start over, as after a good probe.
    opts.breaker.success(CircuitState.HalfOpen);
  };

  /** cockatiel's own execute: outside the closed state, and for every outcome it counts as a failure. */
  async function viaPolicy<R>(fn: () => Promise<R>): Promise<R> {
    try {
      return await policy.execute(() => fn());
    } catch (err) {
      // cockatiel's own refusal, should its clock and ours disagree by a millisecond.
      if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
        throw opts.refused(retryInMs());
      }
      throw err;
    }
  }
  /**
   * A failed outcome of a call made while closed. Still closed: cockatiel counts it (and opens the
   * circuit if that was the last straw) and hands the outcome back. Opened meanwhile by other calls:
   * counted against the breaker only, the outcome passed on as it came.
   */
  function failed<R>(outcome: () => Promise<R>): Promise<R> {
    if (policy.state === CircuitState.Closed) return viaPolicy(outcome);
    opts.breaker.failure(CircuitState.Closed);
    return outcome();
  }

  return {
    get state() {
      return NAMES[policy.state] ?? 'closed';
    },
    admits,
    retryInMs,
    execute<R extends T>(fn: () => Promise<R>): Promise<R> {
      if (!admits()) return Promise.reject(opts.refused(retryInMs()));
      if (policy.state !== CircuitState.Closed) return viaPolicy(fn);
      // Closed, the common case: cockatiel's execute would only call breaker.success (two async
      // frames and a result object per call for that). Anything it would count as a failure goes
      // through it, so opening, half-open probes and events stay cockatiel's.
      let pending: Promise<R>;
      try {
        pending = fn();
      } catch (err) {
        pending = Promise.reject(err);
      }
      return pending.then(
        (value) => {
          if (!isFailedResult(value)) {
            opts.breaker.success(CircuitState.Closed);
            return value;
          }
          return failed(() => Promise.resolve(value));
        },
        (err: unknown) => {
          // Not the backend's doing (a client abort): cockatiel neither counts nor records it.
          if (!opts.isFailure(err)) throw err;
          return failed(() => Promise.reject(err));
        },
      );
    },
    panicDue,
    async panic(fn) {
      if (!panicDue()) throw opts.refused(retryInMs());
      lastPanicAt = Date.now();
      const value = await fn();
      if (!isFailedResult(value)) close();
      return value;
    },
    onTransition(listener) {
      let from: CircuitStateName = NAMES[policy.state] ?? 'closed';
      policy.onStateChange((state) => {
        const to = NAMES[state] ?? 'closed';
        const left = from;
        from = to;
        // Closing from outside passes through cockatiel's "isolated", which is open by another name.
        if (to !== left) listener(to, left);
      });
    },
  };
}
