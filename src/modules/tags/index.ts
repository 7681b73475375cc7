export { type DroppedTag, limitTags, type TagLimits } from './tag-limits.js';
export { hasForbiddenTagChar, tagProblem } from './tag-rules.js';
export { fillTagTemplates, templatePlaceholders } from './tag-templates.js';
export { decodeHeaderText, decodePathParam } from './tag-text.js';
