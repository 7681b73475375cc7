import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../utils/errors.js';
import { sendJson, sendJsonError } from '../utils/json-response.js';

/** A named dependency check: resolves when healthy, rejects saying why not. */
export type Check = () => Promise<void>;

/** A check with facts to report whatever its outcome (circuit breaker states); they do not decide `ok`. */
export interface DetailedCheck {
  readonly run: Check;
  readonly detail?: () => Readonly<Record<string, unknown>>;
  /**
   * false: a failure is reported and the status is "degraded", still 200. For
   * dependencies whose loss the proxy rides out and that every instance shares
   * (the backend: stale entries keep being served; Redis: requests fail open to
   * the backend), where taking every instance out of rotation would turn a
   * partial outage into a total one.
   */
  readonly critical?: boolean;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
  readonly [detail: string]: unknown;
}

export interface ReadyReport {
  /** degraded: a non-critical dependency failed; still 200. */
  readonly status: 'ready' | 'degraded' | 'unready';
  readonly checks: Readonly<Record<string, CheckResult>>;
}

/** Runs every check at once; a check that hangs is cut off at timeoutMs. */
export async function runChecks(
  checks: Readonly<Record<string, Check | DetailedCheck>>,
  timeoutMs = 2_000,
): Promise<ReadyReport> {
  const names = Object.keys(checks);
  const results = await Promise.all(
    names.map(async (name): Promise<CheckResult> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const check = checks[name];
      const detail = typeof check === 'object' ? check.detail?.() : undefined;
      try {
        if (check === undefined) throw new Error('no such check');
        await Promise.race([
          typeof check === 'function' ? check() : check.run(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return { ...detail, ok: true, ms: elapsed(started) };
      } catch (err) {
        return { ...detail, ok: false, ms: elapsed(started), error: errorMessage(err) };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const report: Record<string, CheckResult> = {};
  names.forEach((name, i) => {
    report[name] = results[i] as CheckResult;
  });
  const critical = (name: string) => {
    const check = checks[name];
    return typeof check !== 'object' || check.critical !== false;
  };
  const status = results.every((r) => r.ok)
    ? 'ready'
    : results.every((r, i) => r.ok || !critical(names[i] as string))
      ? 'degraded'
      : 'unready';
  return { status, checks: report };
}

export interface HealthDeps {
  /** True while the process accepts requests; false once shutdown began. */
  readonly live: () => boolean;
  readonly ready: () => Promise<ReadyReport>;
}

/** GET /health/live and GET /health/ready. */
export function createHealthHandlers(deps: HealthDeps) {
  return {
    live(req: IncomingMessage, res: ServerResponse): void {
      if (!allowGet(req, res)) return;
      if (deps.live()) sendJson(res, 200, { status: 'live' });
      else sendJson(res, 503, { status: 'shutting-down' });
    },
    async ready(req: IncomingMessage, res: ServerResponse): Promise<void> {
      if (!allowGet(req, res)) return;
      if (!deps.live()) return sendJson(res, 503, { status: 'unready', checks: {}, reason: 'shutting down' });
      const report = await deps.ready();
      sendJson(res, report.status === 'unready' ? 503 : 200, report);
    },
  };
}

/** Read-only admin endpoints answer GET and HEAD; anything else is 405 with Allow. */
export function allowGet(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  sendJsonError(res, 405, 'TC_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use GET`, {
    allow: 'GET, HEAD',
  });
  return false;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
