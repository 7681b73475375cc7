export { parseSurrogateKeys, splitSurrogateKey, TAG_HEADER_NAMES } from './surrogate-keys.js';
export { type SurrogateOptions, surrogateStage } from './surrogate-stage.js';
