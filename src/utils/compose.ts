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
 * The one pipeline engine: an onion of middlewares. A stage short-circuits by
 * not calling next(); calling it twice is a programming error and rejects.
 * A stage that throws at once becomes a rejected promise, so callers handle
 * failures in one place.
 */
export function compose<C>(stages: readonly Middleware<C>[]): (ctx: C) => Done {
  return (ctx) => {
    let called = -1;
    const dispatch = (i: number): Done => {
      if (i <= called) {
        return Promise.reject(
          new TagcacheError('TC_PIPELINE', `stage ${stages[i - 1]?.name || i - 1} called next() twice`),
        );
      }
      called = i;
      const stage = stages[i];
      if (stage === undefined) return;
      try {
        return stage(ctx, () => dispatch(i + 1));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return dispatch(0);
  };
}
