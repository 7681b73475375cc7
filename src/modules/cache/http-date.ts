/**
 * HTTP-date (RFC 9110 §5.6.7): recipients accept IMF-fixdate, the obsolete
 * RFC 850 form and asctime. Anything else is invalid (NaN) — Date.parse would
 * accept far more, and an invalid Expires must mean "already expired".
 */
const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// Recipients in the wild send THU, AUG and gmt; accepting case variants costs nothing and loses no meaning.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`, 'i');

/** The last IMF-fixdate parsed: every response of one second carries the same Date. */
let lastParsed = '';
let lastParsedMs = Number.NaN;

export function parseHttpDate(value: string | undefined): number {
  if (value === undefined) return Number.NaN;
  if (value === lastParsed) return lastParsedMs;
  const v = value.trim();
  let m = IMF_FIXDATE.exec(v);
  if (m !== null) {
    const ms = build(m[3], m[2], m[1], m[4], m[5], m[6]);
    // Only this form: an RFC 850 date's century depends on the current year.
    lastParsed = value;
    lastParsedMs = ms;
    return ms;
  }
  m = RFC850.exec(v);
  if (m !== null) {
    // Two-digit years that look more than 50 years ahead are in the past century (§5.6.7).
    const yy = Number(m[3]);
    const thisYear = new Date().getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + yy;
    if (year > thisYear + 50) year -= 100;
    return build(String(year), m[2], m[1], m[4], m[5], m[6]);
  }
  m = ASCTIME.exec(v);
  if (m !== null) return build(m[6], m[1], m[2], m[3], m[4], m[5]);
  return Number.NaN;
}

function build(
  year: string | undefined,
  month: string | undefined,
  day: string | undefined,
  h: string | undefined,
  mi: string | undefined,
  s: string | undefined,
): number {
  const m = month ?? '';
  const mon = MONTHS[m.charAt(0).toUpperCase() + m.slice(1).toLowerCase()];
  const d = Number((day ?? '').trim());
  const hh = Number(h);
  const mm = Number(mi);
  const ss = Number(s);
  if (mon === undefined || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) return Number.NaN;
  const t = Date.UTC(Number(year), mon, d, hh, mm, Math.min(ss, 59));
  // Reject dates like 31 Feb that Date.UTC would roll over.
  return new Date(t).getUTCDate() === d ? t : Number.NaN;
}

/** The last date formatted, for the same reason. */
let lastFormatted = '';
let lastFormattedMs = Number.NaN;

/** IMF-fixdate, the form tagcache generates. */
export function formatHttpDate(ms: number): string {
  if (ms !== lastFormattedMs) {
    lastFormatted = new Date(ms).toUTCString();
    lastFormattedMs = ms;
  }
  return lastFormatted;
}
