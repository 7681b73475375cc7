import type { Store } from '../store/types.js';
import { type InvalidationReport, type InvalidationRequest, itemsOf } from './types.js';

/** One line of GET /invalidations. */
export interface InvalidationRecord {
  /** ISO time the invalidation finished. */
  readonly at: string;
  readonly kind: InvalidationRequest['target']['kind'];
  readonly mode: 'hard' | 'soft';
  /** The first items named (each cut to ITEM_CHARS); `more` says how many were left out. */
  readonly items: readonly string[];
  readonly more: number;
  readonly host?: string;
  readonly entries: number;
  readonly durationMs: number;
  /** Which instance carried it out (its host name and process id, or INSTANCE_ID). */
  readonly instance: string;
  /** The token's name (never the token), `PURGE_ALLOW` for an address-allowed PURGE. */
  readonly by: string;
}

export interface History {
  record(req: InvalidationRequest, report: InvalidationReport, by: string): Promise<void>;
  recent(limit: number): Promise<InvalidationRecord[]>;
}

const LISTED_ITEMS = 20;
const ITEM_CHARS = 200;

/**
 * The fleet's invalidation history, kept by the store (a capped Redis stream
 * shared by every instance, or the memory store's own list). Records that do
 * not parse are left out.
 */
export function createHistory(
  store: Pick<Store, 'recordInvalidation' | 'recentInvalidations'>,
  instance: string,
): History {
  return {
    async record(req, report, by) {
      const items = itemsOf(req);
      const record: InvalidationRecord = {
        at: new Date().toISOString(),
        kind: req.target.kind,
        mode: report.mode,
        items: items
          .slice(0, LISTED_ITEMS)
          .map((item) => (item.length > ITEM_CHARS ? `${item.slice(0, ITEM_CHARS)}…` : item)),
        more: Math.max(0, items.length - LISTED_ITEMS),
        ...(report.host === undefined ? {} : { host: report.host }),
        entries: report.entries,
        durationMs: report.durationMs,
        instance,
        by,
      };
      await store.recordInvalidation(JSON.stringify(record));
    },
    async recent(limit) {
      const lines = await store.recentInvalidations(limit);
      return lines.flatMap((line) => {
        try {
          return [JSON.parse(line) as InvalidationRecord];
        } catch {
          return []; // not ours (another version's, or hand-written): left out
        }
      });
    },
  };
}
