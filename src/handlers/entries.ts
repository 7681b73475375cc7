import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenSource } from '../modules/access/index.js';
import { parseHttpUrl } from '../modules/invalidation/index.js';
import { tagProblem } from '../modules/tags/index.js';
import { sendJson, sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';
import { authenticate, requireScope } from './admin-auth.js';
import { storeFailed } from './store-failure.js';

/** What GET /entries asks: one URL, or one tag with how many entries to list. */
export type EntriesQuery = { readonly url: string } | { readonly tag: string; readonly limit: number };

export interface EntriesHandlerOptions {
  readonly tokens: TokenSource;
  readonly entries: (query: EntriesQuery) => Promise<unknown>;
  readonly maxTagBytes: number;
  readonly log: Logger;
}

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

/** GET /entries?url=… or ?tag=…&limit=N (scope `read`): what is stored, and why not. */
export function createEntriesHandler(opts: EntriesHandlerOptions) {
  const { tokens, log } = opts;
  return async function entriesHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJsonError(res, 405, 'TC_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use GET`, {
        allow: 'GET, HEAD',
      });
    }
    const principal = authenticate(req, res, tokens, log);
    if (principal === undefined || !requireScope(req, res, principal, 'read', log)) return;
    const query = parseQuery(new URL(req.url ?? '/', 'http://admin').searchParams, opts.maxTagBytes);
    if (typeof query === 'string') return sendJsonError(res, 400, 'TC_BAD_REQUEST', query);
    let answer: unknown;
    try {
      answer = await opts.entries(query);
    } catch (err) {
      return storeFailed(res, log, 'a look-up', err);
    }
    sendJson(res, 200, answer);
  };
}

/** The query, or a message saying what is wrong with it. */
function parseQuery(params: URLSearchParams, maxTagBytes: number): EntriesQuery | string {
  const url = params.getAll('url');
  const tag = params.getAll('tag');
  if (url.length + tag.length !== 1) return 'give exactly one url=<absolute URL> or tag=<tag>';
  const [u] = url;
  if (u !== undefined) {
    try {
      parseHttpUrl(u);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    return { url: u };
  }
  const t = tag[0] ?? '';
  const problem = tagProblem(t, maxTagBytes);
  if (problem !== undefined) return `tag ${JSON.stringify(t.slice(0, 80))} ${problem}`;
  const raw = params.get('limit');
  const limit = raw === null ? DEFAULT_LIMIT : Number(raw);
  if (raw !== null && (!/^\d{1,3}$/.test(raw) || limit < 1 || limit > MAX_LIMIT)) {
    return `limit must be a whole number from 1 to ${MAX_LIMIT}; got ${JSON.stringify(raw.slice(0, 20))}`;
  }
  return { tag: t, limit };
}
