import { leanStart } from './utils/lean-start.js';

/**
 * `npm start`'s entry (and the Docker image's CMD). The app's modules are
 * imported here, dynamically, so that V8 is set for loading them before they
 * load and set back once the proxy listens (src/utils/lean-start.ts).
 */
await leanStart(
  () => import('./start.js'),
  ({ main }) => main(),
);
