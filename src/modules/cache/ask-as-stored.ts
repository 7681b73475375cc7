import type { IncomingHttpHeaders } from 'node:http';
import type { Policy } from './policy.js';

/** Request fields that make a backend's answer one client's own. */
const CREDENTIALS = ['cookie', 'authorization', 'proxy-authorization'] as const;

export interface AskAsStored {
  /** The request fields the revalidation is sent with. */
  readonly headers: IncomingHttpHeaders;
  /** Whether it leaves out fields the client sent: its answer is then not this client's own. */
  readonly stripped: boolean;
  /**
   * false when this request cannot ask as the stored response was asked: the
   * entry was stored from an authorised request (RFC 9111 §3.5) and this one
   * carries no Authorization. Its answer is then its own, never the entry's.
   */
  readonly asStored: boolean;
}

/**
 * A revalidation asks the backend as the stored response is served: to
 * anyone. So one client's Cookie, Authorization or Proxy-Authorization never
 * goes with it — its answer would be that client's page, stored for everyone —
 * unless the stored response varies on the field (the variant is that
 * client's alone), or, for Authorization, the entry was itself stored from an
 * authorised request and so is shared among whoever may ask with one. When
 * fields are left out the answer is not the client's own: the revalidation
 * then runs beside the client's request (see validateAside in revalidate.ts).
 */
export function askAsStored(policy: Policy, headers: IncomingHttpHeaders): AskAsStored {
  let out: IncomingHttpHeaders | undefined;
  for (const name of CREDENTIALS) {
    if (headers[name] === undefined || policy.vary?.includes(name)) continue;
    if (name === 'authorization' && policy.au === true) continue;
    out ??= { ...headers };
    delete out[name];
  }
  const asStored = policy.au !== true || headers.authorization !== undefined;
  return { headers: out ?? headers, stripped: out !== undefined, asStored };
}

/**
 * The request a background refresh sends: asked as stored, and without the
 * triggering client's own cache directives — a client's `no-store` must not
 * make the cache's own refresh unstorable, and so delete the entry.
 */
export function refreshHeaders(asked: AskAsStored): IncomingHttpHeaders {
  const { 'cache-control': _cc, pragma: _pragma, ...rest } = asked.headers;
  return rest;
}
