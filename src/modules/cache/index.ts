export { cacheKey, keyFor, keyQuery, keyTarget, normaliseHost, type QueryRule } from './cache-key.js';
export { type CacheStage, cacheStage } from './cache-stage.js';
export { computePolicy } from './compute-policy.js';
export type { CacheDeps } from './core.js';
export type { Policy } from './policy.js';
