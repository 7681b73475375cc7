import type { InvalidationMode } from '../store/types.js';

/** What a publisher asked to invalidate; plain data, so a cluster primary can pass it to workers. */
export type InvalidationRequest = {
  readonly target:
    | { readonly kind: 'tags'; readonly tags: readonly string[]; readonly host?: string }
    | { readonly kind: 'urls'; readonly urls: readonly string[] }
    | { readonly kind: 'prefixes'; readonly prefixes: readonly string[] }
    | { readonly kind: 'all' };
  readonly soft: boolean;
};

export type InvalidationKind = InvalidationRequest['target']['kind'];

export type InvalidationReport = {
  readonly mode: InvalidationMode;
  /** Tags named in the request (kind tags). */
  readonly tags?: number;
  /** The host a tag purge was limited to. */
  readonly host?: string;
  /** URLs named in the request (kind urls). */
  readonly urls?: number;
  /** Prefixes named in the request (kind prefixes). */
  readonly prefixes?: number;
  /** Entries deleted (hard) or marked stale (soft). */
  readonly entries: number;
  readonly durationMs: number;
};

/** The tags, URLs or prefixes a request names ([] for everything). */
export function itemsOf(req: InvalidationRequest): readonly string[] {
  const { target } = req;
  if (target.kind === 'tags') return target.tags;
  if (target.kind === 'urls') return target.urls;
  if (target.kind === 'prefixes') return target.prefixes;
  return [];
}
