import { expect } from 'vitest';
import { loadConfig } from '../../src/utils/config.js';
import { TagcacheError } from '../../src/utils/errors.js';

/** The one-line start-up error loadConfig gives for env; fails the test when env is accepted. */
export function rejected(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(TagcacheError);
    return (err as TagcacheError).message;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
}
