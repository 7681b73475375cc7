import type { Config } from '../../utils/config.js';
import type { HeaderMap } from '../../utils/headers.js';
import type { RequestContext, ResponseStage } from '../pipeline/context.js';
import { fillTagTemplates, limitTags } from '../tags/index.js';
import { parseSurrogateKeys, TAG_HEADER_NAMES } from './surrogate-keys.js';

export type SurrogateOptions = Pick<Config, 'debugHeaders' | 'maxTagsPerResponse' | 'maxTagBytes'>;

const NO_TAGS: readonly string[] = Object.freeze([]);

/** Dropped tags named in one warning; the rest are counted. */
const SAMPLE = 5;

/**
 * On the way back from the backend: collects the response's tags into
 * ctx.tags — the route's templates first (the operator's tags survive a
 * backend that sends too many), then Surrogate-Key, Cache-Tag and xkey — and
 * removes the tag headers and Surrogate-Control from what the client gets
 * unless DEBUG_HEADERS is on. upstreamHeaders stay as received: the cache
 * reads Surrogate-Control there. Bad or excess tags are dropped with a
 * warning, never an error.
 */
export function surrogateStage(opts: SurrogateOptions): ResponseStage {
  const limits = { maxTags: opts.maxTagsPerResponse, maxTagBytes: opts.maxTagBytes };
  return { name: 'surrogate', after: collect };

  function collect(ctx: RequestContext): void {
    const response = ctx.response;
    if (response === undefined) return;
    const match = ctx.route;
    // Most answers of most routes: no templates, no tag header. Nothing to collect or remove.
    // The client's fields are the backend's less some (the upstream stage's copy): the backend's tell.
    const received = response.upstreamHeaders ?? response.headers;
    if ((match === undefined || match.route.tags.length === 0) && !hasTagHeader(received)) {
      ctx.tags = NO_TAGS;
      return;
    }
    const fromRoute = match === undefined ? [] : fillTagTemplates(match.route.tags, match.params);
    const fromHeaders =
      response.upstreamHeaders === undefined ? [] : parseSurrogateKeys(response.upstreamHeaders);
    const all = fromHeaders.length === 0 ? fromRoute : [...new Set([...fromRoute, ...fromHeaders])];
    const { tags, dropped } = limitTags(all, limits);
    ctx.tags = tags;
    if (dropped.length > 0) {
      ctx.log.warn(
        {
          id: ctx.id,
          path: ctx.path,
          route: match?.route.name,
          kept: tags.length,
          dropped: dropped.length,
          sample: dropped.slice(0, SAMPLE).map((d) => ({ tag: d.tag.slice(0, 100), reason: d.reason })),
        },
        'surrogate keys dropped',
      );
    }
    if (!opts.debugHeaders && hasTagHeader(response.headers)) {
      // The client's headers are a per-request copy, but never the backend's own object: the cache reads that.
      const headers =
        response.headers === response.upstreamHeaders ? { ...response.headers } : response.headers;
      for (const name of TAG_HEADER_NAMES) delete headers[name];
      response.headers = headers;
    }
  }
}

function hasTagHeader(headers: HeaderMap): boolean {
  for (const name of TAG_HEADER_NAMES) if (headers[name] !== undefined) return true;
  return false;
}
