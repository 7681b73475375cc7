/**
 * One normal form for a request target, shared by the cache key, the route
 * match, the target a cacheable request sends upstream and URL purges, so that
 * a purge names exactly what a request stored (RFC 3986 §6.2.2):
 *
 * - the fragment is dropped (it never reaches a server);
 * - percent-encoded unreserved characters are decoded (`%7E` → `~`, `%41` → `A`),
 *   other percent-encodings get upper-case hex (`%2f` → `%2F`);
 * - characters a URI may not hold (`{`, `"`, `|`, non-ASCII, …) are
 *   percent-encoded as UTF-8, as a browser would send them;
 * - dot segments are removed from the path (`/a/./b/../c` → `/a/c`), after
 *   decoding, so `%2E%2E` counts as `..`.
 *
 * A stray `%` (not followed by two hex digits) is left as it is. `+` and `%20`
 * stay distinct: form decoding is the backend's business.
 */
export interface SplitTarget {
  /** Starts with '/' (or is '*'). */
  readonly path: string;
  /** '' or starting with '?'. */
  readonly query: string;
}

/** 1 for the characters a component keeps as they are: unreserved, sub-delims, ':', '@', '/', '?'. */
const PLAIN = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?")
  PLAIN[ch.charCodeAt(0)] = 1;

/**
 * True when every character is plain: the common case, answered by a table
 * walk (a regular expression's failing search costs ten times more per hit).
 */
function isPlain(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || PLAIN[code] === 0) return false;
  }
  return true;
}

/** The last answer: the route match and the cache key ask for the same request's target in turn. */
let last: { target: string; split: SplitTarget } = { target: '/', split: { path: '/', query: '' } };

export function normaliseTarget(target: string): SplitTarget {
  if (target === last.target) return last.split;
  const split = normaliseUncached(target);
  last = { target, split };
  return split;
}

function normaliseUncached(target: string): SplitTarget {
  const hash = target.indexOf('#');
  const bare = hash === -1 ? target : target.slice(0, hash);
  const q = bare.indexOf('?');
  const rawPath = q === -1 ? bare : bare.slice(0, q);
  const rawQuery = q === -1 ? '' : bare.slice(q);
  return { path: normalisePath(rawPath), query: normaliseChars(rawQuery) };
}

export function normalisePath(path: string): string {
  if (!path.startsWith('/')) return path; // '*' (OPTIONS) and nothing else reaches here
  const chars = normaliseChars(path);
  return chars.includes('/.') && hasDotSegment(chars) ? removeDotSegments(chars) : chars;
}

/** Percent-encoding normalisation of one component (path or query); '?' is left alone. */
export function normaliseChars(text: string): string {
  if (isPlain(text)) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        const code = Number.parseInt(hex, 16);
        out += isUnreserved(code) ? String.fromCharCode(code) : `%${hex.toUpperCase()}`;
        i += 2;
      } else out += '%';
      continue;
    }
    if (isPlain(ch)) {
      out += ch;
      continue;
    }
    // A whole code point (a surrogate pair is one character), encoded as UTF-8 bytes.
    const cp = text.codePointAt(i) ?? 0;
    const whole = String.fromCodePoint(cp);
    for (const byte of Buffer.from(whole, 'utf8'))
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    i += whole.length - 1;
  }
  return out;
}

function hasDotSegment(path: string): boolean {
  return /\/\.\.?(?:\/|$)/.test(path);
}

function isUnreserved(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

/** RFC 3986 §5.2.4 for an absolute path: empty segments stay, '..' never climbs above the root. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i] as string;
    const last = i === segments.length - 1;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return `/${out.join('/')}`;
}
