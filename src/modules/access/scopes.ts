/** What an admin token may do. `read` covers history and look-ups; each purge kind has its own. */
export const SCOPES = ['purge:tags', 'purge:urls', 'purge:prefixes', 'purge:all', 'read'] as const;

export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** Who made an admin request: a token's name (never the token) and what it may do. */
export interface Principal {
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
}
