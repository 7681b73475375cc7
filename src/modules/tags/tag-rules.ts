/**
 * What a tag may be, wherever it comes from (response headers, route
 * templates, the purge API). Tags travel in Surrogate-Key (split on spaces)
 * and Cache-Tag (split on commas), so a tag holding whitespace, a comma or a
 * control character could be stored but never named in a purge; U+FFFD is
 * what bytes that were not UTF-8 decode to (tag-text.ts), so it is refused too.
 */

/** The first character no tag may hold, if any. */
function forbiddenChar(text: string): string | undefined {
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f || code === 0xfffd || ch === ',' || /\s/.test(ch)) return ch;
  }
  return undefined;
}

/** Why the tag is unusable, or undefined when it is fine. Sizes are UTF-8 bytes. */
export function tagProblem(tag: string, maxTagBytes: number): string | undefined {
  if (tag === '') return 'is empty';
  const bytes = Buffer.byteLength(tag, 'utf8');
  if (bytes > maxTagBytes) return `is ${bytes} bytes long; the limit is MAX_TAG_BYTES=${maxTagBytes}`;
  const bad = forbiddenChar(tag);
  if (bad !== undefined)
    return `contains ${describeChar(bad)}; a tag is one word without whitespace, commas or control characters`;
  return undefined;
}

/** True when the text holds a character no tag may contain. */
export function hasForbiddenTagChar(text: string): boolean {
  return forbiddenChar(text) !== undefined;
}

function describeChar(ch: string): string {
  if (ch === ',') return 'a comma';
  if (ch === ' ') return 'a space';
  if (ch === '\ufffd') return 'bytes that are not UTF-8 (U+FFFD)';
  const code = ch.codePointAt(0) ?? 0;
  return /\s/.test(ch) ? `whitespace (U+${hex(code)})` : `a control character (U+${hex(code)})`;
}

function hex(code: number): string {
  return code.toString(16).toUpperCase().padStart(4, '0');
}
