/**
 * Cache-Control style directives (RFC 9111 §5.2): names are case-insensitive
 * tokens, values are tokens or quoted strings. A directive given twice keeps
 * its first value and is marked conflicting when the values differ, because
 * "the first occurrence should be used or the response considered stale"
 * (§4.2.1) — callers choose.
 */
export interface Directives {
  readonly map: ReadonlyMap<string, string | true>;
  /** Names that appeared more than once with different values. */
  readonly conflicting: ReadonlySet<string>;
}

export const NO_DIRECTIVES: Directives = Object.freeze({ map: new Map(), conflicting: new Set<string>() });

export function parseDirectives(value: string | undefined): Directives {
  if (value === undefined || value === '') return NO_DIRECTIVES;
  const map = new Map<string, string | true>();
  let conflicting: Set<string> | undefined;
  const n = value.length;
  let i = 0;
  while (i < n) {
    // Skip separators and whitespace between directives.
    while (i < n && (value[i] === ',' || value[i] === ' ' || value[i] === '\t')) i++;
    if (i >= n) break;
    const nameStart = i;
    while (i < n && value[i] !== '=' && value[i] !== ',') i++;
    const name = value.slice(nameStart, i).trim().toLowerCase();
    let dirValue: string | true = true;
    if (i < n && value[i] === '=') {
      i++;
      while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
      if (value[i] === '"') {
        i++;
        let out = '';
        while (i < n && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < n) i++;
          out += value[i];
          i++;
        }
        i++; // closing quote
        dirValue = out;
        while (i < n && value[i] !== ',') i++;
      } else {
        const valueStart = i;
        while (i < n && value[i] !== ',') i++;
        dirValue = value.slice(valueStart, i).trim();
      }
    }
    if (name === '' || /[\s"]/.test(name)) continue;
    const previous = map.get(name);
    if (previous === undefined) map.set(name, dirValue);
    else if (previous !== dirValue) {
      conflicting ??= new Set();
      conflicting.add(name);
    }
  }
  return { map, conflicting: conflicting ?? NO_DIRECTIVES.conflicting };
}

/**
 * delta-seconds (RFC 9111 §1.2.2): digits only. Anything else is invalid
 * (undefined). Values past 2^31 are capped there, as the RFC asks.
 */
export function deltaSeconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return Math.min(n, 2_147_483_648);
}

/**
 * A directive's delta-seconds: undefined when absent, its first value when
 * repeated, and 0 when invalid — invalid freshness information makes a
 * response stale (RFC 9111 §4.2.1), it does not make the directive vanish.
 */
export function secondsOf(d: Directives, name: string): number | undefined {
  const value = d.map.get(name);
  if (value === undefined) return undefined;
  return deltaSeconds(value) ?? 0;
}

/** True when present in any form; a qualified form (`no-cache="x"`) also counts. */
export function has(d: Directives, name: string): boolean {
  return d.map.has(name);
}
