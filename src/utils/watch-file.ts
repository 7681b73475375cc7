import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Calls onChange (debounced) when `file` changes. The directory is watched,
 * not the file: an editor's save-by-rename replaces the file's inode, which a
 * file watch would lose; Kubernetes ConfigMaps swap `..data`. Returns the stop
 * function; a directory that cannot be watched is logged, never fatal.
 */
export function watchFile(file: string, onChange: () => void, log: Logger, debounceMs = 100): () => void {
  const path = resolve(file);
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  const onEvent = (_event: string, changed: string | Buffer | null) => {
    const changedName = changed === null ? null : changed.toString();
    if (changedName !== null && changedName !== name && changedName !== '..data') return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
    timer.unref();
  };
  try {
    watcher = watch(dirname(path), { persistent: false }, onEvent);
    watcher.on('error', (err) => {
      log.warn({ file, err: errorMessage(err) }, 'watching a file failed; changes are no longer picked up');
      watcher?.close();
      watcher = undefined;
    });
  } catch (err) {
    log.warn({ file, err: errorMessage(err) }, 'cannot watch a file; changes are not picked up');
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
    watcher = undefined;
  };
}
