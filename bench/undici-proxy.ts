import { createServer } from 'node:http';
import { Pool } from 'undici';

/**
 * The pass-through yardstick: the ten-line proxy anyone would write on undici
 * (Pool.request, the body piped to the client; no header work, no cache).
 */
const pool = new Pool(process.env.UPSTREAM_URL ?? 'http://127.0.0.1:8080', { connections: 64 });
createServer(async (req, res) => {
  try {
    const r = await pool.request({ path: req.url ?? '/', method: 'GET' });
    res.writeHead(r.statusCode, r.headers as Record<string, string>);
    r.body.pipe(res);
  } catch {
    res.destroy();
  }
}).listen(Number(process.env.PORT ?? 0), '127.0.0.1');
