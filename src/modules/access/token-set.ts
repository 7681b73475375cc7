import { createHash, timingSafeEqual } from 'node:crypto';
import { TagcacheError } from '../../utils/errors.js';
import { isScope, type Principal, SCOPES, type Scope } from './scopes.js';

/** The admin tokens in force: INVALIDATE_TOKEN and/or the entries of INVALIDATE_TOKENS_FILE. */
export interface TokenSet {
  /** The principal whose token this is, or undefined. Time does not depend on which token matched. */
  authenticate(presented: string): Principal | undefined;
  readonly size: number;
}

export interface Known {
  readonly digest: Buffer;
  readonly principal: Principal;
}

/** The name INVALIDATE_TOKEN goes by in history and logs. */
export const ENV_TOKEN_NAME = 'INVALIDATE_TOKEN';
const MIN_TOKEN_CHARS = 16;
const NAME = /^[A-Za-z0-9_.:@-]{1,64}$/;

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Every presented token is hashed, then compared with every known digest in
 * constant time, without stopping at a match: equal-length digests leak
 * neither content nor length, and the loop leaks not which entry matched.
 */
export function createTokenSet(known: readonly Known[]): TokenSet {
  return {
    size: known.length,
    authenticate(presented) {
      const digest = sha256(presented);
      let found: Principal | undefined;
      for (const entry of known) {
        if (timingSafeEqual(digest, entry.digest) && found === undefined) found = entry.principal;
      }
      return found;
    },
  };
}

/** INVALIDATE_TOKEN alone: one token with every scope. */
export function envToken(token: string): Known {
  return { digest: sha256(token), principal: { name: ENV_TOKEN_NAME, scopes: new Set(SCOPES) } };
}

/**
 * Reads INVALIDATE_TOKENS_FILE's text: a JSON array of
 * `{ "name", "sha256" | "token", "scopes": [...] }`. Throws TC_CONFIG_INVALID
 * naming the file and the entry; never quotes a token.
 */
export function parseTokensText(text: string, file: string): Known[] {
  const bad = (where: string, message: string): never => {
    throw new TagcacheError('TC_CONFIG_INVALID', `INVALIDATE_TOKENS_FILE ${file}: ${where}${message}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return bad('', `is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!Array.isArray(json)) {
    return bad('', 'must be a JSON array of {"name", "sha256" or "token", "scopes"} objects');
  }
  const names = new Set<string>();
  const digests = new Set<string>();
  return json.map((item: unknown, i): Known => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return bad(`entry ${i}: `, 'must be an object');
    }
    const fields = item as Record<string, unknown>;
    const { name, sha256: hex, token, scopes } = fields;
    const unknown = Object.keys(fields).find((k) => !['name', 'sha256', 'token', 'scopes'].includes(k));
    if (unknown !== undefined) bad(`entry ${i}: `, `unknown field ${JSON.stringify(unknown.slice(0, 40))}`);
    if (typeof name !== 'string' || !NAME.test(name)) {
      bad(`entry ${i}: `, '"name" must be 1-64 characters of letters, digits and _ . : @ -');
    }
    const where = `token ${JSON.stringify(name)}: `;
    if (names.has(name as string)) bad(where, 'the name is used twice');
    names.add(name as string);
    if ((hex === undefined) === (token === undefined)) bad(where, 'give exactly one of "sha256" and "token"');
    let digest: Buffer;
    if (token !== undefined) {
      if (typeof token !== 'string' || token.length < MIN_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(token)) {
        bad(where, `"token" must be at least ${MIN_TOKEN_CHARS} printable ASCII characters without spaces`);
      }
      digest = sha256(token as string);
    } else {
      if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
        bad(
          where,
          '"sha256" must be 64 hex digits (sha256 of the token, e.g. `printf %s "$TOKEN" | sha256sum`)',
        );
      }
      digest = Buffer.from(hex as string, 'hex');
    }
    if (digests.has(digest.toString('hex'))) bad(where, 'the same token is listed twice');
    digests.add(digest.toString('hex'));
    if (!Array.isArray(scopes) || scopes.length === 0) {
      bad(where, `"scopes" must be a non-empty array of ${SCOPES.map((s) => `"${s}"`).join(', ')}`);
    }
    const list = scopes as unknown[];
    const wrong = list.find((s) => !isScope(s));
    if (wrong !== undefined) {
      bad(
        where,
        `unknown scope ${JSON.stringify(wrong)}; scopes are ${SCOPES.map((s) => `"${s}"`).join(', ')}`,
      );
    }
    return { digest, principal: { name: name as string, scopes: new Set(list as Scope[]) } };
  });
}
