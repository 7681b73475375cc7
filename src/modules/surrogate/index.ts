export { parseSurrogateKeys, splitSurrogateKey, TAG_HEADER_NAMES } from './surrogate-keys.js';
export { type SurrogateOptions, surrogateStage } from './surrogate-stage.js';
export { type DroppedTag, limitTags, type TagLimits } from './tag-limits.js';
export { tagProblem } from './tag-rules.js';
export { fillTagTemplates, templatePlaceholders } from './tag-templates.js';
