import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { errorMessage } from '../../utils/errors.js';
import type { Logger } from '../../utils/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { parseRouteText, readRouteText } from './load-routes.js';
import type { RouteSource, RouteTable } from './types.js';

export interface RouteSourceOptions {
  readonly file: string;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'routeReloads'>;
  /** Reload when the file changes; default true. */
  readonly watch?: boolean;
  /** Quiet time after the last change event before reading the file. */
  readonly debounceMs?: number;
}

export interface ReloadableRouteSource extends RouteSource {
  /** Re-reads the file now (SIGHUP); false when it was rejected and the previous table stays. */
  reload(): boolean;
  /** Stops watching; current() keeps answering with the last good table. */
  close(): void;
}

/**
 * The live route table. Loads the file at once (throwing TC_ROUTES_INVALID,
 * which stops start-up), then swaps in a new table on change or reload().
 * A rejected file never replaces a good table: it is logged at error with
 * the reason and counted as a failed reload.
 */
export function createRouteSource(opts: RouteSourceOptions): ReloadableRouteSource {
  const { file, log, metrics, debounceMs = 100 } = opts;
  // The last text read, good or bad: a change event that leaves it as it was is no reload.
  let seen: string | undefined = readRouteText(file);
  let table = parseRouteText(seen, file);
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;

  function rejected(trigger: 'signal' | 'change', err: unknown): false {
    metrics.routeReloads.labels('failure').inc();
    log.error({ file, trigger, err: errorMessage(err) }, 'route table rejected; the previous table stays');
    return false;
  }

  function reload(trigger: 'signal' | 'change'): boolean {
    let text: string;
    try {
      text = readRouteText(file);
    } catch (err) {
      // The file coming back exactly as it was is then a change worth reporting.
      seen = undefined;
      return rejected(trigger, err);
    }
    // Editors and `touch` fire events without changing a byte; that is not a reload.
    if (trigger === 'change' && text === seen) return true;
    seen = text;
    let next: RouteTable;
    try {
      next = parseRouteText(text, file);
    } catch (err) {
      return rejected(trigger, err);
    }
    table = next;
    metrics.routeReloads.labels('success').inc();
    log.info({ file, trigger, routes: next.routes.map((r) => r.name) }, 'route table reloaded');
    return true;
  }

  if (opts.watch ?? true) {
    const path = resolve(file);
    const name = basename(path);
    const onEvent = (_event: string, changed: string | Buffer | null) => {
      // The directory is watched, not the file: an editor's save-by-rename replaces the
      // file's inode, which a file watch would lose. Kubernetes ConfigMaps swap `..data`.
      const changedName = changed === null ? null : changed.toString();
      if (changedName !== null && changedName !== name && changedName !== '..data') return;
      clearTimeout(timer);
      timer = setTimeout(() => reload('change'), debounceMs);
      timer.unref();
    };
    try {
      watcher = watch(dirname(path), { persistent: false }, onEvent);
      watcher.on('error', (err) => {
        log.warn({ file, err: errorMessage(err) }, 'watching the route table failed; reload it with SIGHUP');
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      log.warn({ file, err: errorMessage(err) }, 'cannot watch the route table; reload it with SIGHUP');
    }
  }

  return {
    current: () => table,
    reload: () => reload('signal'),
    close() {
      clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
}
