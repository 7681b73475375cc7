import { once } from 'node:events';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { freePort } from '../support/ports.js';

/** What one client request came to: an answer, a transport error, or the client's own timeout. */
export type Outcome =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly headers: Record<string, string | string[] | undefined>;
      readonly body: string;
      readonly ms: number;
    }
  | { readonly kind: 'error'; readonly code: string; readonly ms: number }
  | { readonly kind: 'timeout'; readonly ms: number };

export interface ClientOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Client-side deadline for the whole exchange; past it the request is counted as a hang. */
  readonly timeoutMs?: number;
  /** Source address, e.g. 127.0.0.2: Linux routes all of 127/8 to loopback, so tests can be many peers. */
  readonly localAddress?: string;
}

/** One request on a fresh connection. Never rejects: every way it can end is an Outcome. */
export function send(url: string, opts: ClientOptions = {}): Promise<Outcome> {
  const started = performance.now();
  const ms = () => performance.now() - started;
  const headers = { ...opts.headers };
  if (
    opts.body !== undefined &&
    headers['content-length'] === undefined &&
    headers['transfer-encoding'] === undefined
  )
    headers['content-length'] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve) => {
    let settled = false;
    const settle = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const req = request(
      url,
      { method: opts.method ?? 'GET', headers, agent: false, localAddress: opts.localAddress },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          settle({
            kind: 'answer',
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: ms(),
          }),
        );
        res.on('error', (err: NodeJS.ErrnoException) =>
          settle({ kind: 'error', code: err.code ?? err.message, ms: ms() }),
        );
      },
    );
    const timer = setTimeout(() => {
      settle({ kind: 'timeout', ms: ms() });
      req.destroy();
    }, opts.timeoutMs ?? 5_000);
    req.on('error', (err: NodeJS.ErrnoException) =>
      settle({ kind: 'error', code: err.code ?? err.message, ms: ms() }),
    );
    req.end(opts.body);
  });
}

/** The answer of an Outcome, or a test failure saying what happened instead. */
export function answered(o: Outcome): Extract<Outcome, { kind: 'answer' }> {
  if (o.kind !== 'answer') throw new Error(`expected an answer, got ${JSON.stringify(o)}`);
  return o;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A node:http backend that can die and come back on the same port, as a crashed and restarted one would. */
export interface Backend {
  readonly url: string;
  readonly port: number;
  /** Requests that reached it, per path (query included). */
  hits(path?: string): number;
  handle(handler: Handler): void;
  /** Closes the listener and cuts every connection: new connections are refused. */
  kill(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startBackend(handler: Handler, port?: number): Promise<Backend> {
  const bound = port ?? (await freePort());
  const counts = new Map<string, number>();
  let total = 0;
  let current = handler;
  let server: Server | undefined;
  const start = async () => {
    const s = createServer((req, res) => {
      total++;
      counts.set(req.url ?? '/', (counts.get(req.url ?? '/') ?? 0) + 1);
      current(req, res);
    });
    s.keepAliveTimeout = 60_000;
    s.listen(bound, '127.0.0.1');
    await once(s, 'listening');
    server = s;
  };
  const kill = async () => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  };
  await start();
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    hits: (path) => (path === undefined ? total : (counts.get(path) ?? 0)),
    handle: (h) => {
      current = h;
    },
    kill,
    start,
    close: kill,
  };
}

/** Answers 200 with the given cache-control and a body naming the path and a version. */
export function page(cacheControl: string, version: () => string = () => 'v1'): Handler {
  return (req, res) => {
    const body = `${version()} ${req.url}`;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'cache-control': cacheControl,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
}

/**
 * `workers` clients in a loop until `until()` says stop, each request bounded
 * by timeoutMs. Every outcome is kept with the label `next` gave it.
 */
/** One answer of steadyLoad: its label, when it was sent (performance.now()) and what came back. */
export interface LoadResult<L extends string> {
  readonly label: L;
  readonly at: number;
  readonly outcome: Outcome;
}

export async function steadyLoad<L extends string>(opts: {
  readonly workers: number;
  readonly timeoutMs: number;
  readonly next: () => { url: string; label: L };
  readonly until: () => boolean;
  /** Filled as answers come, so a test can wait on what the load has seen rather than on the clock. */
  readonly results?: LoadResult<L>[];
}): Promise<LoadResult<L>[]> {
  const results: LoadResult<L>[] = opts.results ?? [];
  const worker = async () => {
    while (!opts.until()) {
      const { url, label } = opts.next();
      const at = performance.now();
      results.push({ label, at, outcome: await send(url, { timeoutMs: opts.timeoutMs }) });
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, worker));
  return results;
}

/** Writes exact bytes on a fresh socket and collects what comes back until the server closes or timeoutMs. */
export function rawExchange(url: string, bytes: string | Buffer, timeoutMs = 2_000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** The status code of the first response in raw bytes, or 0 when there is none. */
export function rawStatus(response: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 0);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** A figure for the report: printed, never asserted (durations depend on the machine). */
export function report(label: string, figures: Record<string, number | string>): void {
  const parts = Object.entries(figures).map(
    ([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 100) / 100 : v}`,
  );
  process.stdout.write(`[resilience] ${label}: ${parts.join(' ')}\n`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The port a listening server got. */
export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
