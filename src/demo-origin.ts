import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * The demo backend: a small origin whose answers show what tagcache does —
 * cacheable pages carrying Surrogate-Key headers, validators for 304s, a slow
 * endpoint, an erroring one, and a large streamed download.
 */
export function createDemoOrigin(): Server {
  const started = Date.now();
  let version = 1;
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const p = url.pathname;
    if (p === '/') return json(res, 200, { endpoints: ENDPOINTS }, 'public, max-age=60');
    const product = /^\/products\/(\d+)$/.exec(p);
    if (product !== null) {
      const id = product[1];
      const body = {
        id: Number(id),
        name: `Product ${id}`,
        price: (Number(id) * 7) % 100,
        version,
        servedAt: new Date().toISOString(),
      };
      const etag = `"p${id}-v${version}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag, 'cache-control': 'public, max-age=30, stale-while-revalidate=60' });
        return res.end();
      }
      return json(res, 200, body, 'public, max-age=30, stale-while-revalidate=60, stale-if-error=600', {
        etag,
        'surrogate-key': `product:${id} products`,
      });
    }
    if (p === '/products') {
      return json(
        res,
        200,
        { products: [1, 2, 3].map((id) => `/products/${id}`), version },
        'public, max-age=30',
        {
          'surrogate-key': 'products',
        },
      );
    }
    if (p === '/api/news') {
      return json(
        res,
        200,
        { headline: `News v${version}`, at: new Date().toISOString() },
        's-maxage=10, stale-while-revalidate=30',
        {
          'cache-tag': 'news,api',
        },
      );
    }
    if (p === '/api/time') {
      return json(
        res,
        200,
        { now: new Date().toISOString(), uptimeS: Math.round((Date.now() - started) / 1000) },
        'max-age=5, stale-if-error=300',
        {
          xkey: 'time',
        },
      );
    }
    if (p === '/search') {
      return json(res, 200, { q: url.searchParams.get('q'), results: [] }, 'private, no-store');
    }
    if (p === '/slow') {
      const ms = Math.min(60_000, Number(url.searchParams.get('ms') ?? 2000) || 0);
      setTimeout(
        () => json(res, 200, { sleptMs: ms }, 'public, max-age=60', { 'surrogate-key': 'slow' }),
        ms,
      );
      return;
    }
    if (p === '/error') {
      const status = Number(url.searchParams.get('status') ?? 500);
      return json(
        res,
        status >= 400 && status < 600 ? status : 500,
        { error: 'the demo backend failed on purpose' },
        'no-store',
      );
    }
    if (p === '/flaky') {
      if (Math.random() < 0.5) return json(res, 503, { error: 'flaky' }, 'no-store');
      return json(res, 200, { ok: true, at: new Date().toISOString() }, 'max-age=5, stale-if-error=3600', {
        'surrogate-key': 'flaky',
      });
    }
    if (p === '/bump' && req.method === 'POST') {
      version++;
      return json(res, 200, { version }, 'no-store');
    }
    const asset = /^\/static\/(.+\.(css|js|svg))$/.exec(p);
    if (asset !== null) {
      const type = asset[2] === 'css' ? 'text/css' : asset[2] === 'js' ? 'text/javascript' : 'image/svg+xml';
      const body = Buffer.from(`/* ${asset[1]} */\n`.repeat(64));
      res.writeHead(200, {
        'content-type': type,
        'content-length': body.length,
        'cache-control': 'public, max-age=31536000, immutable',
        etag: `"${createHash('sha1').update(body).digest('hex').slice(0, 16)}"`,
        'last-modified': new Date(started).toUTCString(),
        'surrogate-key': 'static',
      });
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    if (p === '/large') {
      return streamLarge(req, res, Math.min(4096, Number(url.searchParams.get('mb') ?? 100) || 1));
    }
    json(res, 404, { error: 'not found', endpoints: ENDPOINTS }, 'public, max-age=10');
  });
}

const ENDPOINTS = [
  '/products/{id}  cacheable 30 s, Surrogate-Key product:{id} products, ETag',
  '/products       Surrogate-Key products',
  '/api/news       s-maxage=10, Cache-Tag news,api',
  '/api/time       max-age=5, stale-if-error, xkey time',
  '/search?q=      private, never cached',
  '/slow?ms=2000   answers after a delay',
  '/error?status=503, /flaky   failing backends',
  '/static/app.css long-lived, immutable',
  '/large?mb=100   a streamed download (not stored past MAX_OBJECT_BYTES)',
  'POST /bump      changes every product version (then purge to see it)',
];

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  cacheControl: string,
  extra: Record<string, string> = {},
): void {
  const payload = Buffer.from(`${JSON.stringify(body, null, 2)}\n`);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': payload.length,
    'cache-control': cacheControl,
    ...extra,
  });
  res.end(payload);
}

function streamLarge(req: IncomingMessage, res: ServerResponse, mb: number): void {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const total = mb * 1024 * 1024;
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': total,
    'cache-control': 'public, max-age=60',
  });
  if (req.method === 'HEAD') return void res.end();
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('close', () => {
    sent = total;
  });
  pump();
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('/demo-origin.js') || entry.endsWith('/demo-origin.ts')) {
  const port = Number(process.env.DEMO_ORIGIN_PORT ?? 3000);
  const host = process.env.DEMO_ORIGIN_HOST ?? '127.0.0.1';
  createDemoOrigin().listen(port, host, () =>
    process.stdout.write(`demo backend on http://${host}:${port}\n`),
  );
}
