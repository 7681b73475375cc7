/**
 * A load-time guard against route patterns that backtrack catastrophically.
 *
 * The shape that makes a backtracking engine exponential is a repetition
 * inside a repetition — "star height" above one, as in `(a+)+` or `(\w+\s?)*`
 * — and backreferences, which make matching NP-hard. Both are refused here;
 * paths are also capped in length by the route table, which bounds the
 * polynomial cases (`.*.*x`) this check lets through.
 *
 * Our own walk rather than safe-regex2: that package counts `?` as a
 * repetition, so it refuses the ordinary optional segment
 * `^/products(?:/(?<id>\d+))?$`, and it reports every pattern its parser
 * cannot read (lookbehind, for one) as unsafe, with no way to tell which.
 * Here only quantifiers that can repeat (max above one) count, and the
 * pattern has already compiled, so every construct is one V8 accepts.
 */

/** Why the pattern is unsafe, naming the offending part; undefined when it is safe. */
export function findUnsafeRegexShape(source: string): string | undefined {
  // One frame per open group: the highest star height inside it so far, and where it opened.
  const root = { height: 0, start: 0 };
  const frames: { height: number; start: number }[] = [root];
  // The atom a following quantifier applies to: its star height and where it starts.
  let atom: { height: number; start: number } | undefined;
  let i = 0;
  while (i < source.length) {
    const frame = frames.at(-1) ?? root;
    const ch = source[i];
    if (ch === '\\') {
      const backreference = /^\\(?:[1-9]\d*|k<[^>]*>)/.exec(source.slice(i, i + 256));
      if (backreference !== null) {
        return `it uses the backreference "${backreference[0]}", which can make matching take exponential time`;
      }
      atom = { height: 0, start: i };
      i += 2;
    } else if (ch === '[') {
      atom = { height: 0, start: i };
      i = skipClass(source, i);
    } else if (ch === '(') {
      frames.push({ height: 0, start: i });
      atom = undefined;
      i += groupPrefixLength(source, i);
    } else if (ch === ')') {
      frames.pop();
      const parent = frames.at(-1) ?? root;
      parent.height = Math.max(parent.height, frame.height);
      atom = { height: frame.height, start: frame.start };
      i += 1;
    } else if (ch === '*' || ch === '+' || ch === '?' || (ch === '{' && quantifierEnd(source, i) !== -1)) {
      const end = ch === '{' ? quantifierEnd(source, i) : i + 1;
      const repeats = ch === '*' || ch === '+' || (ch === '{' && braceMax(source.slice(i, end)) > 1);
      if (atom !== undefined && repeats) {
        const height = atom.height + 1;
        if (height > 1) {
          const part = source.slice(atom.start, end);
          return `the repeated part "${part}" repeats something inside it (nested quantifiers backtrack exponentially on hostile paths); rewrite it with one level of repetition`;
        }
        frame.height = Math.max(frame.height, height);
        atom = { height, start: atom.start };
      }
      // A lazy marker (`+?`) belongs to the quantifier just read.
      i = source[end] === '?' ? end + 1 : end;
    } else {
      // Alternation, anchors and plain characters: an atom of height zero (or none, for `|`).
      atom = ch === '|' ? undefined : { height: 0, start: i };
      i += 1;
    }
  }
  return undefined;
}

/** `(`, `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!` or `(?<name>`: what opens the group at `start`. */
function groupPrefixLength(source: string, start: number): number {
  const m = /^\((?:\?(?:[:=!]|<[=!]|<[^>]*>))?/.exec(source.slice(start, start + 256));
  return m === null ? 1 : m[0].length;
}

/** Index just past the `]` closing the class that opens at `start`. */
function skipClass(source: string, start: number): number {
  let i = start + 1;
  while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
  return i + 1;
}

/** Index just past a `{n}`, `{n,}` or `{n,m}` quantifier at `start`, or -1 when the brace is a literal. */
function quantifierEnd(source: string, start: number): number {
  const m = /^\{\d+(,\d*)?\}/.exec(source.slice(start, start + 32));
  return m === null ? -1 : start + m[0].length;
}

/** The most repetitions a `{…}` quantifier allows; Infinity for `{n,}`. */
function braceMax(quantifier: string): number {
  const [min = '0', max] = quantifier.slice(1, -1).split(',');
  if (max === undefined) return Number(min);
  return max === '' ? Number.POSITIVE_INFINITY : Number(max);
}
