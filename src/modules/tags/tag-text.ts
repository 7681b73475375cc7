import { hasForbiddenTagChar } from './tag-rules.js';

/**
 * Tags are UTF-8 text. HTTP parsers (Node's server, undici) hand header values
 * over as latin1, one character per byte, so `ü` sent as C3 BC arrives as
 * "Ã¼" and a purge naming "ü" would find nothing. Header tags are read back
 * into bytes and decoded as UTF-8; bytes that are not UTF-8 become U+FFFD,
 * which no tag may hold (tagProblem), so they are refused, never stored wrong.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: false });

/** A header value as the UTF-8 text its bytes spell. */
export function decodeHeaderText(value: string): string {
  let highest = 0;
  for (let i = 0; i < value.length; i++) highest = Math.max(highest, value.charCodeAt(i));
  // ASCII is the same in both; a character above U+00FF did not come from a parser's latin1.
  if (highest < 0x80 || highest > 0xff) return value;
  return UTF8.decode(Buffer.from(value, 'latin1'));
}

/**
 * A route template's value from the path: percent-decoded as UTF-8, so the
 * tag from `/products/caf%C3%A9` is the `product:café` a publisher names. A
 * value that does not decode (a stray %, bytes that are not UTF-8), or whose
 * decoding holds a character no tag may (`%20`, `%2C`), is kept as it came:
 * it was a usable tag that way before decoding.
 */
export function decodePathParam(value: string): string {
  if (!value.includes('%')) return value;
  try {
    const decoded = decodeURIComponent(value);
    return hasForbiddenTagChar(decoded) ? value : decoded;
  } catch {
    return value;
  }
}
