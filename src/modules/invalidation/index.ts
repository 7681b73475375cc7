export { createHistory, type History, type InvalidationRecord } from './history.js';
export { createInvalidator, type InvalidationOrigin, type InvalidatorDeps } from './invalidator.js';
export { keysForUrl, parseHttpUrl, prefixKeys, sitesForHost, urlKeys } from './keys.js';
export { parsePurgeRequest } from './purge-method.js';
export { parseInvalidationJson, parseSurrogateKeyPurge, type RequestLimits } from './request.js';
export { scopeFor } from './scope.js';
export {
  type InvalidationKind,
  type InvalidationReport,
  type InvalidationRequest,
  itemsOf,
} from './types.js';
