import { redactUrl } from '../utils/config.js';
import { CliError, EXIT_FAILED, EXIT_USAGE } from './io.js';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9145';

/** What POST /invalidate answers with 200 (see src/modules/surrogate/invalidator.ts). */
export interface InvalidationReport {
  readonly mode: 'hard' | 'soft';
  readonly tags?: number;
  readonly urls?: number;
  readonly prefixes?: number;
  readonly entries: number;
  readonly durationMs: number;
}

export interface AdminTarget {
  /** The admin listener's base URL as configured, for messages. */
  readonly baseUrl: string;
  readonly token: string;
}

/**
 * The admin URL and token from TAGCACHE_ADMIN_URL and TAGCACHE_TOKEN. The
 * token is read from the environment only: on a command line every user of
 * the machine could read it in the process list.
 */
export function readAdminTarget(env: Readonly<Record<string, string | undefined>>): AdminTarget {
  const token = env.TAGCACHE_TOKEN?.trim() ?? '';
  if (token === '') {
    throw new CliError(
      "TAGCACHE_TOKEN is not set: export the proxy's INVALIDATE_TOKEN as TAGCACHE_TOKEN",
      EXIT_USAGE,
    );
  }
  const baseUrl = env.TAGCACHE_ADMIN_URL?.trim() || DEFAULT_ADMIN_URL;
  let url: URL | undefined;
  try {
    url = new URL(baseUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new CliError(
      `TAGCACHE_ADMIN_URL=${JSON.stringify(baseUrl)}: expected an http:// or https:// URL such as ${DEFAULT_ADMIN_URL}`,
      EXIT_USAGE,
    );
  }
  return { baseUrl, token };
}

/**
 * POSTs an invalidation and returns the report. A refusal throws the server's
 * own status, code and message; a connection failure says which URL could not
 * be reached and why.
 */
export async function postInvalidation(target: AdminTarget, body: unknown): Promise<InvalidationReport> {
  // Relative to the base, so an admin API behind a path prefix (https://ops.example/tagcache/) works.
  const base = target.baseUrl.endsWith('/') ? target.baseUrl : `${target.baseUrl}/`;
  const url = new URL('invalidate', base);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      redirect: 'manual',
    });
    text = await res.text();
  } catch (err) {
    throw new CliError(
      `cannot reach the admin API at ${redactUrl(target.baseUrl)}: ${networkReason(err)}\n` +
        '(is tagcache running, and is its ADMIN_HOST:ADMIN_PORT reachable from here? TAGCACHE_ADMIN_URL says where to look)',
      EXIT_FAILED,
    );
  }
  const json = parseJson(text);
  if (res.ok && isReport(json)) return json;
  if (isApiError(json)) throw new CliError(`${res.status} ${json.error}: ${json.message}`, EXIT_FAILED);
  // Not the admin API's JSON: most often TAGCACHE_ADMIN_URL names the proxy port or another server.
  const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 200);
  throw new CliError(
    `${res.status} ${res.statusText} from ${redactUrl(url.href)}${snippet === '' ? '' : `: ${snippet}`}\n` +
      "(that is not tagcache's admin API: TAGCACHE_ADMIN_URL must name the admin listener, ADMIN_HOST:ADMIN_PORT)",
    EXIT_FAILED,
  );
}

/** fetch() throws "fetch failed"; the reason is in its cause (an AggregateError when several addresses were tried). */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause ?? err;
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    return cause.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join(', ');
  }
  if (cause instanceof Error) return cause.message || String((cause as { code?: unknown }).code ?? cause);
  return String(cause);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON: the caller reports the raw text instead.
    return undefined;
  }
}

function isReport(value: unknown): value is InvalidationReport {
  const v = value as Partial<InvalidationReport> | undefined;
  return typeof v?.entries === 'number' && (v.mode === 'hard' || v.mode === 'soft');
}

function isApiError(value: unknown): value is { error: string; message: string } {
  const v = value as { error?: unknown; message?: unknown } | undefined;
  return typeof v?.error === 'string' && typeof v.message === 'string';
}
