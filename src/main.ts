import { parseFastPaths } from './utils/fast-paths.js';
import { leanStart } from './utils/lean-start.js';

/**
 * `npm start`'s entry (and the Docker image's CMD). The app's modules are
 * imported here, dynamically, so that V8 is set for loading them before they
 * load and set back once the proxy listens (src/utils/lean-start.ts); FAST_PATHS
 * without `lean-start` loads them with V8 as node started it.
 */
const load = () => import('./start.js');
// A FAST_PATHS value that is not valid starts plainly: the configuration then stops start-up naming it.
if (parseFastPaths(process.env.FAST_PATHS ?? 'on')?.['lean-start'] === true) {
  await leanStart(load, ({ main }) => main());
} else {
  await (await load()).main();
}
