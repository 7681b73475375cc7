/**
 * Cache keys have the form `scheme://host/path?query` (see cache-key.ts);
 * the store splits them only here, for the per-site path index that prefix
 * purges walk and for host-scoped tag purges. Any other key (tests use bare
 * ids) belongs to no site.
 */
export interface KeySite {
  /** `scheme://host`, as the key spells it. */
  readonly site: string;
  /** The path and query, starting with `/`. */
  readonly rest: string;
}

export function splitKey(key: string): KeySite | undefined {
  const sep = key.indexOf('://');
  if (sep <= 0) return undefined;
  const slash = key.indexOf('/', sep + 3);
  if (slash === -1) return undefined;
  return { site: key.slice(0, slash), rest: key.slice(slash) };
}

/** Whether the key belongs to one of the sites (`scheme://host`, exact: no suffix of another host or port). */
export function keyInSites(key: string, sites: readonly string[]): boolean {
  return sites.some((site) => key.length > site.length && key[site.length] === '/' && key.startsWith(site));
}

/** The distinct sites of key prefixes (prefixes that are no URL key have none). */
export function prefixSites(prefixes: readonly string[]): string[] {
  const sites = new Set<string>();
  for (const prefix of prefixes) {
    const site = splitKey(prefix)?.site;
    if (site !== undefined) sites.add(site);
  }
  return [...sites];
}
