export { parseInvalidationJson, parseSurrogateKeyPurge, type RequestLimits } from './invalidation-request.js';
export {
  createInvalidator,
  type InvalidationReport,
  type InvalidationRequest,
  type InvalidatorDeps,
  parseHttpUrl,
  urlKeys,
} from './invalidator.js';
export { parseSurrogateKeys, splitSurrogateKey, TAG_HEADER_NAMES } from './surrogate-keys.js';
export { type SurrogateOptions, surrogateStage } from './surrogate-stage.js';
