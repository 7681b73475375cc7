import type { IncomingHttpHeaders } from 'node:http';
import type { Outcome, ProxyResponse, RequestContext } from '../pipeline/context.js';
import type { StoredEntry } from '../store/types.js';
import { answerFromEntry, type OnEncoded } from './answer-from-entry.js';
import { staleAt } from './decide.js';
import type { Found } from './lookup.js';
import { forwarded, served } from './outcome.js';
import type { Policy } from './policy.js';

/** How a request is answered, once the cache has decided and done what it must. */
export type Answer =
  /** From the store as it stands: a hit, a stale hit, a collapse follower. */
  | {
      readonly kind: 'stored';
      readonly found: Found;
      readonly cache: 'HIT' | 'STALE';
      readonly extra?: string;
    }
  /** From the entry a validation just confirmed or refreshed (`status` 304 when the client's own request did it). */
  | {
      readonly kind: 'revalidated';
      readonly found: Found;
      readonly fwd: 'stale' | 'request';
      readonly status: 304 | undefined;
    }
  /** From the stale entry, standing in for a backend that failed (RFC 5861 §4, RFC 9111 §4.2.4). */
  | {
      readonly kind: 'stale-on-error';
      readonly found: Found;
      readonly status: number | undefined;
      readonly reason: 'error' | 'outage';
    }
  /**
   * The backend's answer as the chain left it in ctx.response, or in its place `response`, or the
   * entry just stored from it (`found`: the client prefers a form the entry holds).
   */
  | {
      readonly kind: 'forwarded';
      readonly outcome: Outcome;
      readonly found?: Found;
      readonly response?: ProxyResponse;
    };

/**
 * The entry to answer from: the one found, or a copy holding the form this client prefers when
 * that form was still to be made (lazy-forms.ts).
 */
export type FormMaker = (entry: StoredEntry, policy: Policy, headers: IncomingHttpHeaders) => StoredEntry;

/** The one place an answer becomes ctx.response and ctx.outcome. */
export function respond(
  ctx: RequestContext,
  a: Answer,
  onEncoded: OnEncoded | undefined,
  withForm?: FormMaker,
): void {
  if (a.kind === 'forwarded') {
    if (a.found !== undefined) ctx.response = answer(ctx, a.found, Date.now(), onEncoded, withForm);
    else if (a.response !== undefined) ctx.response = a.response;
    ctx.outcome = a.outcome;
    return;
  }
  const now = Date.now();
  ctx.response = answer(ctx, a.found, now, onEncoded, withForm);
  ctx.tags = a.found.entry.tags;
  ctx.outcome = outcomeOf(a, now);
}

/** Not a closure per call: every hit comes through here. */
function answer(
  ctx: RequestContext,
  found: Found,
  now: number,
  onEncoded: OnEncoded | undefined,
  withForm: FormMaker | undefined,
): ProxyResponse {
  const { entry, policy } = found;
  return answerFromEntry(ctx, withForm?.(entry, policy, ctx.headers) ?? entry, policy, now, onEncoded);
}

function outcomeOf(a: Exclude<Answer, { kind: 'forwarded' }>, now: number): Outcome {
  const { entry, policy } = a.found;
  switch (a.kind) {
    case 'stored':
      return served(a.cache, Math.round((staleAt(policy, entry.softPurgedAt) - now) / 1000), a.extra);
    case 'revalidated':
      return forwarded('REVALIDATED', a.fwd, a.status, { ttl: Math.round((policy.fu - now) / 1000) });
    case 'stale-on-error':
      return forwarded('STALE', 'stale', a.status, {
        detail: a.reason === 'error' ? 'stale-if-error' : 'backend-outage',
      });
  }
}
