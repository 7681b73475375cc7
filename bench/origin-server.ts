import { createServer } from 'node:http';

/**
 * The benchmark's backend and its baseline at once: a bare node:http server
 * returning the same 1 KiB body the proxy serves from cache.
 */
const BODY = Buffer.alloc(1024, 'a');
const port = Number(process.env.PORT ?? 0);
const server = createServer((req, res) => {
  // Also the OTLP collector of the traced cases: it takes each export and answers as a collector does.
  if (req.url === '/v1/traces') {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
    return;
  }
  const cacheable = !(req.url ?? '').startsWith('/nostore');
  res.writeHead(200, {
    'content-type': 'text/plain',
    'content-length': BODY.length,
    'cache-control': cacheable ? 'public, max-age=3600' : 'no-store',
  });
  res.end(BODY);
});
server.keepAliveTimeout = 30_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : port}\n`);
});
