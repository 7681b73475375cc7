import { type CircuitState, ConsecutiveBreaker, type IBreaker, SamplingBreaker } from 'cockatiel';

/**
 * Opens when any of its breakers would. Every breaker sees every outcome,
 * so each keeps an honest count whichever one trips first.
 */
export class EitherBreaker implements IBreaker {
  readonly #breakers: readonly IBreaker[];

  constructor(breakers: readonly IBreaker[]) {
    this.#breakers = breakers;
  }

  get state(): unknown {
    return this.#breakers.map((b) => b.state);
  }

  set state(value: unknown) {
    if (!Array.isArray(value)) return;
    this.#breakers.forEach((b, i) => {
      b.state = value[i];
    });
  }

  success(state: CircuitState): void {
    for (const b of this.#breakers) b.success(state);
  }

  failure(state: CircuitState): boolean {
    let open = false;
    for (const b of this.#breakers) open = b.failure(state) || open;
    return open;
  }
}

export interface TripSettings {
  /** Consecutive failures that trip; 0 turns this threshold off. */
  readonly consecutiveFailures: number;
  /** Failure ratio over windowMs that trips; 0 turns this threshold off. */
  readonly errorRate?: number;
  readonly windowMs?: number;
  /** Calls in the window before the ratio may trip (so two failures of three calls do not). */
  readonly minRequests?: number;
}

/** The thresholds that are on, as one breaker; with none on it never trips. */
export function createTripBreaker(s: TripSettings): EitherBreaker {
  const breakers: IBreaker[] = [];
  if (s.consecutiveFailures > 0) breakers.push(new ConsecutiveBreaker(s.consecutiveFailures));
  const { errorRate = 0, windowMs = 10_000, minRequests = 1 } = s;
  if (errorRate > 0) {
    // cockatiel counts a minimum rate, not a minimum count: minRequests per window is that rate.
    breakers.push(
      new SamplingBreaker({
        threshold: errorRate,
        duration: windowMs,
        minimumRps: (minRequests * 1000) / windowMs,
      }),
    );
  }
  return new EitherBreaker(breakers);
}
