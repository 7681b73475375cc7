import type { ServerResponse } from 'node:http';
import type { ErrorCode } from './errors.js';

/** Admin answers are JSON, never cached by anything in between. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const payload = Buffer.from(`${JSON.stringify(body)}\n`);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(payload.length),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

/** The admin API's error shape: a code from the catalogue (errors.ts) and a sentence saying what is wrong. */
export function sendJsonError(
  res: ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error: code, message }, headers);
}
