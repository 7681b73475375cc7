import { TagcacheError } from './errors.js';

/**
 * What a stage and next() return: nothing when the stage finished at once (a
 * hit from memory), a promise when it had to wait. A hit that never makes a
 * promise is written in the same turn of the event loop it arrived in.
 */
export type Done = void | Promise<void>;
export type Next = () => Done;
export type Middleware<C> = (ctx: C, next: Next) => Done;

/**
 * A stage that acts only on the way back, once the stages inside it have
 * answered (`after`) or failed (`failed`; the failure then passes on as it
 * was). Consecutive ones wait on the inner stages together: one step of their
 * promise for the lot, where an async middleware each would cost a promise
 * and a turn of the microtask queue apiece on every request that waits.
 */
export interface AfterStage<C> {
  readonly name: string;
  after?(ctx: C): void;
  failed?(ctx: C, err: unknown): void;
}

export type StageOf<C> = Middleware<C> | AfterStage<C>;

/**
 * The one pipeline engine: an onion of middlewares. A stage short-circuits by
 * not calling next(); calling it twice is a programming error and rejects.
 * A stage that throws at once becomes a rejected promise, so callers handle
 * failures in one place.
 */
export function compose<C>(stages: readonly StageOf<C>[]): (ctx: C) => Done {
  const units = groupAfterStages(stages);
  return (ctx) => {
    let called = -1;
    const dispatch = (i: number): Done => {
      if (i <= called) {
        return Promise.reject(
          new TagcacheError('TC_PIPELINE', `stage ${nameOf(units[i - 1]) || i - 1} called next() twice`),
        );
      }
      called = i;
      const unit = units[i];
      if (unit === undefined) return;
      try {
        if (typeof unit === 'function') return unit(ctx, () => dispatch(i + 1));
        const inner = dispatch(i + 1);
        if (inner === undefined) return settle(ctx, unit, false, undefined);
        return inner.then(
          () => settle(ctx, unit, false, undefined),
          (err: unknown) => settle(ctx, unit, true, err),
        );
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return dispatch(0);
  };
}

/** Runs of consecutive after-stages, outermost first, as one unit each. */
function groupAfterStages<C>(stages: readonly StageOf<C>[]): (Middleware<C> | AfterStage<C>[])[] {
  const units: (Middleware<C> | AfterStage<C>[])[] = [];
  for (const stage of stages) {
    if (typeof stage === 'function') units.push(stage);
    else {
      const last = units[units.length - 1];
      if (Array.isArray(last)) last.push(stage);
      else units.push([stage]);
    }
  }
  return units;
}

/**
 * The way back through a run of after-stages, innermost first, as if each
 * had awaited the one inside it: one that throws fails those outside it.
 */
function settle<C>(ctx: C, run: readonly AfterStage<C>[], failing: boolean, error: unknown): void {
  let err = error;
  let failed = failing;
  for (let k = run.length - 1; k >= 0; k--) {
    const stage = run[k] as AfterStage<C>;
    if (failed) {
      stage.failed?.(ctx, err);
      continue;
    }
    try {
      stage.after?.(ctx);
    } catch (thrown) {
      failed = true;
      err = thrown;
    }
  }
  if (failed) throw err;
}

function nameOf<C>(unit: Middleware<C> | AfterStage<C>[] | undefined): string {
  if (unit === undefined) return '';
  return typeof unit === 'function' ? unit.name : unit.map((s) => s.name).join('+');
}
