import type { IncomingHttpHeaders } from 'node:http';
import { TagcacheError } from '../../utils/errors.js';
import { parseHttpUrl } from './keys.js';
import { parseSurrogateKeyPurge, type RequestLimits } from './request.js';
import type { InvalidationRequest } from './types.js';

/** Tag headers a PURGE may carry (Varnish xkey, Fastly): name → soft. */
const TAG_HEADERS = [
  ['xkey-purge', false],
  ['xkey-softpurge', true],
  ['surrogate-key', undefined],
] as const;

/**
 * What a `PURGE` request asks, as the Varnish, Souin and Traffic Server
 * integrations send it: with `xkey-purge`, `xkey-softpurge` (tags separated by
 * spaces or commas) or `Surrogate-Key` (spaces; `Fastly-Soft-Purge: 1` makes it
 * soft), those tags (`Surrogate-Key-Host` limits them to one host); otherwise
 * the request's URL with every variant. Throws TC_BAD_INVALIDATION (400).
 */
export function parsePurgeRequest(
  target: string,
  headers: IncomingHttpHeaders,
  limits: RequestLimits,
): InvalidationRequest {
  const named = TAG_HEADERS.filter(([name]) => headers[name] !== undefined);
  if (named.length > 1) {
    throw new TagcacheError(
      'TC_BAD_INVALIDATION',
      `send one tag header, not ${named.map(([name]) => name).join(' and ')}`,
      400,
    );
  }
  const [found] = named;
  if (found !== undefined) {
    const [name, soft] = found;
    const value = headers[name] as string | string[];
    const lines = typeof value === 'string' ? [value] : value;
    // xkey separates with commas too; Surrogate-Key with spaces only.
    const tags = name === 'surrogate-key' ? lines : lines.map((line) => line.replace(/,/g, ' '));
    const softHeader = soft === undefined ? headers['fastly-soft-purge'] : soft ? '1' : undefined;
    return parseSurrogateKeyPurge(tags, softHeader, limits, headers['surrogate-key-host']);
  }
  const absolute = /^https?:\/\//i.test(target);
  const url = absolute ? target : `http://${headers.host ?? ''}${target}`;
  parseHttpUrl(url);
  const soft = headers['fastly-soft-purge'] === '1';
  return { target: { kind: 'urls', urls: [url] }, soft };
}
