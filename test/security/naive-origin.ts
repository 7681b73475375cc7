import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { type Listening, listen } from '../support/http.js';

/** A request as the backend understood it. */
export interface NaiveSeen {
  /** The method on the request line. */
  readonly method: string;
  /** The method the backend acted on, after honouring an override header. */
  readonly acted: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface NaiveOrigin extends Listening {
  readonly seen: NaiveSeen[];
  /** Targets as their headers arrived, before any body (seen only lists requests read to the end). */
  readonly arrived: string[];
  /** Requests whose target contains `fragment`. */
  reached(fragment: string): NaiveSeen[];
}

const OVERRIDES = ['x-http-method-override', 'x-method-override', 'x-http-method'];

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A backend as common frameworks behave, every answer shared-cacheable: it
 * reads a body on any method (GET included), honours the method-override
 * headers (Symfony, Rails, Express method-override), builds links from
 * X-Host / X-Forwarded-Host, and reflects all of it in the body (X-Echo in
 * its answer's header fields, twice). Paths under
 * /fail/ answer 503, as a maintenance page or a rate limit does.
 */
export async function startNaiveOrigin(): Promise<NaiveOrigin> {
  const seen: NaiveSeen[] = [];
  const arrived: string[] = [];
  const server = await listen((req: IncomingMessage, res) => {
    arrived.push(req.url ?? '/');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1');
      const override = OVERRIDES.map((name) => first(req.headers[name])).find((v) => v !== undefined);
      const acted = (override ?? req.method ?? 'GET').toUpperCase();
      const url = req.url ?? '/';
      seen.push({ method: req.method ?? 'GET', acted, url, headers: req.headers, body });
      if (url.startsWith('/fail/')) {
        res.writeHead(503, { 'content-length': '11', 'cache-control': 'no-store' }).end('maintenance');
        return;
      }
      const host = first(req.headers['x-host']) ?? first(req.headers['x-forwarded-host']) ?? req.headers.host;
      const text =
        acted === 'DELETE' ? `deleted ${url}` : `${acted} ${url} body=${body} link=http://${host}${url}`;
      // Echo backends and CORS handlers copy request fields into their answer's, here twice over.
      const echo = first(req.headers['x-echo']);
      if (echo !== undefined) res.setHeader('x-echo', echo).setHeader('x-echo-again', echo);
      res.writeHead(200, {
        'content-type': 'text/plain',
        'cache-control': 'public, max-age=300',
        'content-length': Buffer.byteLength(text),
      });
      res.end(req.method === 'HEAD' ? undefined : text);
    });
  });
  return {
    ...server,
    seen,
    arrived,
    reached: (fragment) => seen.filter((s) => s.url.includes(fragment)),
  };
}
