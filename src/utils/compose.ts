import { TagcacheError } from './errors.js';

export type Next = () => Promise<void>;
export type Middleware<C> = (ctx: C, next: Next) => Promise<void>;

/**
 * The one pipeline engine: an onion of middlewares. A stage short-circuits by
 * not calling next(); calling it twice is a programming error and rejects.
 */
export function compose<C>(stages: readonly Middleware<C>[]): (ctx: C) => Promise<void> {
  return (ctx) => {
    let called = -1;
    const dispatch = (i: number): Promise<void> => {
      if (i <= called) {
        return Promise.reject(
          new TagcacheError('TC_PIPELINE', `stage ${stages[i - 1]?.name || i - 1} called next() twice`),
        );
      }
      called = i;
      const stage = stages[i];
      if (stage === undefined) return Promise.resolve();
      try {
        return stage(ctx, () => dispatch(i + 1));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return dispatch(0);
  };
}
