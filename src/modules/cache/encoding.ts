import type { IncomingHttpHeaders } from 'node:http';
import { boundedMemo } from '../../utils/bounded-memo.js';

/** The content codings tagcache answers with. */
export type Coding = 'br' | 'gzip' | 'identity';

/** What a client's Accept-Encoding comes down to. */
export interface EncodingPreference {
  /** The codings this client takes, best first; identity is absent when refused. */
  readonly order: readonly Coding[];
  /** The one coding tagcache answers with when it holds every form. */
  readonly best: Coding;
  /** The same preference as an Accept-Encoding value; parsing it gives this preference back. */
  readonly header: string;
}

/** Ties go to the smaller form: br, then gzip, then identity. */
const RANK: Readonly<Record<Coding, number>> = { br: 0, gzip: 1, identity: 2 };
/** identity not named, nor matched by `*`: acceptable, but after anything named (RFC 9110 §12.5.3). */
const IMPLICIT = 0.0001;
const QVALUE = /^\s*q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$/i;

/**
 * RFC 9110 §12.5.3. Case and whitespace do not matter, q-values are
 * honoured (q=0 refuses), `*` stands for every coding not named, x-gzip is
 * gzip, and codings tagcache does not produce (deflate, zstd, compress, …)
 * are ignored. An absent field, like an empty one, gets identity: a client
 * that says nothing gets the plain body. A malformed q-value voids its item.
 */
function parse(value: string | undefined): EncodingPreference {
  if (value === undefined) return IDENTITY;
  const q: Partial<Record<Coding | '*', number>> = {};
  for (const item of value.split(',')) {
    const [name = '', ...params] = item.split(';');
    let coding = name.trim().toLowerCase();
    if (coding === 'x-gzip') coding = 'gzip';
    if (coding !== 'br' && coding !== 'gzip' && coding !== 'identity' && coding !== '*') continue;
    let weight = 1;
    let valid = true;
    for (const param of params) {
      const m = QVALUE.exec(param);
      if (m === null) {
        // Other parameters are allowed on a coding, but a broken q is a broken item.
        if (/^\s*q\s*=/i.test(param)) valid = false;
        continue;
      }
      weight = Number(m[1]);
    }
    if (valid && q[coding] === undefined) q[coding] = weight;
  }
  const star = q['*'];
  const weights: Record<Coding, number> = {
    br: q.br ?? star ?? 0,
    gzip: q.gzip ?? star ?? 0,
    identity: q.identity ?? (star === 0 ? 0 : (star ?? IMPLICIT)),
  };
  const order = (['br', 'gzip', 'identity'] as const)
    .filter((c) => weights[c] > 0)
    .sort((a, b) => weights[b] - weights[a] || RANK[a] - RANK[b]);
  return preference(order);
}

function preference(order: readonly Coding[]): EncodingPreference {
  return { order, best: order[0] ?? 'identity', header: render(order) };
}

/**
 * The canonical Accept-Encoding of an order: q-values only where the order
 * differs from the tie-break, identity left implicit when it comes last.
 */
function render(order: readonly Coding[]): string {
  if (order.length === 0) return 'identity';
  const parts: string[] = [];
  let q = 10;
  order.forEach((coding, i) => {
    const prev = order[i - 1];
    if (prev !== undefined && RANK[coding] < RANK[prev]) q -= 1;
    if (coding === 'identity' && i === order.length - 1 && i > 0) return;
    parts.push(q === 10 ? coding : `${coding};q=0.${q}`);
  });
  if (!order.includes('identity')) parts.push('identity;q=0');
  return parts.join(', ');
}

const IDENTITY = preference(['identity']);

/** Browsers and bots send a few dozen distinct strings; an attacker's endless ones only reset the memo. */
const memo = boundedMemo(1000, parse);

export function encodingPreference(value: string | string[] | undefined): EncodingPreference {
  if (value === undefined) return IDENTITY;
  return memo(Array.isArray(value) ? value.join(',') : value);
}

/**
 * Rewrites a cacheable request's Accept-Encoding to its canonical form, as
 * Varnish does in vcl_recv: the variant key, the backend and a background
 * refresh then see one of a handful of values, never the client's spelling,
 * and never a coding tagcache could not decode (zstd, compress).
 */
export function normaliseAcceptEncoding(headers: IncomingHttpHeaders): EncodingPreference {
  const pref = encodingPreference(headers['accept-encoding']);
  headers['accept-encoding'] = pref.header;
  return pref;
}
