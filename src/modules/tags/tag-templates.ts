/**
 * Route tag templates: `product:{id}` is filled from the named group `id` of
 * the route's pattern. Every `{…}` is a placeholder, so a template cannot hold
 * a literal brace pair; the router checks each placeholder against the
 * pattern's groups when it loads the file, so filling never meets an unknown one.
 */
import { decodePathParam } from './tag-text.js';

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** The placeholder names of a template, in order of appearance. */
export function templatePlaceholders(template: string): string[] {
  return Array.from(template.matchAll(PLACEHOLDER), (m) => m[1] ?? '');
}

/**
 * The templates with each `{name}` replaced by params[name]. A placeholder
 * with no value (an optional group that did not take part in the match)
 * leaves that template out rather than produce a half-filled tag. Values are
 * percent-decoded (tag-text.ts), so a tag is the text a publisher names.
 */
export function fillTagTemplates(
  templates: readonly string[],
  params: Readonly<Record<string, string | undefined>>,
): string[] {
  const out: string[] = [];
  for (const template of templates) {
    if (!template.includes('{')) {
      out.push(template);
      continue;
    }
    let complete = true;
    const tag = template.replace(PLACEHOLDER, (_, name: string) => {
      const value = Object.hasOwn(params, name) ? params[name] : undefined;
      if (value === undefined || value === '') complete = false;
      return value === undefined ? '' : decodePathParam(value);
    });
    if (complete) out.push(tag);
  }
  return out;
}
