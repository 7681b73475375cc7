export { cacheKey, keyFor, keyQuery, keyTarget, normaliseHost, type QueryRule } from './cache-key.js';
export { type CacheDeps, type CacheStage, cacheStage } from './cache-stage.js';
export { computePolicy, type Policy } from './policy.js';
