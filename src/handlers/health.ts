import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../utils/errors.js';
import { sendJson, sendJsonError } from '../utils/json-response.js';

/** A named dependency check: resolves when healthy, rejects saying why not. */
export type Check = () => Promise<void>;

export interface CheckResult {
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
}

export interface ReadyReport {
  readonly status: 'ready' | 'unready';
  readonly checks: Readonly<Record<string, CheckResult>>;
}

/** Runs every check at once; a check that hangs is cut off at timeoutMs. */
export async function runChecks(
  checks: Readonly<Record<string, Check>>,
  timeoutMs = 2_000,
): Promise<ReadyReport> {
  const names = Object.keys(checks);
  const results = await Promise.all(
    names.map(async (name): Promise<CheckResult> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const check = checks[name];
        if (check === undefined) throw new Error('no such check');
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return { ok: true, ms: elapsed(started) };
      } catch (err) {
        return { ok: false, ms: elapsed(started), error: errorMessage(err) };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const report: Record<string, CheckResult> = {};
  names.forEach((name, i) => {
    report[name] = results[i] as CheckResult;
  });
  return { status: results.every((r) => r.ok) ? 'ready' : 'unready', checks: report };
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
      sendJson(res, report.status === 'ready' ? 200 : 503, report);
    },
  };
}

/** Read-only admin endpoints answer GET and HEAD; anything else is 405 with Allow. */
export function allowGet(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  sendJsonError(res, 405, 'method_not_allowed', `${req.method} is not allowed here; use GET`, {
    allow: 'GET, HEAD',
  });
  return false;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
