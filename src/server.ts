import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './utils/config.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

type ServerTimeouts = Pick<
  Config,
  'serverKeepAliveTimeoutMs' | 'serverHeadersTimeoutMs' | 'serverRequestTimeoutMs' | 'maxHeaderBytes'
>;

/**
 * A node:http server with timeouts set for an edge: idle keep-alive sockets
 * are dropped, slow header senders (slowloris) are cut off, header size is bounded.
 */
export function createHttpServer(handler: Handler, t: ServerTimeouts): Server {
  const server = createServer(
    {
      maxHeaderSize: t.maxHeaderBytes,
      keepAliveTimeout: t.serverKeepAliveTimeoutMs,
      headersTimeout: t.serverHeadersTimeoutMs,
      requestTimeout: t.serverRequestTimeoutMs,
      // Nagle would add up to 40 ms to small cached answers.
      noDelay: true,
      // Spelled out so NODE_OPTIONS=--insecure-http-parser cannot loosen the request-smuggling checks
      // llhttp makes (Content-Length with Transfer-Encoding, obs-fold, bad chunk framing).
      insecureHTTPParser: false,
      // HTTP/1.1 without Host is a 400 (RFC 9112 §3.2); the handler refuses repeated or malformed ones.
      requireHostHeader: true,
      // Node checks both deadlines only this often (30 s by default): a 20 s headers timeout would be 30 to 50 s.
      connectionsCheckingInterval: checkingInterval(t.serverHeadersTimeoutMs, t.serverRequestTimeoutMs),
    },
    handler,
  );
  // Node drops fields past the 2,000th without a word; the handler counts the whole header block
  // against MAX_HEADER_BYTES, which bounds their number, and must see every one of them.
  server.maxHeadersCount = 0;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const reason =
      status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  return server;
}

/** A tenth of the shorter deadline, from 50 ms to 1 s: a deadline is kept to within a tenth, or a second. */
export function checkingInterval(headersTimeoutMs: number, requestTimeoutMs: number): number {
  const shorter = Math.min(headersTimeoutMs, requestTimeoutMs > 0 ? requestTimeoutMs : headersTimeoutMs);
  return Math.min(1_000, Math.max(50, Math.floor(shorter / 10)));
}

export async function listen(server: Server, port: number, host: string): Promise<number> {
  server.listen(port, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw err;
    }),
  ]);
  return (server.address() as AddressInfo).port;
}

/**
 * Stops accepting, lets in-flight requests finish for up to graceMs, then cuts
 * whatever is left. Idle keep-alive sockets are closed as they become idle.
 */
export async function drain(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
  });
  try {
    await Promise.race([closed, deadline]);
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }
}
