import {
  type AdminTarget,
  type InvalidationReport,
  postInvalidation,
  readAdminTarget,
} from './admin-client.js';
import { parseCommandArgs } from './args.js';
import { type CliIo, EXIT_OK, plural, usageError } from './io.js';
import { PURGE_USAGE } from './usage.js';

/** The body of POST /invalidate: exactly one target, optionally soft. */
export type PurgeBody =
  | { readonly tags: readonly string[]; readonly host?: string; readonly soft?: true }
  | { readonly urls: readonly string[]; readonly soft?: true }
  | { readonly prefixes: readonly string[]; readonly soft?: true }
  | { readonly all: true; readonly soft?: true };

const OPTIONS = {
  tag: { type: 'string', short: 't', multiple: true },
  url: { type: 'string', short: 'u', multiple: true },
  prefix: { type: 'string', short: 'p', multiple: true },
  host: { type: 'string' },
  all: { type: 'boolean' },
  soft: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `tagcache purge …`: one POST /invalidate, then one line with the counts. */
export async function purgeCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): Promise<number> {
  const body = parsePurgeArgs(args);
  if (body === 'help') {
    io.out(PURGE_USAGE);
    return EXIT_OK;
  }
  const target: AdminTarget = readAdminTarget(env);
  const report = await postInvalidation(target, body);
  io.out(describeReport(body, report));
  return EXIT_OK;
}

/** The request the arguments ask for; a usage error when they ask for none, or for two kinds at once. */
export function parsePurgeArgs(args: readonly string[]): PurgeBody | 'help' {
  const { values } = parseCommandArgs(args, OPTIONS, PURGE_USAGE);
  if (values.help === true) return 'help';
  const tags = values.tag ?? [];
  const urls = values.url ?? [];
  const prefixes = values.prefix ?? [];
  const all = values.all === true;
  const soft = values.soft === true ? ({ soft: true } as const) : {};
  if (all && (tags.length > 0 || urls.length > 0 || prefixes.length > 0)) {
    throw usageError('--all purges everything; do not combine it with --tag, --url or --prefix', PURGE_USAGE);
  }
  if ([tags, urls, prefixes].filter((list) => list.length > 0).length > 1) {
    // The admin API takes one kind of target per request; two requests could half succeed.
    throw usageError('purge by --tag, by --url or by --prefix in one call, not several', PURGE_USAGE);
  }
  if (values.host !== undefined && tags.length === 0) {
    throw usageError('--host limits a purge by --tag to one host', PURGE_USAGE);
  }
  if (all) return { all: true, ...soft };
  if (tags.length > 0) return { tags, ...(values.host === undefined ? {} : { host: values.host }), ...soft };
  if (urls.length > 0) return { urls, ...soft };
  if (prefixes.length > 0) return { prefixes, ...soft };
  throw usageError(
    'say what to purge: --tag <tag>, --url <url>, --prefix <url> (each repeatable) or --all',
    PURGE_USAGE,
  );
}

/** "purged 17 entries (hard) for 2 tags in 3.4 ms". */
export function describeReport(body: PurgeBody, report: InvalidationReport): string {
  const entries = plural(report.entries, 'entry', 'entries');
  const what =
    'tags' in body
      ? plural(report.tags ?? body.tags.length, 'tag', 'tags')
      : 'urls' in body
        ? plural(report.urls ?? body.urls.length, 'URL', 'URLs')
        : 'prefixes' in body
          ? plural(report.prefixes ?? body.prefixes.length, 'prefix', 'prefixes')
          : 'everything';
  return `purged ${entries} (${report.mode}) for ${what} in ${report.durationMs} ms`;
}
