import { tagProblem } from './tag-rules.js';

export interface TagLimits {
  /** Tags kept per response (MAX_TAGS_PER_RESPONSE). */
  readonly maxTags: number;
  /** Longest tag kept, in UTF-8 bytes (MAX_TAG_BYTES). */
  readonly maxTagBytes: number;
}

export interface DroppedTag {
  readonly tag: string;
  /** Why: too long or holding a character no purge could name, or past the count limit. */
  readonly reason: string;
}

/**
 * Keeps the tags a response may carry: unusable tags (too long, or holding
 * whitespace, commas or control characters) are dropped first, then
 * everything past maxTags, in order. Never throws; the caller warns.
 */
export function limitTags(
  tags: readonly string[],
  limits: TagLimits,
): { tags: string[]; dropped: DroppedTag[] } {
  const kept: string[] = [];
  const dropped: DroppedTag[] = [];
  for (const tag of tags) {
    const problem = tagProblem(tag, limits.maxTagBytes);
    if (problem !== undefined) dropped.push({ tag, reason: `the tag ${problem}` });
    else if (kept.length >= limits.maxTags) {
      dropped.push({ tag, reason: `more than MAX_TAGS_PER_RESPONSE=${limits.maxTags} tags` });
    } else kept.push(tag);
  }
  return { tags: kept, dropped };
}
