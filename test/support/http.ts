import { once } from 'node:events';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';

export interface Listening {
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A real node:http server on a free loopback port. */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Listening> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SimpleResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  text(): string;
}

/** One HTTP request over a fresh connection (no pooling surprises in tests). */
export function fetchRaw(
  url: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<SimpleResponse> {
  const headers = { ...opts.headers };
  // Node sends DELETE/OPTIONS bodies without framing unless told their length.
  if (
    opts.body !== undefined &&
    headers['content-length'] === undefined &&
    headers['transfer-encoding'] === undefined
  ) {
    headers['content-length'] = String(Buffer.byteLength(opts.body));
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers, agent: false }, (res) =>
      collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A GET whose target goes on the wire exactly as written (a URL would be normalised first). */
export function getTarget(
  base: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<SimpleResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: target, headers, agent: false }, (res) =>
      collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end();
  });
}

function collect(
  res: IncomingMessage,
  resolve: (r: SimpleResponse) => void,
  reject: (err: Error) => void,
): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => {
    const body = Buffer.concat(chunks);
    resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: () => body.toString('utf8') });
  });
  res.on('error', reject);
}

/** The body as identity bytes, undoing the br or gzip the answer says it carries (none: as it came). */
export function decoded(res: SimpleResponse): Buffer {
  const coding = res.headers['content-encoding'];
  if (coding === 'br') return brotliDecompressSync(res.body);
  if (coding === 'gzip') return gunzipSync(res.body);
  if (coding !== undefined) throw new Error(`unexpected content-encoding ${coding}`);
  return res.body;
}
