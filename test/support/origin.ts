import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { type Listening, listen } from './http.js';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** Answers one request; `n` counts requests to this path so far, from 1. */
export type Script = (req: IncomingMessage, res: ServerResponse, n: number) => void;

export interface Origin extends Listening {
  readonly seen: SeenRequest[];
  /** Requests that reached the origin for a path (query included). */
  count(path: string): number;
  /** Scripts the answers for one path; unscripted paths answer 404 no-store. */
  on(path: string, script: Script): void;
  /** The most requests for a path (query included) in flight at once, for collapsing tests. */
  maxInFlightOf(path: string): number;
}

/**
 * A real node:http backend whose answers each test scripts per path, and
 * which remembers what reached it — the only way cache tests tell a hit from
 * a miss without trusting the proxy's own headers.
 */
export async function startOrigin(): Promise<Origin> {
  const scripts = new Map<string, Script>();
  const counts = new Map<string, number>();
  const seen: SeenRequest[] = [];
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const server = await listen((req, res) => {
    const url = req.url ?? '/';
    seen.push({ method: req.method ?? 'GET', url, headers: req.headers });
    const n = (counts.get(url) ?? 0) + 1;
    counts.set(url, n);
    const now = (inFlight.get(url) ?? 0) + 1;
    inFlight.set(url, now);
    maxInFlight.set(url, Math.max(maxInFlight.get(url) ?? 0, now));
    res.once('close', () => {
      inFlight.set(url, (inFlight.get(url) ?? 1) - 1);
    });
    const path = url.split('?')[0] ?? url;
    const script = scripts.get(url) ?? scripts.get(path);
    if (script === undefined) {
      res.writeHead(404, { 'cache-control': 'no-store' }).end('no script');
      return;
    }
    script(req, res, n);
  });
  return {
    ...server,
    seen,
    count: (path) => counts.get(path) ?? 0,
    on: (path, script) => scripts.set(path, script),
    maxInFlightOf: (path) => maxInFlight.get(path) ?? 0,
  };
}

/** A script answering the same status, headers and body every time (the body gets the request number). */
export function respond(status: number, headers: Record<string, string | string[]>, body = 'body'): Script {
  return (_req, res, n) => {
    // 204 and 304 carry no content (RFC 9110 §6.4.1).
    if (status === 204 || status === 304) return void res.writeHead(status, headers).end();
    const payload = `${body} #${n}`;
    res.writeHead(status, { 'content-length': Buffer.byteLength(payload), ...headers });
    res.end(payload);
  };
}
