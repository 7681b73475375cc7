import { readFileSync } from 'node:fs';
import { errorMessage, TagcacheError } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import { watchFile } from '../../utils/watch-file.js';
import { createTokenSet, envToken, type Known, parseTokensText, type TokenSet } from './token-set.js';

export interface TokenSourceOptions {
  /** INVALIDATE_TOKEN: one token with every scope. */
  readonly token: string | undefined;
  /** INVALIDATE_TOKENS_FILE. */
  readonly file: string | undefined;
  readonly log: Logger;
  /** Reload the file when it changes; default true. */
  readonly watch?: boolean;
}

export interface TokenSource {
  /** The tokens in force; undefined when neither setting names one (the admin API is then off). */
  current(): TokenSet | undefined;
  /** Re-reads the file; false when it was rejected and the previous set stays. */
  reload(): boolean;
  close(): void;
}

/**
 * The live token set. The file is read at once (a bad one throws
 * TC_CONFIG_INVALID, which stops start-up), then reloaded on change like
 * routes.json: a rejected file never replaces a good set; it is logged with
 * the reason.
 */
export function createTokenSource(opts: TokenSourceOptions): TokenSource {
  const { token, file, log } = opts;
  const fixed = token === undefined ? [] : [envToken(token)];
  const build = (fromFile: readonly Known[]) => {
    const all = [...fixed, ...fromFile];
    return all.length === 0 ? undefined : createTokenSet(all);
  };
  const readFile = (path: string) => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new TagcacheError('TC_CONFIG_INVALID', `INVALIDATE_TOKENS_FILE ${path}: ${errorMessage(err)}`);
    }
    return parseTokensText(text, path);
  };
  let tokens = build(file === undefined ? [] : readFile(file));

  const reload = (): boolean => {
    if (file === undefined) return true;
    try {
      tokens = build(readFile(file));
    } catch (err) {
      log.error({ file, err: errorMessage(err) }, 'token file rejected; the previous tokens stay');
      return false;
    }
    log.info({ file, tokens: tokens?.size ?? 0 }, 'token file reloaded');
    return true;
  };
  const stop =
    file !== undefined && (opts.watch ?? true) ? watchFile(file, () => reload(), log) : () => undefined;
  return { current: () => tokens, reload, close: stop };
}
