import { type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';

export interface Download {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Body bytes received (counted, not kept). */
  readonly bytes: number;
  /** True only when the body ended cleanly; a cut connection leaves it false. */
  readonly complete: boolean;
  readonly error: string | undefined;
}

/**
 * A GET over a fresh connection that counts the body instead of keeping it
 * and, unlike fetchRaw, resolves (complete: false) when the connection is cut
 * after the headers — the only sign of a failure a proxy can give mid-body.
 */
export function download(
  url: string,
  opts: { onResponse?: (res: IncomingMessage) => void } = {},
): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let bytes = 0;
      let settled = false;
      const settle = (complete: boolean, error?: Error) => {
        if (settled) return;
        settled = true;
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes,
          complete,
          error: error?.message,
        });
      };
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('end', () => settle(true));
      res.on('error', (err) => settle(false, err));
      res.on('close', () => settle(false, new Error('closed before the end of the body')));
      opts.onResponse?.(res);
    });
    req.on('error', reject);
    req.end();
  });
}
