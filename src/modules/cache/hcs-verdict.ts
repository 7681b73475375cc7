import CachePolicy from 'http-cache-semantics';
import { boundedMemo } from '../../utils/bounded-memo.js';

/** What computePolicy asks of http-cache-semantics. */
export interface HcsVerdict {
  readonly storable: boolean;
  /** Seconds. */
  readonly maxAge: number;
}

interface HcsInput {
  readonly status: number;
  readonly authorization: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

/** 1,000 distinct inputs at once, emptied whole when full (a new Date each second fills it slowly). */
const remembered = boundedMemo(1000, (_key, input: HcsInput) => ask(input));

/**
 * http-cache-semantics' storable() and maxAge() for a GET, as a shared
 * cache, of a response whose headers are policyHeaders' normalised ones.
 * Both are a pure function of the status, whether the request carried
 * Authorization, and those five fields, and of the clock only when there is
 * no Date and an Expires or Last-Modified to measure against it: so a backend
 * answering alike (same directives, same second) is asked once, not once per
 * stored miss (a CachePolicy parses Cache-Control and copies the fields).
 */
export function hcsVerdict(
  status: number,
  authorization: string | undefined,
  headers: Readonly<Record<string, string>>,
): HcsVerdict {
  const date = headers.date;
  const expires = headers.expires;
  const lm = headers['last-modified'];
  if (date === undefined && (expires !== undefined || lm !== undefined))
    return ask({ status, authorization, headers });
  const cc = headers['cache-control'];
  const vary = headers.vary;
  const authorized = authorization ? 1 : 0;
  // A backend answers one stored miss after another alike: the last input, compared field by field
  // (mostly the very same strings: canonical Cache-Control, formatHttpDate's Date), is the likeliest
  // hit, without building and hashing the memo's key on every stored miss.
  const l = last;
  if (
    l !== undefined &&
    l.status === status &&
    l.authorized === authorized &&
    l.cc === cc &&
    l.vary === vary &&
    l.date === date &&
    l.expires === expires &&
    l.lm === lm
  )
    return l.verdict;
  // Length-prefixed where a value may hold any character; the dates are formatHttpDate's.
  const key = `${status} ${authorized} ${cc === undefined ? '-' : `${cc.length}:${cc}`} ${vary === undefined ? '-' : `${vary.length}:${vary}`} ${date ?? '-'} ${expires ?? '-'} ${lm ?? '-'}`;
  const verdict = remembered(key, { status, authorization, headers });
  last = { status, authorized, cc, vary, date, expires, lm, verdict };
  return verdict;
}

/** The memo's last answer and what it was asked (see hcsVerdict). */
let last:
  | {
      readonly status: number;
      readonly authorized: 0 | 1;
      readonly cc: string | undefined;
      readonly vary: string | undefined;
      readonly date: string | undefined;
      readonly expires: string | undefined;
      readonly lm: string | undefined;
      readonly verdict: HcsVerdict;
    }
  | undefined;

function ask({ status, authorization, headers }: HcsInput): HcsVerdict {
  const policy = new CachePolicy(
    { method: 'GET', url: '/', headers: authorization === undefined ? {} : { authorization } },
    { status, headers },
    { shared: true },
  );
  return { storable: policy.storable(), maxAge: policy.maxAge() };
}
